"""The models (``symfonia_mail.models``, every one importable from here): declarative only.

One module per subject: the configuration (``config``, with the ``choices`` it and the
log share), message templates, the log and its delivery events, the mailbox's reading
position, background sending, payment reminders. No SMTP, PDF or ZIP work here.
"""

from .background import OutboxMessage, SendRateWindow, SmtpConnectionLease
from .choices import API_SIGN_IN, AuthMethod, Scope, Security, SentCopy, Transport
from .config import (
    TENANT_RE,
    ConfigRevision,
    GlobalMailConfig,
    MailSettings,
    UserMailConfig,
    api_sign_in_problems,
    oauth_problems,
)
from .log import DeliveryEvent, MailLog
from .mailbox import ReportCursor
from .message_templates import MessageTemplate
from .reminders import ReminderRecord, ReminderRun

__all__ = [
    "API_SIGN_IN", "TENANT_RE", "AuthMethod", "ConfigRevision", "DeliveryEvent",
    "GlobalMailConfig", "MailLog", "MailSettings", "MessageTemplate", "OutboxMessage",
    "ReminderRecord", "ReminderRun", "ReportCursor", "Scope", "Security", "SendRateWindow",
    "SentCopy", "SmtpConnectionLease", "Transport", "UserMailConfig", "api_sign_in_problems",
    "oauth_problems",
]
