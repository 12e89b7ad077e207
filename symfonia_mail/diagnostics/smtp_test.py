"""Test SMTP: send the test message through one configuration, step by step.

The report it returns (``Step``, ``SmtpTestReport``) lives in
:mod:`symfonia_mail.diagnostics.report`; both names are importable from here.

Public API (the admin, the ``symfonia_mail_test`` command; nothing here saves):

``run_smtp_test(config, *, user=None, language=None) -> SmtpTestReport``
    *config* is a :class:`symfonia_mail.config.resolver.ResolvedConfig`; build one
    from a saved or unsaved model instance with
    ``resolver.from_model(instance, company_name=...)``. *user* is who runs
    the test (the ``{wysyłający}`` macro); *language* is the language of the
    test message and of the report's texts (default: the active one). Never
    raises for a server, network, TLS or login problem: that is in the report.
    The message is the "test" template of the configuration's owner, filled
    with this configuration's values, sent over the connection under test to
    ``sender_email`` + CC + BCC, with ``From: config.from_header`` and, when
    asked and advertised, ``MAIL FROM … RET=HDRS ENVID=…`` / ``RCPT TO …
    NOTIFY=…``. Login uses the backend's connection class: one AUTH mechanism.

``SmtpTestReport``
    ``.ok`` (no step failed), ``.steps`` (list of :class:`Step`), ``.failure``
    (first failed Step or None), ``.code`` / ``.hint`` (of that step, or ""),
    ``.accepted`` (addresses), ``.refused`` ({address: "550 reply text"}),
    ``.message_id``, ``.envelope_id`` ("" without DSN), ``.duration_ms``,
    ``.language``, ``.level`` (``django.contrib.messages`` SUCCESS, WARNING
    when a step warns, ERROR), ``.headline()`` (one sentence),
    ``.summary()`` (plain text, one line per step plus indented replies and
    hints), ``.step_lines(step)`` and ``.as_html()`` (a SafeString, every
    value escaped, links in hints clickable) for
    ``ModelAdmin.message_user(request, report.as_html(), report.level)``.

``Step``
    ``.name``: ``configuration`` (only when the configuration itself is
    unusable: incomplete, unreadable password), ``connect``, ``ehlo``,
    ``starttls`` (security=starttls only), ``login``, ``dsn``, ``mail_from``,
    ``rcpt_to``, ``data``; or ``system`` alone for transport=system.
    ``.label`` (translated), ``.status`` (``ok``, ``warning``, ``skipped``,
    ``failed``), ``.ok``, ``.duration_ms``, ``.detail`` (what was tried),
    ``.reply`` (the server's reply, or the error), ``.code`` / ``.hint``
    (failure or warning; keys of ``CODES``), ``.help_url`` (provider help).

The run drives :class:`symfonia_mail.smtp.connection.SmtpConnection` (the one SMTP
client sending uses) and builds its steps from the events the dialogue
reports: nothing here speaks SMTP.

``classify(exc) -> (code, hint)`` (from :mod:`symfonia_mail.problems`)
    Name the problem behind an smtplib / ssl / socket exception, with a
    plain-language hint (a lazy translation).

The password never appears in any step text: replies are redacted, even when
a server echoes the password (or its AUTH PLAIN encoding) back.
"""

import smtplib
import time
from datetime import timedelta

from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.utils import timezone, translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from .. import conf, macros
from ..compat import make_backend
from ..config.allowed import is_restricted, server_allowed
from ..config.resolver import ResolvedConfig
from ..content import templated
from ..content.message import envelope
from ..context import UserLike
from ..exceptions import (
    AuthenticationFailed,
    GreetingRefused,
    InvalidAddress,
    MessageRefused,
    OAuthError,
    RecipientsRefused,
    SenderRefused,
    UnreadableSecretError,
)
from ..mailapi import API_TRANSPORTS, transport_for
from ..mailbox.check import check_mailbox
from ..models import MailLog
from ..oauth import tokens as oauth
from ..problems import (
    CODES,
    GMAIL_HELP,
    HELP_URLS,
    MICROSOFT_HELP,
    classify,
    is_timeout,
    what_happened,
)
from ..smtp.connection import SmtpConnection, credential_for, notify_value
from ..tracking.maillog import record_test_run
from . import oauth_step
from .report import FAILED, OK, SKIPPED, WARNING, SmtpTestReport, Step

__all__ = [
    "CODES", "GMAIL_HELP", "HELP_URLS", "MICROSOFT_HELP", "SmtpTestReport", "Step",
    "classify", "run_smtp_test",
]

# What a step of the dialogue can raise: smtplib's classes (ours subclass them),
# socket and TLS errors (OSError), and UnicodeError for a non-ASCII address.
_ERRORS = (smtplib.SMTPException, OSError, UnicodeError)

# The report step each dialogue stage belongs to (Dialogue.stage when it failed).
_STEP_OF_STAGE = {
    "connect": "connect", "greeting": "connect", "tls": "connect", "ehlo": "ehlo",
    "starttls": "starttls", "auth": "login", "mail": "mail_from", "rcpt": "rcpt_to",
    "data": "data", "message": "data",
}
_STEP_OF_ERROR = (
    (GreetingRefused, "connect"), (AuthenticationFailed, "login"),
    (SenderRefused, "mail_from"), (RecipientsRefused, "rcpt_to"), (MessageRefused, "data"),
)


def run_smtp_test(config: ResolvedConfig, *, user: UserLike = None,
                  language: str | None = None) -> SmtpTestReport:
    """Send the test message through *config* step by step and return the report."""
    language = language or translation.get_language()
    report = SmtpTestReport(config, language)
    started = time.perf_counter()
    with translation.override(language):
        _SmtpTestRun(config, report, user).run()
    report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    with translation.override(language):
        record_test_run(report, config, user)  # MailLog kind "test" (issue 12)
    return report


class _Recorder:
    """The observer: keeps the dialogue's events with the time each arrived."""

    def __init__(self):
        self.events = []
        self.mark = time.perf_counter()  # when the last event came (or the run began)

    def __call__(self, event):
        self.events.append(event)
        self.mark = time.perf_counter()

    def take(self):
        """Return the events since the last take()."""
        events, self.events = self.events, []
        return events


class _SmtpTestRun:
    """One Test SMTP run: open the backend's SMTP connection, send, and report each step."""

    def __init__(self, config, report, user):
        self.config = config
        self.report = report
        self.user = user
        self.recorder = _Recorder()
        self.smtp = None
        self.after_starttls = False

    def run(self):
        if not self.check_configuration():
            return
        self.run_smtp()
        if self.config.imap_host:
            # The mailbox side (delivery reports, Sent copy): login and folders, read-only.
            for outcome in check_mailbox(self.config):
                self.add(outcome.name, outcome.seconds, status=outcome.status,
                         detail=outcome.detail, reply=outcome.reply, code=outcome.code)

    def run_smtp(self):
        if self.config.transport == "system":
            self.send_system()
            return
        if self.config.transport in API_TRANSPORTS:
            self.send_api()
            return
        if self.config.auth_method != "password" and not self.token_step():
            return
        # Form values under test: an OAuth2 failure is reported, not written on the row;
        # a refused token is reported, not replaced (the token step showed which one).
        self.smtp = SmtpConnection(self.config, observer=self.recorder,
                                         credential=credential_for(self.config, retry=False))
        try:
            if self.open() and self.send():
                return
        finally:
            self.smtp.discard()

    def token_step(self):
        """Get the OAuth2 access token the login will use (cached for it)."""
        started = time.perf_counter()
        try:
            grant = oauth.access_token(self.config)
        except OAuthError as exc:
            self.add("token", time.perf_counter() - started, status=FAILED,
                     detail=oauth_step.detail(self.config), reply=exc.provider_answer(),
                     code=classify(exc)[0])
            return False
        self.add("token", time.perf_counter() - started, **oauth_step.outcome(self.config, grant))
        self.recorder.mark = time.perf_counter()
        return True

    # -- the steps, rebuilt from what the dialogue said ---------------------------------

    def open(self):
        """Open the session exactly as sending does; report connect..login."""
        try:
            self.smtp.open()
        except _ERRORS as exc:
            self.steps_from_events(opening=True)
            self.fail(exc, self.smtp_stage(exc))
            return False
        self.steps_from_events(opening=True)
        return True

    def smtp_stage(self, exc):
        for kind, step in _STEP_OF_ERROR:
            if isinstance(exc, kind):
                return step
        stage = self.smtp.failed_stage or self.last_stage
        step = _STEP_OF_STAGE.get(stage, "connect")
        if step == "ehlo" and self.after_starttls:
            return "starttls"
        if step == "connect" and self.after_connect:
            return "starttls" if self.config.security == "starttls" else "ehlo"
        return step

    last_stage = ""
    after_connect = False

    def steps_from_events(self, *, opening):
        events = self.recorder.take()
        config = self.config
        tls_detail, ehlo_count = "", 0
        pending_starttls = None
        for event in events:
            self.last_stage = event.step
            if event.step == "tls":
                tls_detail = self.tls_detail(event.detail)
                if pending_starttls is not None:
                    pending_starttls.detail = tls_detail
            elif event.step == "greeting":
                self.after_connect = True
                detail = f"{config.host}:{config.port}"
                if config.security == "ssl":
                    detail = format_lazy("{}, {}", detail, tls_detail)
                self.add("connect", event.seconds, detail=detail, reply=str(event.reply))
            elif event.step == "ehlo" and ehlo_count == 0:
                ehlo_count += 1
                self.add("ehlo", event.seconds, reply=str(event.reply),
                         detail=DNS_NAME.get_fqdn())
            elif event.step == "starttls":
                self.after_starttls = True
                pending_starttls = self.add("starttls", event.seconds, reply=str(event.reply))
            elif event.step == "ehlo" and pending_starttls is not None:
                pending_starttls.reply += f"\n{event.reply}"
                pending_starttls.duration_ms += round(event.seconds * 1000, 1)
            elif event.step == "auth" and event.reply.code != 334:
                self.add("login", event.seconds, reply=str(event.reply),
                         detail=self.login_detail())
        if opening and self.smtp.dialogue is not None:  # opened: the login step
            if self.smtp.credential is None:
                self.add("login", 0, status=SKIPPED,
                         detail=gettext_lazy("no user name: sending without login"))
            elif config.security == "none":
                login = self.report.steps[-1]
                login.status, login.code = WARNING, "plaintext_login"

    def tls_detail(self, summary):
        if not (conf.get("VERIFY_CERTIFICATES") and self.config.verify_certificate):
            # Lazy, like every translated detail: MailLog keeps the report in English and
            # shows it in the reader's language (smtp_report.SmtpTestReport.as_record).
            return format_lazy("{}, {}", summary, gettext_lazy("certificate not verified"))
        return summary

    def login_detail(self):
        """Return "MECHANISM, username": the one mechanism the login uses."""
        dialogue = self.smtp.last_dialogue
        offered = dialogue.features.get("auth", "").upper().split() if dialogue else []
        try:
            mechanism = self.smtp.credential.mechanism(offered) if offered else None
        except _ERRORS:  # e.g. XOAUTH2 not offered: the step's reply says so
            mechanism = None
        return f"{mechanism or '-'}, {self.config.username}"

    def send(self):
        """Report DSN, then send the test message: mail_from, rcpt_to, data."""
        plan = self.smtp.dsn_plan()
        self.dsn_step(plan)
        try:
            self.config.check_addresses()  # stored values the admin form never saw
        except InvalidAddress as exc:
            self.fail(exc, "mail_from" if exc.field.startswith("sender") else "rcpt_to",
                      seconds=0)
            return False
        message = self.test_message()
        recipients = self.recipients()
        _from, _rcpts, data, _mid = envelope(message)
        self.recorder.take()
        self.recorder.mark = time.perf_counter()
        try:
            delivery = self.smtp.deliver(self.config.sender_email, recipients, data, plan)
        except _ERRORS as exc:
            self.transaction_steps(plan, recipients, exc)
            return False
        self.transaction_steps(plan, recipients, None, delivery)
        return True

    def dsn_step(self, plan):
        advertised = self.smtp.dialogue.has("dsn")
        if not notify_value(self.config.dsn_notify):
            self.add("dsn", 0, status=SKIPPED, detail=gettext_lazy(
                "not requested (the server advertises DSN)") if advertised else gettext_lazy(
                "not requested (the server does not advertise DSN)"))
        elif not advertised:
            self.add("dsn", 0, status=WARNING, code="dsn_not_offered",
                     detail=", ".join(self.config.dsn_notify))
        else:
            self.report.envelope_id = plan.envelope_id
            self.add("dsn", 0, detail=" ".join((*plan.mail_options, *plan.rcpt_options)))

    def transaction_steps(self, plan, recipients, exc, delivery=None):
        events = self.recorder.take()
        by_step = {"mail": [], "rcpt": [], "data": [], "message": []}
        for event in events:
            by_step.setdefault(event.step, []).append(event)
        failed_at = self.smtp_stage(exc) if exc is not None else ""
        sender = self.config.sender_email
        mail_detail = " ".join((sender, *plan.mail_options))
        mail = by_step["mail"][:1]
        if failed_at == "mail_from" or not mail:
            self.fail(exc, "mail_from", detail=mail_detail,
                      seconds=sum(e.seconds for e in mail))
            return
        self.add("mail_from", mail[0].seconds, detail=mail_detail, reply=str(mail[0].reply))
        rcpts = by_step["rcpt"]
        lines = [f"{e.address}: {e.reply}" for e in rcpts]
        for event in rcpts:
            if event.reply.code in (250, 251):
                self.report.accepted.append(event.address)
            else:
                self.report.refused[event.address] = str(event.reply)
        rcpt_detail = " ".join(plan.rcpt_options)
        seconds = sum(e.seconds for e in rcpts)
        if failed_at == "rcpt_to" or len(rcpts) < len(recipients):
            self.fail(exc, "rcpt_to", detail=rcpt_detail, seconds=seconds,
                      reply="\n".join(lines) if isinstance(exc, RecipientsRefused) else "")
            return
        if self.report.refused:
            # Some accepted: the message still went to them; the step fails.
            self.add("rcpt_to", seconds, status=FAILED, reply="\n".join(lines),
                     detail=rcpt_detail,
                     code=classify(RecipientsRefused(delivery.refused))[0])
        else:
            self.add("rcpt_to", seconds, reply="\n".join(lines), detail=rcpt_detail)
        data_seconds = sum(e.seconds for e in by_step["data"] + by_step["message"])
        if exc is not None:
            self.fail(exc, "data", detail=self.report.message_id, seconds=data_seconds)
            return
        self.add("data", data_seconds, detail=self.report.message_id, reply=delivery.reply)

    # -- report helpers ---------------------------------------------------------------

    def add(self, name, seconds, *, status=OK, detail="", reply="", code=""):
        step = Step(name, status, detail=detail, reply=reply, code=code,
                    duration_ms=seconds * 1000)
        self.report.steps.append(step)
        return step

    def fail(self, exc, name, *, detail="", seconds=None, reply=""):
        if seconds is None:
            seconds = time.perf_counter() - self.recorder.mark
        if not detail and name == "connect":
            detail = f"{self.config.host}:{self.config.port}"
        elif not detail and name == "login" and self.smtp.credential is not None:
            detail = self.login_detail()
        reply = reply or (exc.provider_answer() if isinstance(exc, OAuthError)
                          else what_happened(exc, lines=True))
        steps = self.report.steps
        if steps and steps[-1].name == name and steps[-1].status == OK:
            # The dialogue's reply already made this step (the 220 to STARTTLS before the
            # handshake failed, the 535 to AUTH): one row per step, with its final outcome.
            previous = steps.pop()
            detail = detail or previous.detail
            seconds += previous.duration_ms / 1000
            if previous.reply and previous.reply not in reply:
                reply = f"{previous.reply}\n{reply}"
        self.add(name, seconds, status=FAILED, detail=detail, reply=reply,
                 code=self.refine(name, exc))

    def refine(self, name, exc):
        """Return classify()'s code, more precise where the step knows more."""
        if name == "connect" and is_timeout(exc):
            dialogue = self.smtp.last_dialogue
            if dialogue is not None and not dialogue.tcp_connected:
                return "connect_timeout"
            if self.config.security != "ssl" and self.config.port == 465:
                return "tls_mismatch"
        return classify(exc)[0]

    def check_configuration(self):
        config = self.config
        code = ""
        if not config.sender_email or (config.transport == "smtp" and not config.host):
            code = "configuration_incomplete"
        elif config.username:
            try:
                config.checked_password()
            except UnreadableSecretError:
                code = "unreadable_password"
        if code:
            pass
        elif config.transport == "smtp" and (
                config.restricted or is_restricted(self.user)) and not server_allowed(
                config.host, config.port):
            code = "server_not_allowed"  # checked before any connection: not a probe
        elif rate_limited(self.user):
            code = "rate_limited"
        if code:
            self.report.steps.append(Step("configuration", FAILED, code=code))
            return False
        return True

    def recipients(self):
        seen, result = set(), []
        for addr in (self.config.sender_email, *self.config.cc, *self.config.bcc):
            if addr.lower() not in seen:
                seen.add(addr.lower())
                result.append(addr)
        return result

    def test_message(self):
        """Return the test message (template key "test") as a Django EmailMessage."""
        config = self.config
        subject, text, html = _test_content(config, self.user)
        message = EmailMultiAlternatives(
            subject, text, from_email=config.from_header or None, to=[config.sender_email],
            cc=list(config.cc), bcc=list(config.bcc))
        if html:
            message.attach_alternative(html, "text/html")
        self.report.message_id = make_msgid(domain=DNS_NAME.get_fqdn())
        message.extra_headers["Message-ID"] = self.report.message_id
        return message

    def send_api(self):
        """Sign in (token step), then send the test message through the mailbox API."""
        if not self.token_step():
            return
        # As the token step: a refused token is reported, not replaced; nothing is
        # written on the stored configuration (these may be unsaved form values).
        transport = transport_for(self.config, record=False, retry=False)
        started = time.perf_counter()
        try:
            self.config.check_addresses()
            recipients = self.recipients()
            _from, _rcpts, data, _mid = envelope(self.test_message())
            sent = transport.deliver(self.config.sender_email, recipients, data)
        except _ERRORS as exc:
            self.add("api", time.perf_counter() - started, status=FAILED,
                     detail=self.config.server, reply=what_happened(exc, lines=True),
                     code=classify(exc)[0])
            return
        self.report.accepted.extend(recipients)
        self.add("api", time.perf_counter() - started, detail=self.config.server,
                 reply=sent.note)

    def send_system(self):
        backend = conf.get("SYSTEM_BACKEND")
        started = time.perf_counter()
        try:
            message = self.test_message()
            make_backend(backend, fail_silently=False).send_messages([message])
        except _ERRORS as exc:
            self.fail(exc, "system", detail=backend, seconds=time.perf_counter() - started)
            return
        self.report.accepted.extend(self.recipients())
        self.add("system", time.perf_counter() - started, detail=backend)


def rate_limited(user):
    """Return True when *user* ran Test SMTP TEST_SMTP_PER_HOUR times in the last hour.

    Counted from the MailLog rows of kind "test" (every run writes one), so the
    limit holds across processes; the shell command (no user) is not limited.
    """
    limit = conf.get("TEST_SMTP_PER_HOUR")
    pk = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    if not limit or pk is None:
        return False
    since = timezone.now() - timedelta(hours=1)
    return MailLog.objects.filter(kind=MailLog.Kind.TEST, sent_by_id=pk,
                                  created_at__gte=since).count() >= limit


def _test_content(config, user):
    """Return (subject, text, html) of the test message with its macros filled.

    The "test" template that applies to the configuration's owner, filled with
    the values of the configuration under test (perhaps unsaved form values),
    not of the saved one the backend would resolve.
    """
    values = macros.message_values(config=config, user=user)
    rendered = templated.render("test", config.user_id, values=values)
    return (
        macros.fill(rendered.subject, values),
        macros.fill(rendered.text, values),
        macros.fill(rendered.html, values, html=True) if rendered.html else "",
    )
