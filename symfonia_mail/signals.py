"""Extension points: the ``pre_send`` and ``post_send`` signals and the send status.

``pre_send`` is sent for each message before macros are filled and attachments
protected, with the backend's working copy of the message: a receiver may
change it (add a header, an attachment, which is then protected like any
other) without touching the caller's object, or cancel the message by raising
:class:`symfonia_mail.exceptions.SendCancelled` (logged with status
``cancelled``, counted as not sent, never raised to the caller).

``delivery_report`` is sent once per new delivery event of a message (what a
delivery report, or the server at send time, said about one recipient).

``post_send`` is sent once per message with its final outcome, whether the
backend was silent or not; for background sends, in the worker once the
message is sent or given up. After sending, the caller's message carries a
:class:`SendStatus` as ``message.symfonia_status``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.dispatch import Signal

from .pending_log import pending
from .replies import reply_text

__all__ = ["SendStatus", "delivery_report", "post_send", "pre_send"]

#: Sent before macros and protection; kwargs: ``message`` (the working copy),
#: ``user``, ``config`` (the resolved configuration). Raise SendCancelled to cancel.
pre_send = Signal()

#: Sent with the final outcome, once its MailLog row is written; kwargs: ``message``
#: (the caller's message, or None in a background worker), ``status`` (a SendStatus),
#: ``user`` (None in a worker).
post_send = Signal()

#: Sent once per new DeliveryEvent (a delivery report read, or a recipient refused at
#: send time); kwargs: ``maillog`` (the MailLog row), ``event`` (the DeliveryEvent).
#: A host project can mark an address as bad when ``event.action == "failed"``.
delivery_report = Signal()


@dataclasses.dataclass(eq=False)
class SendStatus:
    """What happened to one message: its ids, its status and the refused recipients.

    ``status`` is a ``MailLog.Status`` value (``sent``, ``partial``, ``failed``,
    ``cancelled``, or ``queued`` for a background send). ``refused`` maps each
    refused address to the server's ``(code, reply text)``. ``maillog_id`` is
    the id of the message's MailLog row once it is written (None before, or
    when the row could not be written).
    """

    message_id: str = ""
    status: str = ""
    refused: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    envelope_id: str = ""
    error: str = ""
    # The pending MailLog row: its id exists only after the bulk insert.
    _entry: Any = dataclasses.field(default=None, repr=False)
    _maillog_id: int | None = dataclasses.field(default=None, repr=False)

    @property
    def maillog_id(self) -> int | None:
        """Return the id of the MailLog row of this message, once it is written.

        A row with the log writer (tracking/log_writer.py) is waited for.
        """
        if self._maillog_id is None and self._entry is not None:
            ticket = getattr(self._entry, "log_ticket", None)
            if ticket is not None:
                pending.wait_to_read(ticket)
            self._maillog_id = getattr(self._entry, "pk", None)
        return self._maillog_id

    @maillog_id.setter
    def maillog_id(self, value: int | None) -> None:
        self._maillog_id = value

    @property
    def delivered(self) -> bool:
        """Return whether the server (or the outbox) took the message."""
        return self.status in ("sent", "partial", "queued")


def decode_refused(refused: dict[str, tuple[int, bytes | str]]) -> dict[str, tuple[int, str]]:
    """Return smtplib's refused recipients with the replies as text."""
    return {address: (code, reply_text(reply)) for address, (code, reply) in refused.items()}


def settle(status: SendStatus, entry: Any) -> SendStatus:
    """Copy the outcome recorded in log *entry* to *status*; return *status*."""
    status.status = str(entry.status)
    status.message_id = entry.message_id
    status.envelope_id = entry.envelope_id
    status.error = entry.error
    return status
