"""``manage.py symfonia_mail_fetch_reports [--config global|USERNAME]``: read delivery reports."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext

from ...reports.fetching import fetch_all


class Command(BaseCommand):
    help = (
        "Read new delivery reports and bounces from the IMAP mailbox of every configuration "
        "with an IMAP server (or of --config) and record them in the mail log; exit 1 when "
        "a mailbox could not be read."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--config", metavar="global|USERNAME",
            help="Only the global configuration, or the individual one of this user.",
        )
        parser.add_argument(
            "--batch", type=int, metavar="N",
            help="At most N new messages per folder (default: REPORTS_BATCH).",
        )

    def handle(self, *args, config=None, batch=None, **options):
        results = fetch_all(self.config_key(config), batch=batch)
        if not results:
            self.stdout.write(gettext("No configuration has an IMAP server."))
        for result in results:
            if result.error:
                self.stdout.write(gettext("%(config)s: %(error)s") % {
                    "config": result.config_key, "error": result.error}, self.style.ERROR)
                continue
            self.stdout.write(gettext(
                "%(config)s, %(folder)s: %(looked)d new message(s), %(reports)d report(s), "
                "%(matched)d about our messages.") % {
                    "config": result.config_key, "folder": result.folder,
                    "looked": result.looked, "reports": result.reports,
                    "matched": result.matched}, self.style.SUCCESS)
        if any(result.error for result in results):
            raise CommandError(gettext("Some mailboxes could not be read."), returncode=1)

    def config_key(self, value):
        if value in (None, "global"):
            return value
        model = get_user_model()
        try:
            user = model._default_manager.get_by_natural_key(value)
        except model.DoesNotExist:
            raise CommandError(
                gettext("No user with the user name “%(username)s”.") % {"username": value}
            ) from None
        return f"user:{user.pk}"
