"""The report of a Test SMTP run: its steps, their outcome, and how to show them.

:mod:`symfonia_mail.diagnostics.smtp_test` runs the test and fills a :class:`SmtpTestReport`;
the admin shows ``report.as_html()``, the shell command ``report.summary()``.
"""

import contextlib

from django.contrib import messages
from django.utils import translation
from django.utils.html import format_html, format_html_join, urlize
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..hints import CODES, HELP_URLS

LABELS = {
    "configuration": _("Configuration"),
    "token": _("Access token (OAuth2)"),
    "connect": _("Connect"),
    "ehlo": _("Greeting (EHLO)"),
    "starttls": _("STARTTLS"),
    "login": _("Login"),
    "dsn": _("Delivery notifications (DSN)"),
    "mail_from": _("Sender (MAIL FROM)"),
    "rcpt_to": _("Recipients (RCPT TO)"),
    "data": _("Message (DATA)"),
    "system": _("System mail route"),
    "api": _("Send through the mailbox API"),
    "imap_login": _("IMAP login"),
    "imap_reports": _("IMAP delivery reports folder"),
    "imap_sent": _("IMAP Sent folder"),
}

OK, WARNING, SKIPPED, FAILED = "ok", "warning", "skipped", "failed"


class Step:
    """One step of the test: what was done, how long it took, what the server said."""

    def __init__(self, name, status=OK, *, detail="", reply="", code="", duration_ms=0.0):
        self.name = name
        self.status = status
        self.detail = detail
        self.reply = reply
        self.code = code
        self.duration_ms = round(duration_ms, 1)

    @property
    def detail(self):
        return self._detail

    @detail.setter
    def detail(self, value):
        # Text in the language of the run; a lazy one is kept as well, so that as_record()
        # can store it in English (its msgid) for MailLog.
        self.detail_source = value
        self._detail = value if isinstance(value, str) else str(value)

    @property
    def label(self):
        return LABELS[self.name]

    @property
    def ok(self):
        return self.status != FAILED

    @property
    def hint(self):
        return CODES[self.code] if self.code else ""

    @property
    def help_url(self):
        return HELP_URLS.get(self.code, "")

    def __repr__(self):
        return f"<Step {self.name} {self.status} {self.duration_ms} ms {self.code}>"


class SmtpTestReport:
    """The outcome of one Test SMTP run."""

    def __init__(self, config, language):
        self.config_label = config.label
        self.server = config.server
        self.security = config.security
        self.transport = config.transport
        self.language = language
        self.steps = []
        self.accepted = []
        self.refused = {}
        self.message_id = ""
        self.envelope_id = ""
        self.duration_ms = 0.0

    @property
    def ok(self):
        return all(step.ok for step in self.steps)

    @property
    def failure(self):
        return next((step for step in self.steps if not step.ok), None)

    @property
    def code(self):
        return self.failure.code if self.failure else ""

    @property
    def hint(self):
        return self.failure.hint if self.failure else ""

    @property
    def level(self):
        if not self.ok:
            return messages.ERROR
        if any(step.status == WARNING for step in self.steps):
            return messages.WARNING
        return messages.SUCCESS

    def _language(self, language=None):
        language = language or self.language
        return translation.override(language) if language else contextlib.nullcontext()

    def headline(self):
        """Return one sentence: which server, and whether the test passed."""
        where = self.server or gettext("the system mail route")
        if self.ok:
            return gettext("Test SMTP of %(server)s succeeded: the test message was sent to "
                           "%(accepted)s (%(ms)s ms).") % {
                "server": where, "accepted": ", ".join(self.accepted) or "-",
                "ms": _ms(self.duration_ms)}
        return gettext("Test SMTP of %(server)s failed at step “%(step)s”.") % {
            "server": where, "step": self.failure.label}

    def step_lines(self, step):
        """Return the plain-text lines of *step*: its status line, then reply and hint."""
        detail = f": {step.detail}" if step.detail else ""
        lines = [f"[{_status_label(step.status)}] {step.label} ({_ms(step.duration_ms)} ms)"
                 f"{detail}"]
        lines.extend(f"    {line}" for line in step.reply.splitlines())
        if step.hint:
            lines.append(f"    {gettext('Hint:')} {step.hint}")
        return lines

    def summary(self, language=None):
        """Return the report as plain text, one line per step (in *language*, or its own)."""
        with self._language(language):
            lines = [self.headline()]
            for step in self.steps:
                lines.extend(self.step_lines(step))
            return "\n".join(lines)

    def as_html(self):
        """Return the report as escaped HTML for an admin message."""
        with self._language():
            # A class per status: admin CSS styles every <li> of a message as its level.
            items = format_html_join("", '<li class="symfonia-step symfonia-step-{}">[{}] '
                                         "<strong>{}</strong> ({} ms){}{}{}</li>", (
                (step.status, _status_label(step.status), step.label, _ms(step.duration_ms),
                 format_html(": {}", step.detail) if step.detail else "",
                 format_html("<br><code>{}</code>", format_html_join(
                     mark_safe("<br>"), "{}", ((line,) for line in step.reply.splitlines())))
                 if step.reply else "",
                 format_html("<br><em>{}</em> {}", gettext("Hint:"),
                             # urlize() escapes all the text around the links it makes.
                             mark_safe(urlize(str(step.hint), nofollow=True, autoescape=True)))  # noqa: S308
                 if step.hint else "")
                for step in self.steps))
            return format_html("{}<ul>{}</ul>", self.headline(), items)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return f"<SmtpTestReport {self.server} ok={self.ok} code={self.code!r}>"

    def as_record(self):
        """Return the report as JSON for MailLog.problem: codes, server words, English details."""
        with translation.override("en"):
            steps = [[step.name, step.status, str(step.detail_source), step.reply, step.code,
                      step.duration_ms] for step in self.steps]
        return {"test": {
            "server": self.server, "security": self.security, "transport": self.transport,
            "accepted": list(self.accepted), "refused": dict(self.refused),
            "message_id": self.message_id, "envelope_id": self.envelope_id,
            "duration_ms": self.duration_ms, "steps": steps,
        }}

    @classmethod
    def from_record(cls, record, language=None):
        """Return the report stored by as_record(), shown in *language* (default: active)."""
        data = record["test"]
        report = cls.__new__(cls)
        report.config_label = ""
        report.server, report.security = data["server"], data.get("security", "")
        report.transport, report.language = data.get("transport", ""), language
        report.accepted, report.refused = list(data["accepted"]), dict(data["refused"])
        report.message_id, report.envelope_id = data["message_id"], data["envelope_id"]
        report.duration_ms = data["duration_ms"]
        report.steps = [Step(name, status, detail=_StoredText(detail), reply=reply, code=code,
                             duration_ms=ms)
                        for name, status, detail, reply, code, ms in data["steps"]]
        return report


class _StoredText(str):
    """A detail kept in English: each comma-separated part translated when shown.

    Details are host names, mechanisms and TLS versions (the same in every
    language) joined with our own phrases ("certificate not verified"), which
    are msgids.
    """

    def __str__(self):
        return ", ".join(gettext(part) if part else part
                         for part in str.__str__(self).split(", "))

    def __format__(self, spec):
        return format(str(self), spec)


def _ms(value):
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _status_label(status):
    return {OK: gettext("OK"), WARNING: gettext("warning"), SKIPPED: gettext("skipped"),
            FAILED: gettext("FAILED")}[status]
