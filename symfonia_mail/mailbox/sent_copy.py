"""The Sent copy: each sent message appended to the mailbox's Sent folder (IMAP APPEND).

What Symfonia's MAPI option gave its users: the reminder shows in their
Outlook. It never fails or delays a send: it runs after the message was
accepted, and a failure is one log line (the MailLog row stays ``sent``).
Synchronous sends file a batch's messages in one IMAP session per
configuration; background sends file each message in its delivery task.
"""

import logging

from ..exceptions import MailboxError, OAuthError, ServerNotAllowed
from ..models import SentCopy
from .imap import ImapSession

logger = logging.getLogger("symfonia_mail")

# Servers that file a copy of what they send themselves (an APPEND would double it).
OWN_COPY_HOSTS = ("smtp.office365.com", "outlook.office365.com", "outlook.office.com",
                  "smtp-mail.outlook.com", "imap-mail.outlook.com", "smtp.gmail.com",
                  "imap.gmail.com", "smtp.googlemail.com", "imap.googlemail.com")
OWN_COPY_DOMAINS = (".office365.com", ".outlook.com", ".gmail.com", ".googlemail.com")
OWN_COPY_TRANSPORTS = ("microsoft_graph", "gmail_api")
# Pending copies are appended once they hold this many bytes (large attachments in a
# 500-message chunk would otherwise all sit in memory); the session stays open.
PENDING_BYTES = 8 * 1024 * 1024


def files_own_copy(config):
    """Return whether *config*'s server keeps its own copy of sent mail (Microsoft 365, Gmail)."""
    if config.transport in OWN_COPY_TRANSPORTS:
        return True
    for host in (config.host, config.imap_host):
        name = (host or "").strip().lower().rstrip(".")
        if name in OWN_COPY_HOSTS or name.endswith(OWN_COPY_DOMAINS):
            return True
    return False


def wanted(config):
    """Return whether messages sent through *config* are appended to its Sent folder."""
    if not config.imap_host or config.sent_copy == SentCopy.NEVER:
        return False
    return config.sent_copy == SentCopy.ALWAYS or not files_own_copy(config)


def _reason(error):
    # MailboxError and OAuthError texts name no secret (scrubbed, or made without one).
    if isinstance(error, MailboxError | OAuthError | ServerNotAllowed):
        return str(error)
    return type(error).__name__


class SentCopies:
    """Sent messages of one batch, filed per configuration in one IMAP session each."""

    def __init__(self):
        self.pending = {}  # config key -> (config, [message bytes])
        self.sessions = {}  # config key -> (open ImapSession, Sent folder)
        self.broken = set()  # config keys whose mailbox failed in this batch
        self.filed = 0
        self.pending_bytes = 0

    def add(self, config, data):
        """Remember *data* (the bytes sent) for *config* when it wants a Sent copy."""
        if wanted(config) and config.key not in self.broken:
            self.pending.setdefault(config.key, (config, []))[1].append(data)
            self.pending_bytes += len(data)
            if self.pending_bytes >= PENDING_BYTES:
                self.flush()

    def flush(self):
        """Append what is pending; a failing mailbox is logged once and skipped after.

        A session kept from an earlier flush that fails (the server closed it
        while idle) is replaced once by a fresh one.
        """
        pending, self.pending, self.pending_bytes = self.pending, {}, 0
        for key, (config, messages) in pending.items():
            done = 0
            for fresh in (False, True):
                reused = key in self.sessions
                try:
                    session, folder = self._session(config)
                    for data in messages[done:]:
                        session.append(folder, data)
                        done += 1
                        self.filed += 1
                    break
                except Exception as error:  # noqa: BLE001 - the send succeeded; never fail it
                    self._drop(key)
                    if reused and not fresh:
                        continue
                    self.broken.add(key)
                    logger.warning("Sent copy not filed for %d message(s) of %s: %s",
                                   len(messages) - done, config.label, _reason(error))
                    break

    def _session(self, config):
        kept = self.sessions.get(config.key)
        if kept is not None:
            return kept
        session = ImapSession(config)
        try:
            session.open()
            folder = session.sent_folder()
        except BaseException:
            session.close()
            raise
        if folder is None:
            session.close()
            raise MailboxError("list", f"IMAP {config.imap_server}: no Sent folder found; "
                                       "name one in the configuration.")
        self.sessions[config.key] = (session, folder)
        return session, folder

    def _drop(self, key):
        kept = self.sessions.pop(key, None)
        if kept is not None:
            kept[0].close()

    def close(self):
        """File what is pending and log out of every session."""
        try:
            self.flush()
        finally:
            for key in list(self.sessions):
                self._drop(key)


def file_copy(config, data, copies=None):
    """Append one sent message for *config* now (the background task); never raise.

    *copies*: a SentCopies kept by the caller (a worker's open sessions); by
    default a new one, closed after.
    """
    own = copies is None
    copies = SentCopies() if own else copies
    before = copies.filed
    copies.add(config, data)
    if own:
        copies.close()
    else:
        copies.flush()
        copies.broken.clear()  # the next message tries again (a kept worker's copier)
    return copies.filed - before
