"""Who is sending and with which macro values, held in context variables.

Context variables (not thread-locals) keep concurrent requests apart in
threads *and* in async views: each request's task sees only its own user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

#: Who sends: a user, an anonymous user (treated as nobody), a user's pk, or None.
UserLike: TypeAlias = "AbstractBaseUser | AnonymousUser | int | None"

# The authenticated user of the current request, set by CurrentUserMiddleware.
_request_user: ContextVar[Any] = ContextVar("symfonia_mail_request_user", default=None)
# The innermost mail_context(): {"user": ..., "macros": {...}}.
_mail_context: ContextVar[dict[str, Any] | None] = ContextVar(
    "symfonia_mail_context", default=None
)

_UNSET: Any = object()


@contextmanager
def mail_context(user: UserLike = _UNSET, **macros: Any) -> Iterator[None]:
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


def context_macros() -> dict[str, Any]:
    """Return the macro values of the innermost mail_context() (a dict)."""
    current = _mail_context.get()
    macros: dict[str, Any] = current["macros"] if current else {}
    return macros


def current_user() -> UserLike:
    """Return the sending user from mail_context(), else from the request, else None."""
    current = _mail_context.get()
    if current is not None and current["user"] is not _UNSET:
        chosen: UserLike = current["user"]
        return chosen
    user: UserLike = _request_user.get()
    if user is not None and getattr(user, "is_authenticated", False):
        return user
    return None


def user_pk(user: UserLike) -> int | None:
    """Return the pk of *user* (a user or a pk); None for nobody or an anonymous user."""
    if user is None or isinstance(user, int):
        return user
    if not getattr(user, "is_authenticated", True):
        return None
    pk: int | None = user.pk
    return pk


def set_request_user(user: Any) -> Token[Any]:
    """Remember the request's user; return a token for reset_request_user()."""
    return _request_user.set(user)


def reset_request_user(token: Token[Any]) -> None:
    """Forget the request's user set with the matching set_request_user()."""
    _request_user.reset(token)
