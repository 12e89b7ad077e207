"""One SMTP connection per configuration, with RFC 3461 delivery status notifications.

`SmtpConnection` binds a ResolvedConfig to a :class:`~symfonia_mail.smtp.dialogue.
Dialogue` (the app's one SMTP client): it opens the session (connect, EHLO,
STARTTLS, login) and delivers messages (MAIL/RCPT with DSN, DATA, pipelined
when offered). Test SMTP drives the very same object and only observes it.

Deadlines (docs/integrator-guide.md), with T = ``timeout_ms``:
each server reply must be complete within T; opening a session (TCP, TLS,
greeting, EHLO, STARTTLS, EHLO, AUTH) within ``OPEN_REPLIES`` × T; a message
within (3 + recipients + ⌈size / 1 MiB⌉) × T.
"""

import math
import smtplib
import time
import uuid
from dataclasses import dataclass, field

from django.core.mail.utils import DNS_NAME

from .. import conf
from ..config.allowed import check_server
from ..models import AuthMethod, Security
from ..oauth import tokens as oauth
from ..sasl import PasswordLogin, XOAuth2Login
from ..secret import NO_SCRUB
from ..tls import tls_context
from .dialogue import Dialogue
from .limits import too_many

__all__ = ["ConfigTransport", "Delivery", "DsnPlan", "SmtpConnection", "credential_for",
           "message_deadline", "notify_value",]

# RFC 3461 §4.1: the NOTIFY keywords for Symfonia's (.NET) DeliveryNotificationOptions.
NOTIFY_KEYWORDS = {
    "OnSuccess": "SUCCESS", "OnFailure": "FAILURE", "Delay": "DELAY", "Never": "NEVER",
}
# Replies (and TLS handshakes) in opening a session: TCP + TLS, greeting, EHLO,
# STARTTLS, TLS, EHLO, AUTH and up to one challenge.
OPEN_REPLIES = 8
DATA_CHUNK = 1024 * 1024  # each started MiB of a message earns one more T
# Stages of the dialogue before the final "." of a message: a connection lost there
# took nothing (FACTS.md "Connection reuse"), so the message may go on a new one.
BEFORE_MESSAGE = ("mail", "rcpt", "data")
BUSY_PAUSE, BUSY_PAUSE_MAX = 0.1, 2.0  # seconds between tries while the server is full


def mark_outcome_unknown(error, stage):
    """Mark *error* ``symfonia_stage = "message"`` when the message's outcome is unknown.

    That is: it came at the message stage (the content, its final "." or the
    reply to it) and is not a reply of the server's — a lost connection, a
    timeout, a reply that is no SMTP. The server may have taken the message
    (RFC 5321 §4.1.1.4): the backend and the workers log it ``unknown`` and
    never send it again. The one place that decides it.
    """
    if stage == "message" and isinstance(error, OSError) and not isinstance(
            error, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
        error.symfonia_stage = "message"


def notify_value(flags):
    """Return the RCPT TO NOTIFY= value for DSN flags (None: ask nothing)."""
    keywords = [NOTIFY_KEYWORDS[f] for f in flags if f in NOTIFY_KEYWORDS]
    if not keywords:
        return None
    if "NEVER" in keywords:
        return "NEVER"  # RFC 3461 §4.1: NEVER excludes the other values.
    return ",".join(keywords)


def message_deadline(timeout, recipients, size):
    """Return the seconds one message may take: (3 + recipients + ⌈size/1 MiB⌉) × T."""
    return timeout * (3 + recipients + math.ceil(size / DATA_CHUNK))


def credential_for(config, *, record=False, retry=True):
    """Return the credential the login step uses for *config*, or None (no login).

    Password or OAuth2 (XOAUTH2): anything with the interface described in
    :mod:`symfonia_mail.sasl`. *record*: an OAuth2 failure is written
    onto the stored configuration (sending does; Test SMTP of form values not);
    *retry*: a refused cached token is replaced once (not in Test SMTP).
    """
    if config.auth_method != AuthMethod.PASSWORD:
        return XOAuth2Login(config.username,
                            oauth.XOAuth2Credential(config, record=record, retry=retry))
    if not config.username:
        return None
    return PasswordLogin(config.username, config.checked_password())


@dataclass
class DsnPlan:
    """The DSN parameters of one message (empty when not requested or not offered)."""

    mail_options: list = field(default_factory=list)
    rcpt_options: list = field(default_factory=list)
    orcpt: bool = False  # each RCPT TO also carries ORCPT=rfc822;<its address>
    dsn_requested: str = ""  # the NOTIFY= value sent, "" when none
    envelope_id: str = ""
    note: str = ""


@dataclass
class Delivery:
    """What the server said about one message."""

    refused: dict = field(default_factory=dict)  # recipient -> (code, reply text)
    dsn_requested: str = ""
    envelope_id: str = ""
    note: str = ""
    pipelined: bool = False
    reply: str = ""  # the server's final reply, e.g. "250 2.0.0 Ok: queued as 4F2"
    # deliver(hold=True): the final reply has not come yet. It comes with the next
    # deliver() on the connection, or finish(); then held is False and error says
    # whether the message failed (MessageRefused, or a connection lost after its ".").
    held: bool = False
    error: BaseException | None = None


class SmtpConnection:
    """The SMTP session of one ResolvedConfig: open once, deliver many, close."""

    def __init__(self, config, *, observer=None, credential=None, client_certificate=None):
        self.config = config
        self.client_certificate = client_certificate  # (certfile, keyfile): ssl_certfile=...
        self.observer = observer
        self.credential = (credential if credential is not None
                           else credential_for(config, record=True))
        self.dialogue = None
        self.last_dialogue = None
        self.failed_stage = ""  # the dialogue's stage when the last error came (Test SMTP)
        # Kept from an earlier call (smtp_pool): the server may have closed it meanwhile.
        self.reused = False
        self.lease = None  # the connection slot it holds (smtp_limits), if limited
        # Seconds to wait and retry while the server answers "too many connections";
        # 0: raise at once (a background worker retries the message later).
        self.busy_wait = 0.0
        # The Delivery whose content waits for the next message (deliver(hold=True)),
        # its dialogue Transaction and its size.
        self.held = None
        self._held_transaction = None
        self._held_size = 0

    def __repr__(self):
        return f"<SmtpConnection {self.config.key} {self.config.server}>"

    def new_dialogue(self):
        """Return an unconnected Dialogue for the configuration."""
        config = self.config
        return Dialogue(
            config.host, config.port, timeout=config.timeout, security=config.security,
            # Building a context loads the trust store (~15 ms of CPU): only for TLS.
            context=self.tls_context() if config.security != Security.NONE else None,
            local_hostname=DNS_NAME.get_fqdn(), pipelining=conf.get("PIPELINING"),
            observer=self.observer,
            scrub=self.credential.scrubber() if self.credential else NO_SCRUB,
        )

    def tls_context(self):
        """Return the TLS context: the configuration's trust, plus a client certificate."""
        context = tls_context(self.config.verify_certificate, self.config.ca_certificates)
        if self.client_certificate:
            context.load_cert_chain(*self.client_certificate)
        return context

    def open(self):
        """Connect, greet, secure and log in (once); return True when it opened now."""
        if self.dialogue is not None:
            return False
        if self.config.restricted:  # a non-superuser's own configuration
            check_server(self.config)
        dialogue = self.dialogue = self.last_dialogue = self.new_dialogue()
        try:
            with dialogue.within(OPEN_REPLIES * self.config.timeout):
                dialogue.connect()
                dialogue.ehlo()
                if self.config.security == Security.STARTTLS:
                    dialogue.starttls()
                    dialogue.ehlo()  # RFC 3207 §4.2: forget what was said before TLS
                if self.credential is not None:
                    dialogue.login(self.credential)
        except BaseException:
            self.failed_stage = dialogue.stage
            self.discard()
            raise
        return True

    def dsn_plan(self):
        """Return the DSN parameters for the next message on the open connection."""
        plan = DsnPlan()
        notify = notify_value(self.config.dsn_notify)
        if not notify:
            return plan
        if not self.dialogue.has("dsn"):
            plan.note = (
                f"Delivery notifications ({notify}) were requested but the server does "
                "not offer DSN; the message was sent without them."
            )
            return plan
        plan.envelope_id = uuid.uuid4().hex
        plan.dsn_requested = notify
        plan.mail_options = ["RET=HDRS", f"ENVID={plan.envelope_id}"]
        plan.rcpt_options = [f"NOTIFY={notify}"]
        plan.orcpt = True  # RFC 3461 §4.2: reports then name the address we sent to
        return plan

    def deliver(self, from_addr, recipients, data, plan=None, *, hold=False,
                before_replies=None):
        """Send *data* to *recipients* over the connection (opened if needed).

        A kept connection found dead before the message's final "." is replaced
        and the message sent once on the new one; "too many connections" is
        waited out for ``busy_wait`` seconds. After the final "." nothing is
        ever sent again: the outcome is unknown (the caller says so).

        *hold*: when the server pipelines, return after the 354 with the content
        unsent (``Delivery.held``): it travels with the next message's
        MAIL/RCPT/DATA, one round trip per message in a batch (RFC 2920), and
        that deliver() (or :meth:`finish`) fills in this Delivery's outcome.

        *before_replies*: run while the server answers the commands; False withdraws
        the message (:class:`~.dialogue.Withdrawn`, the session closed, never retried).
        """
        busy_until = time.monotonic() + self.busy_wait
        pause = BUSY_PAUSE
        while True:
            reused, self.reused = self.reused, False
            earlier = self.held
            try:
                return self._deliver_once(from_addr, recipients, data, plan, hold,
                                          before_replies)
            except Exception as error:  # Withdrawn, not the server's, is never retried
                # The held message's reply never came, so this one's content never left.
                lost_earlier = earlier is not None and earlier.error is not None
                if (reused or lost_earlier) and self._lost_before_message(error):
                    self.end_session()  # the server closed it while it was kept
                    continue
                if too_many(error) and time.monotonic() + pause < busy_until:
                    self.end_session()  # keeps the lease: our slot is ours
                    time.sleep(pause)
                    pause = min(pause * 2, BUSY_PAUSE_MAX)
                    continue
                mark_outcome_unknown(error, self.failed_stage)
                raise

    def _lost_before_message(self, error):
        # The server's and the socket's errors (smtplib's are OSErrors), not the caller's.
        return isinstance(error, OSError) and self.failed_stage in BEFORE_MESSAGE

    def _deliver_once(self, from_addr, recipients, data, plan, hold=False,
                      before_replies=None):
        self.open()
        if self.lease is not None:
            self.lease.renew_if_due()
        plan = plan or self.dsn_plan()
        dialogue = self.dialogue
        seconds = message_deadline(self.config.timeout, len(recipients), len(data))
        if self.held is not None:  # and the held content and its reply
            seconds += self._held_deadline()
        try:
            with dialogue.within(seconds):
                result = dialogue.send(from_addr, recipients, data, plan.mail_options,
                                       plan.rcpt_options, orcpt=plan.orcpt, hold=hold,
                                       before_replies=before_replies)
        except BaseException as error:
            self.failed_stage = dialogue.stage
            if dialogue.sock is None:  # the dialogue closed it: reconnect next time
                self.dialogue = None
            if isinstance(error, smtplib.SMTPRecipientsRefused):
                # Every recipient refused: the log still names the envelope that was tried.
                error.envelope_id, error.dsn_requested = plan.envelope_id, plan.dsn_requested
            raise
        finally:
            self._settle_held()
        delivery = Delivery(refused=result.refused, dsn_requested=plan.dsn_requested,
                            envelope_id=plan.envelope_id, note=plan.note,
                            pipelined=result.pipelined, held=result.held,
                            reply=str(result.reply) if result.reply else "")
        if result.held:
            self.held, self._held_transaction, self._held_size = delivery, result, len(data)
        return delivery

    def finish(self):
        """Send the held message's content now and read its reply (into its Delivery)."""
        if self.held is None:
            return
        if self.dialogue is not None:
            with self.dialogue.within(self._held_deadline()):
                self.dialogue.finish()
        self._settle_held()

    def _held_deadline(self):
        """Return the seconds the held content and its reply may take: (1 + MiB) × T."""
        return message_deadline(self.config.timeout, 0, self._held_size) - 2 * self.config.timeout

    def _settle_held(self):
        """Copy the held message's outcome to its Delivery once its reply came."""
        transaction = self._held_transaction
        if transaction is None or transaction.held:
            return
        delivery, self.held, self._held_transaction = self.held, None, None
        delivery.held, delivery.error = False, transaction.error
        if delivery.error is not None:  # lost with the held content or its reply
            mark_outcome_unknown(delivery.error, "message")
        delivery.reply = str(transaction.reply) if transaction.reply else ""

    def end_session(self):
        """Say QUIT (within T) and close the session, never raising; keep the lease."""
        dialogue, self.dialogue = self.dialogue, None
        if dialogue is not None:
            with dialogue.within(self.config.timeout):
                dialogue.quit()
        self._settle_held()  # a content still held was never sent

    def discard(self):
        """Close the session (QUIT) and free its connection slot."""
        try:
            self.end_session()
        finally:
            lease, self.lease = self.lease, None
            if lease is not None:
                lease.release()

    close = discard


# The 0.1 development name, kept for imports; "transport" is the configuration's
# smtp/system choice (models.Transport), not this class.
ConfigTransport = SmtpConnection
