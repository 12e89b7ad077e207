"""Run the demo: database, admin user, capture SMTP server, a sample send, the admin."""

import os
import socket
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

import symfonia_mail
from demo.capture import PASSWORD, USERNAME, CaptureServer
from symfonia_mail.models import GlobalMailConfig

ADMIN_USER, ADMIN_PASSWORD = "admin", "admin"


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
        # The capture server's certificate comes from a demo CA: trust it in this process.
        os.environ["SSL_CERT_FILE"] = str(ca_file)
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
        admin = self._admin_user()
        self._configure(server.port, admin)
        say(self.style.SUCCESS(f"Capture SMTP server: 127.0.0.1:{server.port} (STARTTLS, AUTH "
                               f"{USERNAME}/{PASSWORD}); messages are saved in {mail_dir}"))
        with symfonia_mail.mail_context(user=admin, numer="FV/12/2026",
                                        kontrahent="ACME sp. z o.o."):
            send_mail("Faktura {numer} dla {kontrahent}",
                      "Dzień dobry,\n\nprzesyłamy fakturę {numer} (kontrahent: {kontrahent}).\n\n"
                      "Pozdrawiamy,\n{wysyłający}\n{firma}",
                      None, ["klient@kontrahent.example"])
        say(f"Sample message sent through send_mail; see {mail_dir}")
        commands = get_commands()
        if "seed_demo" in commands and "send_payment_reminders" in commands:
            call_command("seed_demo")
            call_command("send_payment_reminders", "--as-user", admin.get_username())
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

    def _configure(self, port, admin):
        config = GlobalMailConfig.get_solo()
        config.transport = "smtp"
        config.host, config.port, config.security = "127.0.0.1", port, "starttls"
        config.username, config.password, config.password_set_by = USERNAME, PASSWORD, admin
        config.sender_email, config.sender_name = "biuro@firma.example", "Biuro Firma Demo"
        config.company_name = config.company_name or "Firma Demo sp. z o.o."
        config.dsn_notify = config.dsn_notify or "OnFailure,Delay"
        config.full_clean()
        config.save()
