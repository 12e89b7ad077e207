"""Django admin: Symfonia's "Mail configuration" window, thin and safe.

One module per page: ``base`` (what both configuration pages share),
``config`` (global and per-user configuration), ``templates`` and ``log``.
"""

from .config import GlobalMailConfigAdmin, UserMailConfigAdmin
from .log import MailLogAdmin, ReminderRecordAdmin
from .runs import ReminderRunAdmin
from .templates import MessageTemplateAdmin

__all__ = ["GlobalMailConfigAdmin", "MailLogAdmin", "MessageTemplateAdmin", "ReminderRecordAdmin",
           "ReminderRunAdmin",
           "UserMailConfigAdmin"]
