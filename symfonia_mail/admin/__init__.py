"""Django admin: Symfonia's "Mail configuration" window, thin and safe.

One module per page: ``base`` (what both configuration pages share),
``config`` (global and per-user configuration), ``message_templates``, ``log`` and
``runs``; ``own_rows`` holds the "own rows only" rule, ``oauth`` the sign-in buttons.
"""

from .config import GlobalMailConfigAdmin, UserMailConfigAdmin
from .log import MailLogAdmin, ReminderRecordAdmin
from .message_templates import MessageTemplateAdmin
from .runs import ReminderRunAdmin

__all__ = ["GlobalMailConfigAdmin", "MailLogAdmin", "MessageTemplateAdmin", "ReminderRecordAdmin",
           "ReminderRunAdmin",
           "UserMailConfigAdmin"]
