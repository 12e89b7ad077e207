"""``manage.py symfonia_mail_test [--user USERNAME]``: Test SMTP from the shell."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext

from ...config import resolver
from ...diagnostics.smtp_test import FAILED, OK, SKIPPED, run_smtp_test


class Command(BaseCommand):
    help = (
        "Send the test message through the mail configuration (the global one, or the "
        "one that applies to --user) and print each step; exit 1 when a step fails."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--user", metavar="USERNAME",
            help="Test the configuration that applies to this user (default: the global one).",
        )
        parser.add_argument(
            "--language", metavar="CODE",
            help="Language of the test message and the report (default: LANGUAGE_CODE).",
        )

    def handle(self, *args, user=None, language=None, **options):
        language = language or translation.get_language()
        with translation.override(language):
            account = self.find_user(user) if user else None
            config = resolver.resolve(account)
            if config.user_id is None:
                self.stdout.write(gettext("Testing the global configuration."))
            else:
                self.stdout.write(gettext("Testing the individual configuration of %(user)s.")
                                  % {"user": account})
            report = run_smtp_test(config, user=account, language=language)
            self.write_report(report)
            if not report.ok:
                raise CommandError(report.headline(), returncode=1)

    def find_user(self, username):
        model = get_user_model()
        try:
            return model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            raise CommandError(
                gettext("No user with the user name “%(username)s”.") % {"username": username}
            ) from None

    def write_report(self, report):
        """Print the report, each step's status line coloured by its status."""
        styles = {OK: self.style.SUCCESS, FAILED: self.style.ERROR, SKIPPED: None}
        self.stdout.write(report.headline(), self.style.SUCCESS if report.ok else self.style.ERROR)
        for step in report.steps:
            first, *rest = report.step_lines(step)
            self.stdout.write(first, styles.get(step.status, self.style.WARNING))
            for line in rest:
                self.stdout.write(line)
