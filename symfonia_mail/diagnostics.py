"""Test SMTP: send the test message through one configuration, step by step.

The report it returns (``Step``, ``SmtpTestReport``) lives in
:mod:`symfonia_mail.smtp_report`; both names are importable from here.

Public API (the admin, the ``symfonia_mail_test`` command; nothing here saves):

``run_smtp_test(config, *, user=None, language=None) -> SmtpTestReport``
    *config* is a :class:`symfonia_mail.resolver.ResolvedConfig`; build one
    from a saved or unsaved model instance with
    ``resolver.from_settings(instance, company_name=...)``. *user* is who runs
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
    unusable: incomplete, unreadable password), ``token`` (OAuth2 sign-in
    only: the access token acquired, refreshed or reused, or the identity
    platform's error code), ``connect``, ``ehlo``,
    ``starttls`` (security=starttls only), ``login``, ``dsn``, ``mail_from``,
    ``rcpt_to``, ``data``; or ``system`` alone for transport=system.
    ``.label`` (translated), ``.status`` (``ok``, ``warning``, ``skipped``,
    ``failed``), ``.ok``, ``.duration_ms``, ``.detail`` (what was tried),
    ``.reply`` (the server's reply, or the error), ``.code`` / ``.hint``
    (failure or warning; keys of ``CODES``), ``.help_url`` (provider help).

``classify(exc) -> (code, hint)`` (from :mod:`symfonia_mail.problems`)
    Name the problem behind an smtplib / ssl / socket exception, with a
    plain-language hint (a lazy translation).

The password never appears in any step text: replies are redacted, even when
a server echoes the password (or its AUTH PLAIN encoding) back.
"""

import base64
import contextlib
import smtplib
import ssl
import time
import uuid
from email.utils import make_msgid

from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.utils import DNS_NAME
from django.utils import translation
from django.utils.translation import gettext

from . import conf, macros, oauth, oauth_step, smtp, templates
from .exceptions import OAuthError, UnreadableSecretError
from .maillog import record_test_run
from .problems import (
    CODES,
    GMAIL_HELP,
    HELP_URLS,
    MICROSOFT_HELP,
    classify,
    is_timeout,
    reply_text,
)
from .smtp_report import FAILED, OK, SKIPPED, WARNING, SmtpTestReport, Step

__all__ = [
    "CODES", "GMAIL_HELP", "HELP_URLS", "MICROSOFT_HELP", "SmtpTestReport", "Step",
    "classify", "run_smtp_test",
]


class _Abort(Exception):
    """Stop the test after a failed step (already recorded)."""


def run_smtp_test(config, *, user=None, language=None):
    """Send the test message through *config* step by step and return the report."""
    language = language or translation.get_language()
    report = SmtpTestReport(config, language)
    started = time.perf_counter()
    with translation.override(language):
        try:
            _Run(config, report, user).run()
        except _Abort:
            pass
    report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    with translation.override(language):
        record_test_run(report, config, user)  # MailLog kind "test" (issue 12)
    return report

class _ProbeSMTP(smtp.SMTPConnection):
    """The backend's connection class, noting when TCP is up (dead port vs silent server)."""

    tcp_connected = False

    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        self.tcp_connected = True
        return sock


class _ProbeSMTPSSL(smtp.SMTPSSLConnection):
    """The backend's implicit-TLS connection class, noting when TCP is up."""

    tcp_connected = False

    def _get_socket(self, host, port, timeout):
        sock = smtplib.SMTP._get_socket(self, host, port, timeout)  # TCP only, no TLS yet
        self.tcp_connected = True
        try:
            return self.context.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise


def _redactor(config):
    """Return a function that blanks the password (and its AUTH encodings) out of text."""
    password = str(config.password or "")
    if not password:
        return lambda text: text
    user = config.username or ""
    forms = {password}
    for raw in (password, f"\0{user}\0{password}", f"{user}\0{password}"):
        forms.add(base64.b64encode(raw.encode("utf-8")).decode("ascii"))
    forms = sorted(forms, key=len, reverse=True)

    def redact(text):
        for form in forms:
            text = text.replace(form, "********")
        return text

    return redact


class _Run:
    """One Test SMTP run: each method is a step; a failed step raises _Abort."""

    def __init__(self, config, report, user):
        self.config = config
        self.report = report
        self.user = user
        self.redact = _redactor(config)
        self.connection = None
        self.use_dsn = False

    def run(self):
        self.check_configuration()
        if self.config.transport == "system":
            self.step("system", self.send_system)
            return
        try:
            if self.config.auth_method != "password":
                self.step("token", self.token, lambda: oauth_step.detail(self.config))
            self.step("connect", self.connect, f"{self.config.host}:{self.config.port}")
            self.step("ehlo", self.ehlo)
            if self.config.security == "starttls":
                self.step("starttls", self.starttls)
            self.step("login", self.login, self.login_detail)
            self.step("dsn", self.dsn)
            message = self.test_message()
            self.step("mail_from", self.mail_from,
                      lambda: " ".join((self.config.sender_email, *self.mail_options())))
            self.step("rcpt_to", self.rcpt_to)
            self.step("data", lambda: self.data(message), self.report.message_id)
        finally:
            self.close()

    def step(self, name, action, detail=""):
        """Run *action*, time it and record a Step; abort the run when it fails.

        *action* returns the Step's fields (reply, detail, status, code); when
        it raises, *detail* (a string or a callable) says what was tried.
        """
        started = time.perf_counter()
        try:
            outcome = action()
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            outcome = {"status": FAILED, "reply": self.describe(exc),
                       "detail": detail() if callable(detail) else detail,
                       "code": self.refine(name, exc) or classify(exc)[0]}
        outcome.setdefault("status", OK)
        for key in ("reply", "detail"):
            outcome[key] = self.redact(str(outcome.get(key, "")))
        abort = outcome.pop("abort", outcome["status"] == FAILED)
        self.report.steps.append(
            Step(name, duration_ms=(time.perf_counter() - started) * 1000, **outcome)
        )
        if abort:
            raise _Abort

    def refine(self, name, exc):
        """Return a more precise code than classify() for what the step knows."""
        if name == "connect" and is_timeout(exc):
            if not getattr(self.connection, "tcp_connected", False):
                return "connect_timeout"
            if self.config.security != "ssl" and self.config.port == 465:
                return "tls_mismatch"
        return ""

    def describe(self, exc):
        if isinstance(exc, OAuthError):
            return exc.provider_answer()
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return "\n".join(f"{addr}: {code} {reply_text(reply)}"
                             for addr, (code, reply) in exc.recipients.items())
        if isinstance(exc, smtplib.SMTPResponseException):
            return f"{exc.smtp_code} {reply_text(exc.smtp_error)}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"{exc.verify_message} ({exc.reason})"
        if isinstance(exc, UnicodeError):
            # Its text quotes the offending characters, perhaps from the password.
            return f"{type(exc).__name__}: {exc.reason}"
        return f"{type(exc).__name__}: {exc}"

    def check_configuration(self):
        config = self.config
        code = ""
        if not config.sender_email or (config.transport != "system" and not config.host):
            code = "configuration_incomplete"
        elif config.username and config.auth_method == "password":
            try:
                config.checked_password()
            except UnreadableSecretError:
                code = "unreadable_password"
        if code:
            self.report.steps.append(Step("configuration", FAILED, code=code))
            raise _Abort

    def connect(self):
        config = self.config
        # Built unconnected, so the report can tell TCP from greeting from TLS.
        kwargs = {"timeout": config.timeout, "local_hostname": DNS_NAME.get_fqdn()}
        if config.security == "ssl":
            kwargs["context"] = smtp.tls_context(config.verify_certificate, config.ca_certificates)
            self.connection = _ProbeSMTPSSL(**kwargs)
        else:
            self.connection = _ProbeSMTP(**kwargs)
        self.connection._host = config.host  # smtplib sets it only when given to __init__
        code, reply = self.connection.connect(config.host, config.port)
        if code != 220:
            raise smtplib.SMTPConnectError(code, reply)
        detail = f"{config.host}:{config.port}"
        if config.security == "ssl":
            detail += f", {self.tls_description()}"
        return {"detail": detail, "reply": f"{code} {reply_text(reply)}"}

    def tls_description(self):
        sock = self.connection.sock
        detail = f"{sock.version()} {sock.cipher()[0]}"
        if sock.context.verify_mode == ssl.CERT_NONE:
            detail += ", " + gettext("certificate not verified")
        return detail

    def ehlo(self):
        code, reply = self.connection.ehlo()
        if code != 250:
            code, reply = self.connection.helo()
            if code != 250:
                raise smtplib.SMTPHeloError(code, reply)
        return {"reply": f"{code} {reply_text(reply)}", "detail": self.connection.local_hostname}

    def starttls(self):
        if not self.connection.has_extn("starttls"):
            # Never fall back to plain text: the configuration asked for encryption.
            raise smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server.")
        context = smtp.tls_context(self.config.verify_certificate,
                                     self.config.ca_certificates)
        code, reply = self.connection.starttls(context=context)
        ehlo_code, ehlo_reply = self.connection.ehlo()  # RFC 3207 §4.2: forget the old EHLO
        if ehlo_code != 250:
            raise smtplib.SMTPHeloError(ehlo_code, ehlo_reply)
        return {"detail": self.tls_description(),
                "reply": f"{code} {reply_text(reply)}\n{ehlo_code} {reply_text(ehlo_reply)}"}

    def token(self):
        """Get the OAuth2 access token the login will use (cached for it)."""
        grant = oauth.access_token(self.config)
        self.redact = oauth_step.redactor(self.redact, grant, self.config)
        return oauth_step.outcome(self.config, grant)

    def login_detail(self):
        """Return "MECHANISM, username": the one mechanism the backend's login() uses."""
        offered = self.connection.esmtp_features.get("auth", "").upper().split()
        mechanism = next((m for m in self.connection.preferred_auths if m in offered), None)
        if self.config.auth_method != "password":
            mechanism = "XOAUTH2"
        return f"{mechanism or '-'}, {self.config.username}"

    def login(self):
        config = self.config
        if not config.username:
            return {"status": SKIPPED,
                    "detail": gettext("no user name: sending without login")}
        # The backend's login(): one mechanism only. smtplib's own would try PLAIN,
        # then LOGIN: two failed logins per attempt, and providers lock mailboxes.
        # OAuth2: the token the token step reported; refused, it is reported, not replaced.
        code, reply = self.connection.login(config.username,
                                            smtp.login_secret(config, retry=False))
        outcome = {"detail": self.login_detail(), "reply": f"{code} {reply_text(reply)}"}
        if config.security == "none":
            outcome.update(status=WARNING, code="plaintext_login")
        return outcome

    def dsn(self):
        advertised = self.connection.has_extn("dsn")
        if not smtp.notify_value(self.config.dsn_notify):
            return {"status": SKIPPED, "detail": gettext(
                "not requested (the server advertises DSN)") if advertised else gettext(
                "not requested (the server does not advertise DSN)")}
        if not advertised:
            return {"status": WARNING, "code": "dsn_not_offered",
                    "detail": ", ".join(self.config.dsn_notify)}
        self.use_dsn = True
        self.report.envelope_id = f"symfonia-test-{uuid.uuid4().hex}"
        return {"detail": " ".join((*self.mail_options(), *self.rcpt_options()))}

    def mail_options(self):
        return ["RET=HDRS", f"ENVID={self.report.envelope_id}"] if self.use_dsn else []

    def rcpt_options(self):
        return [f"NOTIFY={smtp.notify_value(self.config.dsn_notify)}"] if self.use_dsn else []

    def recipients(self):
        seen, result = set(), []
        for addr in (self.config.sender_email, *self.config.cc, *self.config.bcc):
            if addr.lower() not in seen:
                seen.add(addr.lower())
                result.append(addr)
        return result

    def mail_from(self):
        sender = self.config.sender_email
        code, reply = self.connection.mail(sender, self.mail_options())
        if code != 250:
            self.reset()
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        return {"detail": " ".join((sender, *self.mail_options())),
                "reply": f"{code} {reply_text(reply)}"}

    def rcpt_to(self):
        report, lines, refused = self.report, [], {}
        for addr in self.recipients():
            code, reply = self.connection.rcpt(addr, self.rcpt_options())
            lines.append(f"{addr}: {code} {reply_text(reply)}")
            if code in (250, 251):
                report.accepted.append(addr)
            else:
                refused[addr] = (code, reply)
                report.refused[addr] = self.redact(f"{code} {reply_text(reply)}")
        outcome = {"reply": "\n".join(lines), "detail": " ".join(self.rcpt_options())}
        if refused:
            # Some accepted: still send, so they get the test message; the step fails.
            outcome.update(status=FAILED, abort=not report.accepted,
                           code=classify(smtplib.SMTPRecipientsRefused(refused))[0])
            if not report.accepted:
                self.reset()
        return outcome

    def data(self, message):
        code, reply = self.connection.data(message.message().as_bytes(linesep="\r\n"))
        return {"detail": self.report.message_id, "reply": f"{code} {reply_text(reply)}"}

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

    def send_system(self):
        backend = conf.get("SYSTEM_BACKEND")
        message = self.test_message()
        message.connection = get_connection(backend, fail_silently=False)
        message.send()
        self.report.accepted.extend(self.recipients())
        return {"detail": backend}

    def reset(self):
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self.connection.rset()

    def close(self):
        if self.connection is None:
            return
        try:
            self.connection.quit()
        except (smtplib.SMTPException, OSError):
            self.connection.close()


def _test_content(config, user):
    """Return (subject, text, html) of the test message with its macros filled.

    The "test" template that applies to the configuration's owner, filled with
    the values of the configuration under test (perhaps unsaved form values),
    not of the saved one the backend would resolve.
    """
    values = macros.message_values(config=config, user=user)
    rendered = templates.render("test", config.user_id, values=values)
    return (
        macros.fill(rendered.subject, values),
        macros.fill(rendered.text, values),
        macros.fill(rendered.html, values, html=True) if rendered.html else "",
    )
