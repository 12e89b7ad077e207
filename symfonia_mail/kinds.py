"""Message kinds, the public name: ``from symfonia_mail import kinds``.

The registry itself lives in :mod:`symfonia_mail.content.kinds`, beside the macros
it checks; this module is the stable import path for host projects.
"""

from .content.kinds import DEFAULT_MACROS, Kind, all_kinds, get, register, unregister

__all__ = ["DEFAULT_MACROS", "Kind", "all_kinds", "get", "register", "unregister"]
