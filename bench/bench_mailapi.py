"""Messages per second through the Graph and Gmail API mirrors vs SMTP, and the base64 step.

    .venv/bin/python bench/bench_mailapi.py [--messages 200] [--rounds 3] [--mime-mb 10]

Each transport sends the same small message (``send_mail``, one call per
message, as a web request does) through the loopback servers of the test
suite: tests/graph_server.py and tests/gmail_server.py over HTTPS (a trustme
CA, tokens from tests/oauth_server.py; the token is cached, so the round
trip is the API's) and an aiosmtpd server (tests/smtpd.py, STARTTLS + AUTH
PLAIN, as a real submission server wants). All servers run as threads of
this process: the numbers compare the client paths, not servers. Printed:
messages per second (median of rounds) and ms per message.

Then the cost of the MIME-to-base64 step for a message of ``--mime-mb`` MB:
standard base64 (Graph's ``sendMail`` body), base64url (Gmail's ``raw``) and
the Bcc header splice, median of 5 runs each. Not a timed test.
"""

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, median_ms, setup_django  # noqa: E402

sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mime-mb", type=float, default=10)
    args = parser.parse_args()

    import trustme

    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    with tempfile.TemporaryDirectory() as tmp:
        ca_path = Path(tmp) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        os.environ["SSL_CERT_FILE"] = str(ca_path)  # verify_setting() passes it to requests
        from tests.gmail_server import GmailMirror
        from tests.graph_server import GraphMirror
        from tests.oauth_server import TokenEndpoint
        from tests.smtpd import SMTPServer

        endpoint = TokenEndpoint(certificate)
        graph, gmail = GraphMirror(certificate, endpoint), GmailMirror(certificate, endpoint)
        smtp = SMTPServer(tls="starttls", certificate=certificate,
                          users={"mailer": "s3cret-Pa55"})
        servers = (endpoint, graph, gmail, smtp)
        try:
            setup_django(str(Path(tmp) / "mailapi.sqlite3"), symfonia_mail={
                **endpoint.settings(), **graph.settings(), **gmail.settings()})
            run(args, endpoint, {"smtp": smtp, "microsoft_graph": graph, "gmail_api": gmail})
        finally:
            for server in servers:
                server.stop()
    base64_cost(args.mime_mb)


def configure(transport, endpoint, smtp):
    from symfonia_mail.models import GlobalMailConfig

    config = GlobalMailConfig.get_solo()
    config.transport, config.timeout_ms = transport, 10_000
    config.sender_email = config.username = endpoint.mailbox
    config.oauth_client_id, config.oauth_client_secret = endpoint.client_id, endpoint.client_secret
    config.oauth_refresh_token, config.oauth_tenant = "", ""
    if transport == "smtp":
        config.host, config.port, config.security = smtp.host, smtp.port, "starttls"
        config.auth_method, config.username, config.password = "password", "mailer", "s3cret-Pa55"
    elif transport == "microsoft_graph":
        config.auth_method, config.oauth_tenant = "microsoft365", endpoint.tenant
    else:
        config.auth_method = "google"
        config.oauth_refresh_token = endpoint.issue_refresh_token(
            provider="google", scope="https://www.googleapis.com/auth/gmail.send")
    config.full_clean()
    config.save()


def run(args, endpoint, servers):
    from django.core.mail import send_mail

    from symfonia_mail.models import MailLog

    def one(i):
        assert send_mail(f"Faktura FV/{i}/2026", "Dzień dobry,\n" * 40, None,
                         [f"k{i}@example.com"]) == 1

    print(f"messages per round: {args.messages}, rounds: {args.rounds}; "
          "send_mail per message, servers in this process")
    for transport in servers:
        configure(transport, endpoint, servers["smtp"])
        for i in range(5):  # warm-up: token, pool, imports
            one(i)
        rates = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            for i in range(args.messages):
                one(i)
            rates.append(args.messages / (time.perf_counter() - started))
        rate = statistics.median(rates)
        print(f"{transport:16} {rate:8.1f} messages/s  {1000 / rate:7.2f} ms/message")
    assert not MailLog.objects.exclude(status="sent").exists()
    expected = 5 + args.messages * args.rounds
    assert len(servers["microsoft_graph"].delivered) == expected
    assert len(servers["gmail_api"].delivered) == expected


def base64_cost(megabytes):
    from django.core.mail import EmailMessage

    from symfonia_mail.content.message import envelope
    from symfonia_mail.mailapi.transport import with_bcc

    message = EmailMessage("Skan", "W załączniku.", "biuro@firma.example",
                           ["k@example.com"], bcc=["archiwum@firma.example"])
    message.attach("skan.bin", os.urandom(int(megabytes * 1024 * 1024)),
                   "application/octet-stream")
    _from, recipients, data, _id = envelope(message)
    print(f"MIME of {len(data) / 1048576:.1f} MB ({megabytes:g} MB attachment):")
    for what, step in (("base64 (Graph sendMail)", lambda: base64.b64encode(data)),
                       ("base64url (Gmail raw)", lambda: base64.urlsafe_b64encode(data)),
                       ("Bcc header splice", lambda: with_bcc(data, recipients))):
        print(f"  {what:26} {median_ms(step, 5):8.1f} ms")


if __name__ == "__main__":
    main()
