"""manage.py send_payment_reminders: one reminder per contractor with overdue invoices."""

import contextlib
import logging
import shutil

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from sales.models import Invoice
from sales.reminders import SOURCE, reminders_for_invoices
from symfonia_mail.config import resolver
from symfonia_mail.exceptions import TransportNotAllowed
from symfonia_mail.reminders import runs as reminder_runs
from symfonia_mail.reminders.sending import Status, count, require_smtp, send_reminders


def iso_date(value):
    try:
        parsed = parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(value)
    return parsed


iso_date.__name__ = "date (YYYY-MM-DD)"  # argparse names the type in its error message


class ProgressBar:
    """A one-line progress bar redrawn in place (only used on a terminal).

    While it is shown, the app's INFO log lines (one per message) are held
    back, since the summary table says the same; warnings first clear the
    bar's line so they do not end up glued to it.
    """

    CLEAR = "\r\x1b[K"

    def __init__(self, out, label):
        self.out = out
        self.label = label
        self.loggers = [
            logging.getLogger(name) for name in ["symfonia_mail", *logging.root.manager.loggerDict]
            if name == "symfonia_mail" or name.startswith("symfonia_mail.")
        ]

    def __enter__(self):
        for logger in self.loggers:
            logger.addFilter(self.filter)
        return self

    def __exit__(self, *exc_info):
        for logger in self.loggers:
            logger.removeFilter(self.filter)
        self.write(self.CLEAR)

    def filter(self, record):
        if record.levelno < logging.WARNING:
            return False
        self.write(self.CLEAR)
        return True

    def __call__(self, done, total, result):
        width = shutil.get_terminal_size((80, 20)).columns
        bar_width = 30
        filled = bar_width * done // max(total, 1)
        head = f"{self.label} [{'#' * filled}{'.' * (bar_width - filled)}] {done}/{total} "
        self.write(self.CLEAR + (head + result.contractor.name)[: max(width - 1, 10)])

    def write(self, text):
        self.out.write(text, style_func=_plain, ending="")
        self.out.flush()


def _plain(text):
    return text


class Command(BaseCommand):
    @property
    def help(self):
        # Translated when --help asks (argparse refuses a lazy string): the site's language.
        return _(
            "Send overdue-payment reminders: one message per contractor listing all their "
            "overdue invoices, with the invoice PDFs attached, through the mail configuration."
        )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-user", metavar=_("USERNAME"),
            help=_("Send as this user: their mail configuration scope applies. "
                   "Default: the global configuration."),
        )
        parser.add_argument(
            "--as-of", metavar=_("DATE"), type=iso_date,
            help=_("Invoices due before this day (YYYY-MM-DD) are overdue. Default: today."),
        )
        parser.add_argument(
            "--dry-run", action="store_true",
            help=_("Show what would be sent; send and record nothing."),
        )
        parser.add_argument(
            "--force", action="store_true",
            help=_("Send even the reminders already sent today for the same invoices."),
        )
        parser.add_argument(
            "--background", action="store_true",
            help=_("Enqueue the run for the task workers and return at once "
                   "(progress: the admin's payment reminder runs)."),
        )

    def handle(self, *args, as_user=None, as_of=None, dry_run=False, force=False,
               background=False, **options):
        user = self.user(as_user)
        as_of = as_of or timezone.localdate()
        if background:
            return self.start_run(user, as_of, dry_run, force)
        reminders = reminders_for_invoices(Invoice.objects.all(), as_of)
        if not reminders:
            self.stdout.write(_("No overdue invoices as of %(date)s.") % {"date": as_of})
            return
        bar = None
        if self.stderr.isatty() and options.get("verbosity", 1) > 0:
            bar = ProgressBar(self.stderr, _("Sending reminders"))
        try:
            with bar or contextlib.nullcontext():
                results = send_reminders(
                    reminders, user=user, as_of=as_of, dry_run=dry_run, force=force,
                    progress=bar,
                )
        except TransportNotAllowed as exc:
            raise CommandError(str(exc)) from exc
        self.table(results)
        self.totals(results, as_of, user, dry_run)

    def start_run(self, user, as_of, dry_run, force):
        """Enqueue a background run of every contractor with overdue invoices."""
        if dry_run:
            raise CommandError(_("--dry-run cannot be combined with --background."))
        try:
            require_smtp(resolver.resolve(user), user)
        except TransportNotAllowed as exc:
            raise CommandError(str(exc)) from exc
        overdue = Invoice.objects.overdue(as_of).order_by("contractor_id")
        keys = list(overdue.values_list("contractor_id", flat=True).distinct())
        run = reminder_runs.start(SOURCE, keys, user=user, as_of=as_of, force=force)
        self.stdout.write(_(
            "Reminder run #%(id)d queued for %(count)d contractor(s); the workers send it "
            "(progress: admin, payment reminder runs)."
        ) % {"id": run.pk, "count": run.total})

    def user(self, username):
        if not username:
            return None
        try:
            return get_user_model()._default_manager.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(_("No user named %(name)r.") % {"name": username}) from None

    def table(self, results):
        headers = (_("Contractor"), _("Status"), _("Invoices"), _("Details"))
        rows = []
        for result in results:
            details = result.reason or ", ".join(result.recipients)
            rows.append((
                _shorten(result.contractor.name, 40), str(result.status.label),
                _shorten(", ".join(result.documents), 40), details,
            ))
        widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(3)]
        style = {
            Status.SENT: self.style.SUCCESS, Status.PARTIAL: self.style.WARNING,
            Status.FAILED: self.style.ERROR,
            Status.SKIPPED: self.style.WARNING, Status.PLANNED: self.style.NOTICE,
        }

        def line(cells):
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False))

        self.stdout.write(self.style.MIGRATE_HEADING(line(headers) + "  " + headers[3]))
        self.stdout.write("  ".join("-" * width for width in widths) + "  " + "-" * 20)
        for result, row in zip(results, rows, strict=True):
            self.stdout.write(style[result.status](line(row) + "  " + row[3]))

    def totals(self, results, as_of, user, dry_run):
        counts = count(results)
        text = _(
            "Sent: %(sent)d, partial: %(partial)d, failed: %(failed)d, skipped: %(skipped)d "
            "(as of %(date)s, %(who)s)."
        ) % {
            "sent": counts[Status.SENT], "partial": counts[Status.PARTIAL],
            "failed": counts[Status.FAILED],
            "skipped": counts[Status.SKIPPED], "date": as_of,
            "who": _("sent as %(user)s") % {"user": user.get_username()} if user
            else _("no user: the global configuration"),
        }
        if dry_run:
            text = _("Dry run, nothing was sent. Would send: %(planned)d, skipped: "
                     "%(skipped)d, failed: %(failed)d (as of %(date)s).") % {
                "planned": counts[Status.PLANNED], "skipped": counts[Status.SKIPPED],
                "failed": counts[Status.FAILED], "date": as_of,
            }
        ok = not counts[Status.FAILED] and not counts[Status.PARTIAL]
        self.stdout.write("")
        self.stdout.write((self.style.SUCCESS if ok else self.style.WARNING)(text))


def _shorten(text, width):
    return text if len(text) <= width else text[: width - 1] + "…"
