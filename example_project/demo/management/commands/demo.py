"""Run the demo: database, admin user, capture SMTP server, a sample send, the admin."""

import socket
from pathlib import Path

import django
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

import symfonia_mail
import symfonia_mail.conf
from demo.capture import PASSWORD, USERNAME, CaptureServer
from symfonia_mail.certificates import fingerprint, parse
from symfonia_mail.models import GlobalMailConfig

ADMIN_USER, ADMIN_PASSWORD = "admin", "admin"


def _parse(pem):
    try:
        return parse(pem)
    except ValueError:
        return []


def _free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = "Set up and run the symfonia_mail demo on SQLite and a local capture SMTP server."

    def add_arguments(self, parser):
        parser.add_argument("--smtp-port", type=int, default=2525)
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true",
                            help="Stop after the sample send (used by the tests).")

    def handle(self, *args, smtp_port, addrport, no_serve, **options):
        var = Path(settings.VAR_DIR)
        mail_dir, ca_file = var / "mail", var / "capture-ca.pem"
        if not _free(smtp_port):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                smtp_port = sock.getsockname()[1]
        server = CaptureServer(mail_dir, smtp_port, ca_file).start()
        try:
            self._run(server, mail_dir, addrport, no_serve)
        finally:
            server.stop()

    def _run(self, server, mail_dir, addrport, no_serve):
        say = self.stdout.write
        call_command("migrate", verbosity=0)
        # A fresh database gets the demo's configuration and its sample mail, once; a
        # database the user has worked with keeps what they changed.
        fresh = not GlobalMailConfig.objects.filter(pk=GlobalMailConfig.SINGLETON_PK).exists()
        admin = self._admin_user()
        if fresh:
            self._configure(server, admin)
        else:
            self._follow_capture_server(server)
        say(self.style.SUCCESS(f"Capture SMTP server: 127.0.0.1:{server.port} (STARTTLS, AUTH "
                               f"{USERNAME}/{PASSWORD}); messages are saved in {mail_dir}"))
        say(f"Its CA certificate (trust it to send from elsewhere): {server.ca_file}")
        say(f"Django {django.get_version()}, database: {settings.DATABASES['default']['NAME']}")
        if symfonia_mail.conf.get("BACKGROUND"):
            say("Background sending: on (the outbox, run by the Tasks framework's immediate "
                "backend: each message is sent as soon as it is enqueued; no worker).")
        commands = get_commands()
        sales = "seed_demo" in commands and "send_payment_reminders" in commands
        if sales:
            call_command("seed_demo")  # creates only what is missing
        if fresh:
            with symfonia_mail.mail_context(user=admin, numer="FV/12/2026",
                                            kontrahent="ACME sp. z o.o."):
                send_mail("Faktura {numer} dla {kontrahent}",
                          "Dzień dobry,\n\nprzesyłamy fakturę {numer} (kontrahent: "
                          "{kontrahent}).\n\nPozdrawiamy,\n{wysyłający}\n{firma}",
                          None, ["klient@kontrahent.example"])
            say(f"Sample message sent through send_mail; see {mail_dir}")
            if sales:
                call_command("send_payment_reminders", "--as-user", admin.get_username())
        else:
            say("Existing demo database: your configuration, templates and data are kept; "
                "the sample mail and reminders were sent when it was created "
                f"(delete {settings.DATABASES['default']['NAME']} to start afresh).")
        say(self.style.SUCCESS(
            f"Admin: http://{addrport}/admin/  user: {ADMIN_USER}  password: {ADMIN_PASSWORD}"
        ))
        if not no_serve:
            call_command("runserver", addrport, use_reloader=False)

    def _admin_user(self):
        user_model = get_user_model()
        admin = user_model.objects.filter(username=ADMIN_USER).first()
        if admin is None:
            admin = user_model.objects.create_superuser(
                ADMIN_USER, "admin@firma.example", ADMIN_PASSWORD,
                first_name="Jan", last_name="Kowalski",
            )
        return admin

    def _configure(self, server, admin):
        """Point a fresh global configuration at the capture server (it trusts the demo CA).

        The CA is stored in the configuration, not in this process's environment, so
        a second terminal (manage.py send_payment_reminders, send_mail in the shell)
        trusts the capture server too.
        """
        config = GlobalMailConfig.get_solo()
        config.transport = "smtp"
        config.host, config.port, config.security = "127.0.0.1", server.port, "starttls"
        config.ca_certificates = server.ca_pem
        config.username, config.password, config.password_set_by = USERNAME, PASSWORD, admin
        config.sender_email, config.sender_name = "biuro@firma.example", "Biuro Firma Demo"
        config.company_name = config.company_name or "Firma Demo sp. z o.o."
        config.dsn_notify = config.dsn_notify or "OnFailure,Delay"
        config.full_clean()
        config.save()

    def _follow_capture_server(self, server):
        """Keep a configuration that still uses the capture server able to reach it.

        Only the server's own coordinates (its port, if it had to move, and its CA) are
        updated, and only while the configuration points at it: everything the user
        set stays as they left it.
        """
        config = GlobalMailConfig.get_solo()
        if config.host != "127.0.0.1" or config.username != USERNAME:
            return
        changed = []
        if config.port != server.port:
            config.port = server.port
            changed.append("port")
        if fingerprint(config.ca_certificates) != fingerprint(server.ca_pem) and (
                not config.ca_certificates.strip() or "symfonia_mail demo" in " ".join(
                    info.issuer for info in _parse(config.ca_certificates))):
            config.ca_certificates = server.ca_pem
            changed.append("ca_certificates")
        if changed:
            config.save(update_fields=[*changed, "updated_at"])
            self.stdout.write(f"The global configuration follows the capture server: "
                              f"{', '.join(changed)} updated.")
