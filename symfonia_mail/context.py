"""Who is sending and with which macro values, held in context variables.

Context variables (not thread-locals) keep concurrent requests apart in
threads *and* in async views: each request's task sees only its own user.
"""

from contextlib import contextmanager
from contextvars import ContextVar

# The authenticated user of the current request, set by CurrentUserMiddleware.
_request_user = ContextVar("symfonia_mail_request_user", default=None)
# The innermost mail_context(): {"user": ..., "macros": {...}}.
_mail_context = ContextVar("symfonia_mail_context", default=None)

_UNSET = object()


@contextmanager
def mail_context(user=_UNSET, **macros):
    """Send mail inside this block as *user*, with *macros* filled in.

    Blocks nest: an inner block's values win, and an inner block without
    ``user=`` keeps the outer user.
    """
    outer = _mail_context.get() or {"user": _UNSET, "macros": {}}
    inner = {
        "user": outer["user"] if user is _UNSET else user,
        "macros": {**outer["macros"], **macros},
    }
    token = _mail_context.set(inner)
    try:
        yield
    finally:
        _mail_context.reset(token)


def context_macros():
    """Return the macro values of the innermost mail_context() (a dict)."""
    current = _mail_context.get()
    return current["macros"] if current else {}


def current_user():
    """Return the sending user from mail_context(), else from the request, else None."""
    current = _mail_context.get()
    if current is not None and current["user"] is not _UNSET:
        return current["user"]
    user = _request_user.get()
    if user is not None and getattr(user, "is_authenticated", False):
        return user
    return None


def set_request_user(user):
    """Remember the request's user; return a token for reset_request_user()."""
    return _request_user.set(user)


def reset_request_user(token):
    _request_user.reset(token)
