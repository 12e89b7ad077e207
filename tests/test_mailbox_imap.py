"""The IMAP client against a real Dovecot (tests/dovecot.py): TLS, sign-in, folders."""

import logging

import pytest

from symfonia_mail.config import resolver
from symfonia_mail.exceptions import MailboxError, ServerNotAllowed
from symfonia_mail.mailbox import folders
from symfonia_mail.mailbox.imap import ImapSession
from symfonia_mail.models import GlobalMailConfig
from symfonia_mail.oauth import tokens as oauth

from .conftest import oauth_config_values

pytestmark = [pytest.mark.dovecot, pytest.mark.django_db]


def imap_config(dovecot, address="", password="", *, security="starttls", **values):
    """Return a ResolvedConfig whose mailbox side is *address* at the private Dovecot."""
    row = GlobalMailConfig(
        transport="smtp", host="127.0.0.1", port=25, security="none", timeout_ms=5000,
        sender_email=address or "biuro@firma.example", username=address, password=password,
        imap_host=dovecot.host,
        imap_port=dovecot.ssl_port if security == "ssl" else dovecot.port,
        imap_security=security, **values)
    return resolver.from_model(row)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_password_login_over_starttls_and_implicit_tls_lists_the_folders(dovecot, security):
    address, password = dovecot.add_user()
    with ImapSession(imap_config(dovecot, address, password, security=security)) as session:
        names = {folder.name for folder in session.folders()}
        assert session.imap.sock.version().startswith("TLS")
        assert session.sent_folder() == "Sent"  # Dovecot marks it \Sent
    assert {"INBOX", "Sent", "Drafts"} <= names


def test_a_polish_password_logs_in_through_sasl_plain_in_utf8(dovecot):
    address, password = dovecot.add_user(password="zażółć-gęślą-jaźń")
    with ImapSession(imap_config(dovecot, address, password)) as session:
        assert session.select("INBOX")[1] == 0


def test_the_imap_login_defaults_to_the_smtp_login_and_may_differ(dovecot):
    address, password = dovecot.add_user()
    config = imap_config(dovecot, "smtp-user", "smtp-password",
                         imap_username=address, imap_password=password)
    with ImapSession(config) as session:
        assert session.select("INBOX")[0] > 0


def test_a_wrong_password_is_a_mailbox_error_without_the_password(dovecot, caplog):
    address, _password = dovecot.add_user()
    config = imap_config(dovecot, address, "Wrong-Secret-123")
    with pytest.raises(MailboxError) as raised, caplog.at_level(logging.DEBUG):
        ImapSession(config).open()
    assert raised.value.stage == "login"
    assert "Wrong-Secret-123" not in str(raised.value) + repr(raised.value) + caplog.text
    assert f"{dovecot.host}:{dovecot.port}" in str(raised.value)


def test_an_untrusted_certificate_is_refused_unless_the_configuration_trusts_its_ca(dovecot,
                                                                                     tls_ca):
    import trustme

    address, password = dovecot.add_user()
    other = trustme.CA().cert_pem.bytes().decode()
    with pytest.raises(MailboxError) as raised:
        ImapSession(imap_config(dovecot, address, password, security="ssl",
                                ca_certificates=other)).open()
    assert raised.value.stage == "connect"
    own = tls_ca.cert_pem.bytes().decode()
    with ImapSession(imap_config(dovecot, address, password, security="ssl",
                                 ca_certificates=own)) as session:
        assert session.folders()


def test_a_silent_server_times_out_within_the_configured_deadline(db):
    import socket
    import time

    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never greets
    row = GlobalMailConfig(transport="smtp", host="127.0.0.1", sender_email="a@dsn.test",
                           username="a@dsn.test", password="x", timeout_ms=300,
                           imap_host="127.0.0.1", imap_port=listener.getsockname()[1],
                           imap_security="none")
    began = time.monotonic()
    try:
        with pytest.raises(MailboxError) as raised:
            ImapSession(resolver.from_model(row)).open()
    finally:
        listener.close()
    assert "timed out" in str(raised.value)
    assert time.monotonic() - began < 3


def test_allowed_servers_apply_to_a_restricted_configurations_imap_server(dovecot, settings):
    import dataclasses

    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "ALLOWED_SERVERS": ["imap.firma.pl"]}
    config = dataclasses.replace(imap_config(dovecot, "a@dsn.test", "x"), restricted=True)
    with pytest.raises(ServerNotAllowed):
        ImapSession(config).open()


def test_xoauth2_login_to_dovecot_with_a_delegated_microsoft_token(dovecot, token_endpoint):
    dovecot.trust(token_endpoint)
    values = oauth_config_values(
        type("S", (), {"host": "127.0.0.1", "port": 25, "username": "", "password": ""}),
        token_endpoint)
    row = GlobalMailConfig(**values, imap_host=dovecot.host, imap_port=dovecot.port,
                           imap_security="starttls",
                           oauth_refresh_token=token_endpoint.issue_refresh_token())
    row.save()
    config = resolver.from_model(row)
    with ImapSession(config) as session:
        assert session.select("INBOX")[0] > 0
    # The IMAP token was asked for with the IMAP scope, not SMTP.Send.
    grant = oauth._cache[(*oauth.cache_key(config), "imap")]
    assert token_endpoint.token_scopes[grant.access_token].startswith(
        oauth.MICROSOFT_IMAP_SCOPE)
    assert dovecot.introspection.requests >= 1


def test_xoauth2_with_the_app_only_token_and_a_refused_token_is_replaced_once(
        dovecot, token_endpoint):
    dovecot.trust(token_endpoint)
    values = oauth_config_values(
        type("S", (), {"host": "127.0.0.1", "port": 25, "username": "", "password": ""}),
        token_endpoint)
    config = resolver.from_model(GlobalMailConfig(
        **values, imap_host=dovecot.host, imap_port=dovecot.ssl_port, imap_security="ssl"))
    with ImapSession(config) as session:
        assert session.folders()
    token_endpoint.expire_access_tokens()  # the cached token is now refused
    with ImapSession(config) as session:
        assert session.folders()
    assert len(token_endpoint.grants("client_credentials")) == 2


def test_modified_utf7_folder_names_round_trip():
    for name in ("Wysłane", "Elementy wysłane", "A&B", "Kosz/Śmieci", "日本語"):
        assert folders.decode(folders.encode(name)) == name
    assert folders.encode("Wysłane") == b"Wys&AUI-ane"
    assert folders.encode("A&B") == b"A&-B"


def test_the_sent_folder_by_special_use_then_by_the_usual_names():
    listed = folders.parse_list([
        b'(\\HasNoChildren) "/" INBOX', (b'(\\HasNoChildren) "/" {16}', b'Elementy wys&AUI-ane'),
        b'(\\HasNoChildren) "/" "Sent Items"'])
    assert folders.sent_folder(listed) == "Sent Items"
    assert folders.sent_folder(listed[:2]) == "Elementy wysłane"
    flagged = folders.parse_list([b'(\\Sent) "." "Poczta wys&AUI-ana"', *[
        b'(\\HasNoChildren) "." Sent']])
    assert folders.sent_folder(flagged) == "Poczta wysłana"
    assert folders.sent_folder(folders.parse_list([b'() "/" INBOX'])) is None


def test_uid_sets_are_written_as_ranges():
    from symfonia_mail.mailbox.imap import _uid_set

    assert _uid_set([5, 1, 2, 3, 7, 8, 10]) == "1:3,5,7:8,10"
    assert _uid_set(range(1, 10001)) == "1:10000"
    assert _uid_set([4]) == "4"


def test_connect_asks_microsoft_for_imap_consent_only_with_an_imap_server():
    with_imap = resolver.from_model(GlobalMailConfig(imap_host="outlook.office365.com"))
    without = resolver.from_model(GlobalMailConfig())
    assert oauth.MICROSOFT_IMAP_SCOPE in oauth.delegated_scopes(with_imap)
    assert oauth.delegated_scopes(without) == [oauth.MICROSOFT_DELEGATED_SCOPE]


def test_the_login_command_is_used_when_no_sasl_mechanism_fits(dovecot):
    from symfonia_mail.mailbox.imap import credential_for

    address, password = dovecot.add_user()
    config = imap_config(dovecot, address, password)
    credential = credential_for(config)
    credential.preferred = ()  # as against a server that offers no PLAIN/LOGIN mechanism
    with ImapSession(config, credential=credential) as session:
        assert session.select("INBOX")[0] > 0
    # LOGIN takes ASCII only (imaplib): a Polish password is refused with a clear reason.
    polish = credential_for(imap_config(dovecot, address, "zażółć"))
    polish.preferred = ()
    with pytest.raises(MailboxError, match="only ASCII") as raised:
        ImapSession(config, credential=polish).open()
    assert "zażółć" not in str(raised.value)
