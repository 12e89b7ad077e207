"""ConfiguredEmailBackend: Django's send_mail through the configuration in the database.

Per message (docs/architecture.md): resolve the configuration -> prepare a copy
(macros, protection, sender, CC/BCC) -> hand it to the system backend or send
it over the configuration's SMTP connection (with DSN) -> record the outcome.
"""

import itertools
import smtplib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends import smtp as django_smtp
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.utils.translation import gettext_noop
from django.views.decorators.debug import sensitive_variables

from .. import conf, signals
from ..background import outbox, ratelimit
from ..compat import base_init_kwargs, make_backend
from ..config import resolver
from ..config.overrides import connection_args
from ..content.message import copy_message, envelope, prepare
from ..context import UserLike, context_macros, current_user, user_pk
from ..exceptions import ConfigurationIncomplete, RecipientsRefused, SendCancelled
from ..mailapi import API_TRANSPORTS, transport_for
from ..mailbox.sent_copy import SentCopies
from ..models import MailLog, Transport
from ..problems import problem_record
from ..smtp import pool as smtp_pool
from ..smtp.connection import SmtpConnection
from ..smtp.dialogue import Withdrawn
from ..tracking.maillog import (
    LogBuffer,
    LogEntry,
    describe_error,
    lost_after_data,
    note_refused,
    record_problem,
)

# Errors after which a connection cannot be trusted for the next message.
_CONNECTION_ERRORS = (smtplib.SMTPServerDisconnected, OSError)
# Why a message failed without an exception of its own: English in MailLog.error,
# msgids in MailLog.problem (shown in the reader's language).
NOT_ATTEMPTED = gettext_noop("Not attempted: an earlier message of the same call failed")
NO_RECIPIENTS = gettext_noop("The message has no recipients.")
SYSTEM_DID_NOT_SEND = gettext_noop("The system mail backend did not send the message.")
NOT_CONNECTED = gettext_noop("Could not connect to the server.")


@dataclass
class _Held:
    """A message whose content waits for the next one's commands (RFC 2920, one write)."""

    delivery: Any  # smtp.connection.Delivery, held until its final reply comes
    smtp: SmtpConnection
    message: EmailMessage
    user: UserLike
    config: Any
    row: MailLog  # not yet saved (tracking.maillog.LogEntry)
    status: signals.SendStatus
    data: bytes
    secrets: tuple


class _ConfigurationMoved(Exception):  # noqa: N818 - internal: never leaves the backend
    """A save came before the message's content left: it is built again from the start."""


class _EarlierFailed(Exception):  # noqa: N818 - internal: never leaves the backend
    """The held message failed: the one being sent goes no further (as if never tried)."""

    def __init__(self, error):
        super().__init__(error)
        self.error = error


class ConfiguredEmailBackend(django_smtp.EmailBackend):
    """Send each message through the mail configuration of its user.

    The user is, in order: ``message.user``, ``get_connection(user=...)``,
    ``mail_context(user=...)``, the request's user (CurrentUserMiddleware).
    Messages of different configurations in one call go to their own servers,
    one reused connection per configuration.
    """

    @sensitive_variables("password", "kwargs")
    def __init__(self, user: UserLike = None, fail_silently: bool = False,
                 background: bool | None = None, *, host: str | None = None,
                 port: int | None = None, username: str | None = None,
                 password: str | None = None, use_tls: bool | None = None,
                 use_ssl: bool | None = None, timeout: float | None = None,
                 ssl_keyfile: str | None = None, ssl_certfile: str | None = None,
                 **kwargs: Any) -> None:
        # Not Django's SMTP __init__: it reads EMAIL_* settings (refused under
        # MAILERS on 6.1) and wants a host; ours come from the database.
        BaseEmailBackend.__init__(self, **base_init_kwargs(kwargs))
        self.fail_silently = fail_silently
        self.user = user
        # None: SYMFONIA_MAIL["BACKGROUND"] decides; False sends now (a worker's own sends).
        self.background = background
        # Django's attributes show the arguments; None: the stored configuration decides.
        # mypy: Django types them str/int; None here means "not overridden".
        self.host, self.port = host, port  # type: ignore[assignment]
        self.username, self.password = username, password  # type: ignore[assignment]
        self.use_tls, self.use_ssl, self.timeout = bool(use_tls), bool(use_ssl), timeout
        self.ssl_keyfile, self.ssl_certfile = ssl_keyfile, ssl_certfile
        # Never ignored: they replace fields of every configuration this instance sends
        # through (overrides.py; docs/integrator-guide.md "Connection arguments").
        self._args = connection_args(
            kwargs.get("alias"), host=host, port=port, username=username, password=password,
            use_tls=use_tls, use_ssl=use_ssl, timeout=timeout, ssl_keyfile=ssl_keyfile,
            ssl_certfile=ssl_certfile,
        )
        self.connection = None  # the open SMTP connection after open(), as Django's
        self._partial_connection = None  # Django's attribute; ours are in _smtp_connections
        self._session: resolver.Session | None = None
        # config key -> SmtpConnection checked out of smtp_pool, least recently used first
        self._smtp_connections: OrderedDict[str, SmtpConnection] = OrderedDict()
        # config key -> the error that made its server unusable
        self._broken: dict[str, BaseException] = {}
        self._system_backend = None
        self._log = LogBuffer()
        # an outbox.Buffer while a background send_messages runs
        self._outbox: outbox.Buffer | None = None
        self._lock = threading.RLock()
        self._status: signals.SendStatus | None = None  # of the message being sent
        # (message, status, user) waiting for post_send
        self._finished: list[tuple[EmailMessage, signals.SendStatus, UserLike]] = []
        # Messages to file in the Sent folder: one IMAP session per configuration and call.
        self._sent_copies = SentCopies()
        # Pipelining across messages: the last message, while its final reply is due.
        self._held: _Held | None = None
        self._sent_late = 0  # held messages found sent (counted by send_messages)

    @property
    def session(self) -> resolver.Session | None:
        """The resolution session while the connection is open (None when closed)."""
        return self._session

    # Django's contract: open() says whether it opened; close() closes what is open.

    def open(self) -> bool | None:
        """Open the connection, as Django's SMTP backend does.

        Return True when it opened, False when it was open already, None when
        connecting failed and ``fail_silently`` swallowed the error. The server
        is connected now when the configuration is known (``user=`` given, or
        no user: the global one); messages of other users connect on demand.
        """
        # Checked now, not deferred: messages built outside with this session
        # (build_templated's connection=) must never use a configuration saved over.
        if self.connection or not self._begin(deferred=False):
            return False
        config = self._config_for(self.user if self.user is not None else current_user())
        if config.transport != Transport.SMTP or self._in_background():
            return True
        try:
            # Django's .connection is an smtplib.SMTP; ours is the open SMTP dialogue.
            self.connection = self._smtp_connection(config).dialogue
        except (smtplib.SMTPException, OSError):
            if not self.fail_silently:
                self.close()
                raise
            return None
        return True

    def _in_background(self):
        return conf.get("BACKGROUND") if self.background is None else self.background

    def _begin(self, *, deferred=True):
        """Start a resolution session; False if started.

        Its freshness query is *deferred* (resolver.Session): an SMTP message runs
        it while the server answers its commands, anything else just before it
        is committed (:meth:`_confirm`).
        """
        if self._session is not None:
            return False
        self._session = resolver.Session(deferred=deferred)
        return True

    def _confirm(self):
        """Raise _ConfigurationMoved when a save came since the session began."""
        if not self._session.confirm():
            self._forget_connections()
            raise _ConfigurationMoved()

    def _forget_connections(self):
        """Close the SMTP connections opened for configurations that were saved over."""
        self._settle_held(raising=False)
        for smtp in self._smtp_connections.values():
            smtp.discard()
        self._smtp_connections = OrderedDict()
        self._broken = {}
        self.connection = None

    def _config_for(self, user):
        """Return the configuration for *user* with the connection arguments applied."""
        return self._args.apply(self._session.config_for(user))

    def close(self) -> None:
        """Give back every SMTP connection of this session (kept alive) and write the log."""
        try:
            self._settle_held(raising=False)
            for smtp in self._smtp_connections.values():
                smtp_pool.checkin(smtp)
            if self._system_backend is not None:
                self._system_backend.close()
        finally:
            self._smtp_connections = OrderedDict()
            self.connection = None
            self._broken = {}
            self._system_backend = None
            self._session = None
            self._flush_log()

    def send_messages(self, email_messages: Iterable[EmailMessage]) -> int:
        """Send *email_messages*; return how many were delivered to a server.

        The input is read in chunks (``LOG_BATCH_SIZE`` messages): each chunk's
        configurations are resolved with one query, and its log rows are
        written before the next chunk is read, so a generator of any length
        is sent in flat memory.
        """
        chunks = _chunks(email_messages, conf.get("LOG_BATCH_SIZE"))
        first = next(chunks, None)
        if not first:
            return 0
        with self._lock:
            opened = self._begin()  # connections are made per configuration, on demand
            if self._in_background():
                self._outbox = outbox.Buffer()
            try:
                sent = 0
                for chunk in itertools.chain([first], chunks):
                    sent += self._send_chunk(chunk, chunks)
                return sent
            finally:
                if self._outbox is not None:
                    # Queued messages are written even when a later one failed.
                    buffer, self._outbox = self._outbox, None
                    buffer.flush()
                # After the sends, never before: the copy may not delay or fail a send.
                self._sent_copies.close()
                if opened:
                    self.close()
                else:
                    self._flush_log()

    def _send_chunk(self, chunk, later_chunks):
        self._session.prefetch(self._user_for(message) for message in chunk)
        sent = self._sent_late = 0
        for index, message in enumerate(chunk):
            try:
                sent += self._send_one(message)
                if index == len(chunk) - 1:
                    self._settle_held()  # its reply, before the log and post_send
            except Exception as exc:
                error = exc.error if isinstance(exc, _EarlierFailed) else exc
                self._settle_held(raising=False)
                # Django stops at the first error; the rest are logged, not lost.
                self._log_not_attempted(chunk[index + 1:], error)
                for rest in later_chunks:
                    self._log_not_attempted(rest, error)
                if error is not exc:  # the held message's own error, as without pipelining
                    raise error from error.__cause__
                raise
        # This chunk's rows are written and its messages released before the next is read.
        if self._outbox is not None:
            self._outbox.flush()
        self._flush_log()
        self._sent_copies.flush()  # the chunk's bytes are released with the chunk
        return sent + self._sent_late

    # The pipeline, one message at a time.

    # Django's error reports print local variables. sensitive_variables hides these in
    # the admin e-mails only: with DEBUG = True Django turns it off, so the passwords
    # themselves travel as secret.Secret objects, whose repr is masked.
    def _send_one(self, message):
        try:
            return self._send_once(message)
        except _ConfigurationMoved:
            # Nothing of it left; the session is checked now, so this happens once.
            return self._send_once(message)

    @sensitive_variables("config", "secrets")
    def _send_once(self, message):
        user = self._user_for(message)
        config = self._config_for(user)
        row = _log_entry(message, user, config)
        status = self._status = message.symfonia_status = signals.SendStatus(_entry=row)
        secrets = (config.password, config.attachment_password)
        moved = False
        try:
            if self._held is not None and self._held.config.key != config.key:
                self._settle_held()  # pipelining goes on only through the same connection
            working = _run_pre_send(type(self), message, user, config)
            prepared = prepare(working, config, user=user, context_macros=context_macros())
            row.subject = prepared.subject
            if config.transport == Transport.SYSTEM:
                self._confirm()
                return self._hand_to_system(prepared, row, secrets)
            sent = self._send_smtp(prepared, config, row, secrets)
            if self._held is not None and self._held.row is row:
                self._held.message, self._held.user, self._held.status = message, user, status
            return sent
        except _ConfigurationMoved:
            moved = True
            raise
        except _EarlierFailed as earlier:
            # The message before failed: Django's contract stops there, before this one.
            self._fail(row, NOT_ATTEMPTED, secrets, cause=earlier.error)
            raise
        except SendCancelled as exc:
            row.status, row.error = MailLog.Status.CANCELLED, str(exc)
            self._log.add(row, secrets)
            return 0
        except Exception as exc:
            if self._record_failure(row, status, secrets, exc):
                return 0
            raise
        finally:
            self._status = None
            # A held message is settled when its reply comes; a moved one is sent again.
            if not moved and (self._held is None or self._held.row is not row):
                self._settle_status(message, status, row, user)

    def _record_failure(self, row, status, secrets, exc):
        """Log a failed message; return True when ``fail_silently`` swallows *exc*."""
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            status.refused = signals.decode_refused(exc.recipients)
        if not row.status:  # not yet recorded (a partial refusal already is)
            row.status = MailLog.Status.FAILED
            if not row.error:
                record_problem(row, exc)
            if getattr(exc, "symfonia_stage", "") == "message":
                # Sent whole, no reply (smtp.connection.mark_outcome_unknown): the server
                # may have taken it. Unknown, as a worker records it; never resent.
                row.status = MailLog.Status.UNKNOWN
                row.error, row.problem = lost_after_data(row.error, row.problem)
            self._log.add(row, secrets)
        return self.fail_silently and isinstance(exc, smtplib.SMTPException | OSError)

    def _settle_status(self, message, status, row, user):
        signals.settle(status, row)
        if status.status != MailLog.Status.QUEUED:  # else the worker sends post_send
            self._finished.append((message, status, user))

    def _settle_held(self, *, raising=True):
        """Record the held message once its final reply came (reading it now if not yet).

        Its failure raises _EarlierFailed unless ``fail_silently`` (or *raising* False).
        """
        held, self._held = self._held, None
        if held is None:
            return
        if held.delivery.held:
            held.smtp.finish()
        outer, self._status = self._status, held.status
        try:
            self._sent_late += self._completed(held.smtp, held.config, held.row,
                                               held.delivery, held.data, held.secrets)
        except Exception as exc:
            if not self._record_failure(held.row, held.status, held.secrets, exc) and raising:
                # The next message may be waiting on this connection: it must never go.
                self._drop(held.smtp, held.config)
                raise _EarlierFailed(exc) from exc
        finally:
            self._status = outer
            self._settle_status(held.message, held.status, held.row, held.user)

    @sensitive_variables("config")
    def _log_not_attempted(self, messages, exc):
        self._session.prefetch(self._user_for(message) for message in messages)
        for message in messages:
            user = self._user_for(message)
            config = self._config_for(user)
            row = _log_entry(message, user, config)
            row.recipients = ", ".join(map(str, message.recipients()))
            status = message.symfonia_status = signals.SendStatus(_entry=row)
            self._fail(row, NOT_ATTEMPTED, (config.password, config.attachment_password),
                       cause=exc)
            self._finished.append((message, signals.settle(status, row), user))

    @sensitive_variables("config", "secrets")
    def _send_smtp(self, prepared, config, row, secrets):
        from_addr, recipients, data, message_id = envelope(prepared)
        row.sender, row.recipients, row.message_id = from_addr, ", ".join(recipients), message_id
        if not recipients:
            # Django's backend skips such a message without an error; we say why.
            return self._fail(row, NO_RECIPIENTS, secrets)
        if self._outbox is not None:
            self._confirm()
            return self._outbox.add(row, config, from_addr, recipients, data)
        if config.rate_limit:
            ratelimit.acquire(config.key, config.rate_limit)
        smtp = self._transport(config)
        try:
            try:
                if isinstance(smtp, SmtpConnection):
                    # The freshness query runs while the server answers the commands.
                    check = None if self._session.confirmed else self._session.confirm
                    delivery = smtp.deliver(from_addr, recipients, data, hold=True,
                                            before_replies=check)
                else:
                    self._confirm()
                    delivery = smtp.deliver(from_addr, recipients, data)
            finally:
                self._settle_held()  # the message before: its reply came with these commands
        except Withdrawn:
            self._forget_connections()  # the saved configuration may name another server
            raise _ConfigurationMoved() from None
        except smtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused: the log keeps the envelope that was tried.
            note_refused(row, exc.recipients)
            row.envelope_id = getattr(exc, "envelope_id", "")
            row.dsn_requested = getattr(exc, "dsn_requested", "")
            if isinstance(exc, RecipientsRefused):
                exc.message_id = message_id
                raise
            raise RecipientsRefused(exc.recipients, message_id) from exc
        except _CONNECTION_ERRORS:
            self._drop(smtp, config)
            raise
        row.dsn_requested, row.envelope_id, row.note = (
            delivery.dsn_requested, delivery.envelope_id, delivery.note,
        )
        if getattr(delivery, "held", False):
            if not delivery.refused:  # its outcome comes with the next message's commands
                self._held = _Held(delivery, smtp, None, None, config, row, None, data, secrets)
                return 0
            smtp.finish()  # partly refused: the outcome now (it may raise), as before
        return self._completed(smtp, config, row, delivery, data, secrets)

    def _completed(self, smtp, config, row, delivery, data, secrets):
        """Record a message whose final reply came: sent or partial; or raise its error."""
        error = getattr(delivery, "error", None)
        if error is not None:
            if isinstance(error, _CONNECTION_ERRORS) and smtp.dialogue is None:
                self._drop(smtp, config)
            raise error
        self._sent_copies.add(config, data)
        return self._record_delivery(row, delivery.refused, secrets)

    def _drop(self, smtp, config):
        """Close *smtp* for good: the next message of this configuration reconnects."""
        smtp.discard()
        if self._smtp_connections.get(config.key) is smtp:
            del self._smtp_connections[config.key]

    def _fail(self, row, reason, secrets, *, cause=None):
        """Log *row* as failed for *reason* (a msgid) and its *cause*; nothing was sent."""
        row.status, row.problem = MailLog.Status.FAILED, {"msgid": reason}
        row.error = reason
        if cause is not None:
            row.error = f"{reason} ({describe_error(cause)})"
            row.problem["cause"] = problem_record(cause, text=describe_error(cause))
        self._log.add(row, secrets)
        return 0

    def _record_delivery(self, row, refused, secrets):
        """Log a message the server took; raise for refused recipients unless silent."""
        if refused:
            if self._status is not None:
                self._status.refused = signals.decode_refused(refused)
            row.status = MailLog.Status.PARTIAL
            note_refused(row, refused)
            record_problem(row, RecipientsRefused(refused))  # replies and the hint
            self._log.add(row, secrets)
            if not self.fail_silently:
                raise RecipientsRefused(refused, row.message_id, delivered=True)
            return 1
        row.status = MailLog.Status.SENT
        self._log.add(row, secrets)
        return 1

    @sensitive_variables("secrets")
    def _hand_to_system(self, prepared, row, secrets):
        backend = self._system()
        # Name the message now, so that the log and the system route agree on its id.
        prepared.extra_headers.setdefault("Message-ID", make_msgid(domain=DNS_NAME))
        row.server = conf.get("SYSTEM_BACKEND")
        row.message_id = prepared.extra_headers["Message-ID"]
        if _is_django_smtp(backend):
            return self._send_through_django_smtp(backend, prepared, row, secrets)
        row.sender = prepared.from_email or ""
        row.recipients = ", ".join(prepared.recipients())
        sent = backend.send_messages([prepared])
        if not sent:
            return self._fail(row, SYSTEM_DID_NOT_SEND, secrets)
        row.status = MailLog.Status.SENT
        row.note = f"Handed to {row.server}, which does not report refused recipients."
        self._log.add(row, secrets)
        return sent

    def _send_through_django_smtp(self, backend, prepared, row, secrets):
        """Send over Django's own SMTP backend, keeping the refusals it would drop.

        Django's ``_send`` discards the refused recipients that ``sendmail``
        returns (docs/architecture.md); we use its stable seams, ``open()`` and
        ``connection``, and call ``sendmail`` ourselves.
        """
        from_addr, recipients, data, _message_id = envelope(prepared)
        row.sender, row.recipients = from_addr, ", ".join(recipients)
        if not recipients:
            return self._fail(row, NO_RECIPIENTS, secrets)
        backend.open()
        if backend.connection is None:  # fail_silently swallowed the connection error
            return self._fail(row, NOT_CONNECTED, secrets)
        try:
            refused = backend.connection.sendmail(from_addr, recipients, data)
        except smtplib.SMTPRecipientsRefused as exc:
            note_refused(row, exc.recipients)
            # Django's backend raises smtplib's own: ours, as on the SMTP route.
            raise RecipientsRefused(exc.recipients, row.message_id) from exc
        return self._record_delivery(row, refused, secrets)

    # Helpers.

    def _flush_log(self):
        """Write the pending log rows, then send post_send (the rows have their ids)."""
        try:
            self._log.flush()
        finally:
            finished, self._finished = self._finished, []
            for message, status, user in finished:
                signals.post_send.send(type(self), message=message, status=status, user=user)

    def _user_for(self, message):
        user = getattr(message, "user", None)
        if user is not None:
            return user
        return self.user if self.user is not None else current_user()

    def _transport(self, config):
        """Return what sends for *config*: its mailbox API, or its SMTP connection."""
        if config.transport in API_TRANSPORTS:
            return transport_for(config)  # its HTTP pool is per process, nothing to keep
        return self._smtp_connection(config)

    def _smtp_connection(self, config):
        """Return the open connection for *config*, connecting on first use.

        When connecting or logging in fails, the rest of this batch fails fast
        with the same error: no second timeout, no second failed login
        (providers lock mailboxes after a few).
        """
        if config.key in self._broken:
            raise self._broken[config.key]
        connections = self._smtp_connections
        smtp = connections.get(config.key)
        if smtp is not None:
            connections.move_to_end(config.key)  # most recently used last
            return smtp
        # At most MAX_CONNECTIONS stay open: a batch for 1,000 users must not hold
        # 1,000 sockets (the usual limit is 1,024 open files per process).
        while len(connections) >= max(conf.get("MAX_CONNECTIONS"), 1):
            _key, oldest = connections.popitem(last=False)
            oldest.discard()  # not kept: the pool would hold MAX_CONNECTIONS more
        if not config.host:
            # Never Django's fallback to EMAIL_HOST: say which configuration to fill in.
            raise ConfigurationIncomplete(config.label)
        try:
            # A connection kept from an earlier call, or a new one (smtp_pool): never
            # opened with a configuration saved over since the session began.
            smtp = smtp_pool.checkout(
                config, token=self._session.cache.token,
                client_certificate=self._args.client_certificate,
                before_opening=None if self._session.confirmed else self._confirm)
        except _ConfigurationMoved:
            raise
        except Exception as exc:
            self._broken[config.key] = exc
            raise
        connections[config.key] = smtp
        return smtp

    def _system(self):
        if self._system_backend is None:
            self._system_backend = make_backend(
                conf.get("SYSTEM_BACKEND"), fail_silently=self.fail_silently
            )
        return self._system_backend


def _run_pre_send(sender, message, user, config):
    """Return the backend's working copy of *message* after the pre_send receivers."""
    if not signals.pre_send.has_listeners(sender):
        return message  # prepare() copies it anyway
    working = copy_message(message)
    signals.pre_send.send(sender, message=working, user=user, config=config)
    return working


def _chunks(messages, size):
    """Yield lists of at most *size* messages from any iterable, lazily."""
    iterator = iter(messages)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _log_entry(message, user, config):
    """Start the log entry of *message*, sent as *user* through *config*."""
    return LogEntry(
        scope=config.scope, config_user_id=config.user_id, sent_by_id=user_pk(user),
        transport=config.transport, server=config.server,
        subject=str(message.subject or "")[:2000],
    )


def _is_django_smtp(backend):
    return type(backend) is django_smtp.EmailBackend
