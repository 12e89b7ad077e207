"""Overdue-payment reminders: the sales use of the mail configuration.

One message per contractor lists all their overdue documents (template key
``payment_reminder``; ``{numery}`` are the numbers, ``{kontrahent}`` the
contractor), with the documents' PDFs attached (protected by the backend when
the configuration has an attachment password). It is sent as *user*, so that
user's scope applies, over one SMTP connection for the whole run::

    from symfonia_mail.reminders import ContractorReminder, OverdueDocument, send_reminders

    results = send_reminders(
        [ContractorReminder(
            key="sales.contractor:12", name="ACME sp. z o.o.",
            emails=["ksiegowosc@acme.example"],
            documents=[OverdueDocument(
                number="FV/12/2026", issue_date=date(2026, 10, 1),
                due_date=date(2026, 10, 15), amount=Decimal("1230.00"),
                outstanding=Decimal("615.00"), currency="PLN",
                pdf=b"%PDF-1.7 ...",  # bytes, a file path, a callable, or None
            )],
        )],
        user=request.user,
    )
    for result in results:
        print(result.contractor.name, result.status, result.reason)

Input, per contractor (:class:`ContractorReminder`): ``name``, ``emails`` (a
list or a comma-separated string), ``documents`` (:class:`OverdueDocument`:
number, issue and due date, amount, outstanding amount, currency, optional
PDF), ``key`` (the caller's stable identifier, for the no-duplicates rule)
and ``ref`` (any object, handed back untouched in the result).

Output: one :class:`ReminderResult` per contractor, in input order, with
``status`` ``sent``, ``partial`` (delivered, but the server refused some of
the contractor's addresses: ``refused`` lists them, ``reason`` says so),
``failed`` (with the reason), ``skipped`` (with the reason) or ``planned`` (a
dry run would have sent it).

Rules:

- The resolved transport must be ``smtp``; otherwise
  :class:`~symfonia_mail.exceptions.TransportNotAllowed` is raised before
  anything is sent (Symfonia refuses the same way).
- Only documents due before *as_of* with an outstanding amount above zero
  are listed; a contractor with none is skipped, and so is one without an
  e-mail address.
- A failure for one contractor (refused address, protection error, broken
  PDF) is reported in its result and the run goes on with the next one.
- Each reminder is claimed before it is sent (a
  :class:`~symfonia_mail.models.ReminderRecord` row inserted first, per
  contractor key + set of document numbers + day; see
  :mod:`symfonia_mail.reminders.claims`), so the same reminder is sent once a
  day even when several runs go at once, in any number of processes; a
  contractor another run is reminding is skipped with that reason. A failed
  send gives its claim up. ``force=True`` sends again (a row of its own).
- ``dry_run=True`` builds the messages (so a broken template shows) without
  reading the PDFs, and sends and records nothing.
"""

import hashlib
import logging
import os
import re
import smtplib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..config import resolver
from ..content.templated import build_templated
from ..context import UserLike, user_pk
from ..exceptions import RecipientsRefused, TransportNotAllowed
from ..models import ReminderRecord, Transport
from ..problems import format_refused, problem_record, render_problem
from ..tracking.maillog import redact
from ..validators import parse_address_list
from .claims import Taken, claim, mark_sent, release

logger = logging.getLogger("symfonia_mail.reminders")

TEMPLATE_KEY = "payment_reminder"
BACKEND = "symfonia_mail.backends.ConfiguredEmailBackend"
PDF_MIMETYPE = "application/pdf"

# What a failed send can raise through Django's backend contract: SMTP errors
# (ours subclass SMTPException), network errors, and ValueError for a message
# that cannot be built (bad address, control characters in a header).
SEND_ERRORS = (smtplib.SMTPException, OSError, ValueError)


class Status(models.TextChoices):
    """What happened to one contractor's reminder in a run."""

    SENT = "sent", _("sent")
    PARTIAL = "partial", _("partial")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("skipped")
    PLANNED = "planned", _("would be sent (dry run)")


@dataclass(frozen=True)
class OverdueDocument:
    """One unpaid document of a contractor."""

    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    outstanding: Decimal | None = None  # None: nothing paid, the whole amount
    currency: str = "PLN"
    # PDF content (bytes), a file path, or a callable returning bytes (so a
    # long run renders one contractor's PDFs at a time, not all of them first).
    pdf: bytes | str | os.PathLike | Callable[[], bytes] | None = field(
        default=None, repr=False, compare=False
    )
    pdf_name: str = ""  # default: the number with "/" and spaces as "_", plus ".pdf"

    @property
    def outstanding_amount(self):
        return Decimal(self.amount if self.outstanding is None else self.outstanding)

    def days_overdue(self, as_of):
        return max((as_of - self.due_date).days, 0)

    def is_overdue(self, as_of):
        """Return True when the document was due before *as_of* and is not fully paid."""
        return self.due_date < as_of and self.outstanding_amount > 0

    def attachment_name(self):
        return self.pdf_name or re.sub(r"[^\w.-]+", "_", self.number).strip("_") + ".pdf"

    def read_pdf(self):
        """Return the PDF bytes, or None when the document has no PDF."""
        pdf = self.pdf
        if pdf is None:
            return None
        if callable(pdf):
            pdf = pdf()
        if isinstance(pdf, str | os.PathLike):
            return Path(pdf).read_bytes()
        return bytes(pdf)

    def table_row(self, as_of):
        """Return the row the payment_reminder template shows for this document."""
        return {
            "number": self.number,
            "issue_date": self.issue_date,
            "due_date": self.due_date,
            "amount": Decimal(self.amount),
            "outstanding": self.outstanding_amount,
            "currency": self.currency,
            "days_overdue": self.days_overdue(as_of),
        }


@dataclass(frozen=True)
class ContractorReminder:
    """A contractor and their documents: the input of one reminder."""

    name: str
    emails: Sequence[str] | str
    documents: Sequence[OverdueDocument]
    key: str = ""  # stable identity for the no-duplicates rule; default: the name
    language: str | None = None  # the message language; default: the run's
    ref: Any = field(default=None, repr=False, compare=False)  # the caller's object

    @property
    def identity(self):
        return self.key or f"name:{self.name}"

    def addresses(self):
        """Return the contractor's addresses as a list (a string is split on commas)."""
        if isinstance(self.emails, str):
            return parse_address_list(self.emails)
        return [address.strip() for address in self.emails if address and address.strip()]


@dataclass(frozen=True)
class ReminderResult:
    """What happened to one contractor's reminder."""

    contractor: ContractorReminder
    status: Status
    reason: str = ""
    documents: tuple[str, ...] = ()  # the numbers listed in the reminder
    recipients: tuple[str, ...] = ()
    message_id: str = ""
    refused: tuple[str, ...] = ()  # the contractor's addresses the server refused

    @property
    def ok(self):
        return self.status != Status.FAILED


def require_smtp(config, user=None):
    """Raise TransportNotAllowed unless *config* (resolved for *user*) sends through SMTP."""
    if config.transport == Transport.SMTP:
        return
    if config.user_id is None:
        which = gettext("The global configuration")
    else:
        name = user.get_username() if hasattr(user, "get_username") else f"#{config.user_id}"
        which = gettext("The individual configuration of %(user)s") % {"user": name}
    raise TransportNotAllowed(
        gettext(
            "Payment reminders need the SMTP transport: the program must send them "
            "itself, in bulk, with the documents attached, which the system mail route "
            "cannot do. %(config)s uses the %(transport)s transport; switch it to SMTP "
            "in the mail configuration."
        ) % {"config": which, "transport": config.transport}
    )


def reminded_today(contractors: Iterable[ContractorReminder],
                   today: date | None = None) -> dict[str, list[ReminderRecord]]:
    """Return {contractor identity: [ReminderRecord, …]} of *contractors* reminded *today*.

    What an admin asked to "send again today" must see first (one query).
    Claims of runs still sending are included; their status says so.
    """
    today = today or timezone.localdate()
    identities = {item.identity[:255]: item.identity for item in contractors}
    found: dict[str, list[ReminderRecord]] = {}
    rows = ReminderRecord.objects.filter(sent_on=today, contractor_key__in=list(identities))
    for row in rows.select_related("sent_by").order_by("sent_at", "pk"):
        found.setdefault(identities[row.contractor_key], []).append(row)
    return found


def documents_digest(numbers):
    """Return the digest that identifies a set of document numbers."""
    return hashlib.sha256("\n".join(sorted(numbers)).encode()).hexdigest()


def count(results):
    """Return {status: how many} for *results* (every status present, zeros included)."""
    counter = Counter(result.status for result in results)
    return {status: counter.get(status, 0) for status in Status}


def send_reminders(contractors: Iterable[ContractorReminder], *, user: UserLike = None,
                   as_of: date | None = None, dry_run: bool = False, force: bool = False,
                   language: str | None = None, connection: BaseEmailBackend | None = None,
                   template_key: str = TEMPLATE_KEY,
                   progress: Callable[[int, int, ReminderResult], object] | None = None,
                   ) -> list[ReminderResult]:
    """Send one payment reminder per contractor; return their ReminderResults.

    *user* is who sends (their configuration scope applies; None: the global
    configuration). *as_of* is the day that decides what is overdue (default:
    today). *progress*, when given, is called as ``progress(done, total,
    result)`` after each contractor. *connection* defaults to a
    ConfiguredEmailBackend for *user*, opened once for the whole run.
    """
    items = list(contractors)
    as_of = as_of or timezone.localdate()
    session = resolver.Session()
    config = session.config_for(user)
    require_smtp(config, user)
    run = _ReminderBatch(
        user=user, as_of=as_of, today=timezone.localdate(), dry_run=dry_run, force=force,
        language=language, template_key=template_key, session=session,
        secrets=(config.password, config.attachment_password),
        connection=connection or import_string(BACKEND)(user=user),
    )
    run.load_sent()
    if dry_run:
        results = run.each(items, progress)
    else:
        # Django's contract: open only if not open, close only what we opened.
        opened = run.connection.open()
        try:
            results = run.each(items, progress)
        finally:
            if opened:
                run.connection.close()
    counts = count(results)
    logger.info(
        "Payment reminders%s as of %s: %s", " (dry run)" if dry_run else "", as_of,
        ", ".join(f"{counts[s]} {s}" for s in Status),
    )
    return results


@dataclass
class _ReminderBatch:
    """One call of send_reminders: its settings and the day's sent reminders."""

    user: Any
    as_of: date
    today: date
    dry_run: bool
    force: bool
    language: str | None
    template_key: str
    session: resolver.Session
    secrets: tuple[str, str] = field(repr=False)  # never in a repr or a traceback
    connection: Any
    sent: set = field(default_factory=set)  # (contractor identity, documents digest)

    def load_sent(self):
        """Load what was sent today (one query), so those need no claim attempt."""
        if not self.force:
            rows = ReminderRecord.objects.filter(sent_on=self.today).exclude(
                status=ReminderRecord.Status.CLAIMED
            )
            self.sent = set(rows.values_list("contractor_key", "documents_digest"))

    def each(self, items, progress):
        results = []
        for done, item in enumerate(items, 1):
            result = self.remind(item)
            results.append(result)
            if progress is not None:
                progress(done, len(items), result)
        return results

    def remind(self, item):
        """Build and send (or plan) the reminder of one contractor."""
        documents = [doc for doc in item.documents if doc.is_overdue(self.as_of)]
        numbers = tuple(doc.number for doc in documents)
        emails = item.addresses()

        def result(status, reason="", **extra):
            return ReminderResult(item, status, str(reason), numbers, tuple(emails), **extra)

        if not documents:
            return result(Status.SKIPPED, _("no overdue documents"))
        if not emails:
            return result(Status.SKIPPED, _("no e-mail address"))
        digest = documents_digest(numbers)
        if (item.identity, digest) in self.sent:
            return result(Status.SKIPPED, ALREADY_SENT)
        if self.dry_run:
            return self.plan(item, documents, emails, result)
        row = self.claim(item, numbers, digest, emails)
        if isinstance(row, Taken):
            self.sent.add((item.identity, digest))
            return result(Status.SKIPPED, _taken_reason(row))
        try:
            message = self.build(item, documents, emails)
        except Exception as exc:  # noqa: BLE001 — one contractor's broken PDF or data must not stop the run
            release(row)
            logger.warning("Reminder for %s not built: %s", item.identity, _describe(exc))
            return result(Status.FAILED, self.reason(exc))
        message_id = message.extra_headers["Message-ID"]
        refused, note = (), ""
        # The MailLog row (written when send_messages returns) and the claim's
        # outcome commit together: one write transaction per contractor after the
        # claim, not two. Nothing is written (or locked) while SMTP talks.
        with transaction.atomic():
            try:
                self.connection.send_messages([message])
            except SEND_ERRORS as exc:
                refused = _refused_of(exc, emails)
                # Delivered to another of the contractor's addresses, or only to the
                # configured CC/BCC (exc.delivered): the message went out, as MailLog says
                # ("partial"); recorded, or a rerun would repeat it.
                went_out = isinstance(exc, RecipientsRefused) and (
                    len(refused) < len(emails) or exc.delivered)
                if not went_out:
                    release(row)
                    return result(Status.FAILED, self.reason(exc), refused=refused)
                note = self.reason(exc)
            mark_sent(row, message_id=message_id, recipients=", ".join(emails),
                      refused=note if refused else "")
        self.sent.add((item.identity, digest))
        if refused:
            return result(Status.PARTIAL, note, message_id=message_id, refused=refused)
        return result(Status.SENT, note, message_id=message_id)

    def plan(self, item, documents, emails, result):
        """Build the message a real run would send (a broken template shows) and send nothing."""
        try:
            message = self.build(item, documents, emails)
        except Exception as exc:  # noqa: BLE001 — reported per contractor, as in a real run
            return result(Status.FAILED, self.reason(exc))
        return result(Status.PLANNED, message_id=message.extra_headers["Message-ID"])

    def claim(self, item, numbers, digest, emails):
        return claim(
            item.identity, digest, self.today, force=self.force,
            contractor_name=item.name[:255], documents="\n".join(sorted(numbers)),
            sent_by_id=user_pk(self.user), recipients=", ".join(emails),
        )

    def build(self, item, documents, emails):
        numbers = [doc.number for doc in documents]
        # Every macro of the payment_reminder kind gets a value (symfonia_mail.kinds):
        # with several documents {numer} lists them all and {z dnia} their issue dates.
        dates = list(dict.fromkeys(doc.issue_date for doc in documents))
        macros = {"kontrahent": item.name, "numery": numbers, "numer": numbers,
                  "z_dnia": dates[0] if len(dates) == 1 else dates}
        attachments = []
        for doc in documents:
            # A dry run lists who gets what; rendering every PDF would only slow it down.
            content = None if self.dry_run else doc.read_pdf()
            if content is not None:
                attachments.append((doc.attachment_name(), content, PDF_MIMETYPE))
        message = build_templated(
            self.template_key, to=emails, user=self.user, macros=macros,
            attachments=attachments, language=item.language or self.language,
            connection=self.connection, session=self.session,
            context={
                "documents": [doc.table_row(self.as_of) for doc in documents],
                "contractor": item,
            },
        )
        # Known before sending, so the record and the MailLog row can be matched.
        message.extra_headers["Message-ID"] = make_msgid(domain=DNS_NAME)
        return message

    def reason(self, exc):
        return redact(_describe(exc), self.secrets)


ALREADY_SENT = _("already reminded today about the same documents (force to send again)")


def _taken_reason(taken):
    if taken.in_progress:
        started = timezone.localtime(taken.row.sent_at).strftime("%H:%M:%S")
        return gettext(
            "another run has been sending this reminder since %(time)s (force to send anyway)"
        ) % {"time": started}
    return gettext(ALREADY_SENT)


def _refused_of(exc, emails):
    """Return the addresses of *emails* that *exc* says the server refused."""
    refused = getattr(exc, "refused", None) or getattr(exc, "recipients", None) or {}
    lowered = {address.lower() for address in refused}
    return tuple(address for address in emails if address.lower() in lowered)


def _describe(exc):
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = format_refused(exc.recipients)
        return gettext("the server refused the address: %(refused)s") % {"refused": refused}
    # In the run's language, our own sentences too (UnfilledMacro…), not the English log text.
    return render_problem(problem_record(exc))
