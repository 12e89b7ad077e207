"""Check a configuration's mailbox for Test SMTP: login, reports folder, Sent folder.

Returns plain outcomes (:class:`Outcome`); the Test SMTP report turns them
into its steps. Nothing is written to the mailbox: folders are opened with
EXAMINE (read-only).
"""

import imaplib
import time
from dataclasses import dataclass

from ..exceptions import MailboxError, OAuthError, ServerNotAllowed
from ..problems import classify
from . import sent_copy
from .folders import quoted, sent_folder
from .imap import ImapSession

OK, WARNING, SKIPPED, FAILED = "ok", "warning", "skipped", "failed"


@dataclass
class Outcome:
    """One step of the mailbox check."""

    name: str  # imap_login | imap_reports | imap_sent
    status: str
    seconds: float
    detail: str = ""
    reply: str = ""
    code: str = ""


def problem_code(error):
    """Return the CODES key for a mailbox failure."""
    if isinstance(error, MailboxError):
        cause = error.cause
        if isinstance(cause, imaplib.IMAP4.error) and not isinstance(cause, imaplib.IMAP4.abort):
            return {"login": "imap_login_refused", "select": "imap_folder_missing"}.get(
                error.stage, "imap_error")
        if cause is not None:
            return classify(cause)[0]
        return "imap_error"
    return classify(error)[0]


def check_mailbox(config, *, record=False):
    """Log in to *config*'s mailbox and find its folders; return the Outcomes."""
    login = config.imap_username or config.username
    detail = f"{config.imap_server}, {config.imap_security}, {login}"
    outcomes = []
    started = time.perf_counter()
    session = ImapSession(config, record=record, retry=False)
    try:
        session.open()
    except (MailboxError, OAuthError, ServerNotAllowed) as error:
        outcomes.append(Outcome("imap_login", FAILED, time.perf_counter() - started, detail,
                                str(error), problem_code(error)))
        return outcomes
    try:
        outcomes.append(Outcome("imap_login", OK, time.perf_counter() - started, detail))
        outcomes.append(_reports_folder(session, config))
        outcomes.append(_sent_folder(session, config))
    finally:
        session.close()
    return outcomes


def _reports_folder(session, config):
    started = time.perf_counter()
    folder = config.reports_folder or "INBOX"
    try:
        with session.step("select"):
            kind, data = session.imap.select(quoted(folder), readonly=True)
            if kind != "OK":
                raise imaplib.IMAP4.error(b" ".join(d for d in data if d).decode(
                    errors="replace"))
    except MailboxError as error:
        return Outcome("imap_reports", FAILED, time.perf_counter() - started, folder,
                       str(error), problem_code(error))
    count = int((data or [b"0"])[-1] or 0)
    return Outcome("imap_reports", OK, time.perf_counter() - started, folder,
                   f"{count} message(s)")


def _sent_folder(session, config):
    started = time.perf_counter()
    try:
        names = session.folders()
    except MailboxError as error:
        return Outcome("imap_sent", FAILED, time.perf_counter() - started, "", str(error),
                       problem_code(error))
    seconds = time.perf_counter() - started
    if config.sent_folder:  # the one named in the configuration must exist
        found = next((f.name for f in names if f.name == config.sent_folder), None)
    else:
        found = sent_folder(names)
    if found:
        return Outcome("imap_sent", OK, seconds, found)
    if sent_copy.wanted(config):
        return Outcome("imap_sent", FAILED, seconds, code="imap_sent_missing")
    return Outcome("imap_sent", SKIPPED, seconds, code="imap_sent_missing")

