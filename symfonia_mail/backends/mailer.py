"""``symfonia_mail.mailer()``: the backend that sends as a given user, on any Django."""

from ..compat import HAS_MAILERS
from .configured import ConfiguredEmailBackend


def mailer(using=None, *, user=None, **options):
    """Return a ConfiguredEmailBackend that sends as *user*.

    The Django 6.1 counterpart of ``get_connection(user=...)``: on 6.1
    ``mailers[using]`` (default "default") with its user set; before 6.1
    ``get_connection(user=user, **options)``.
    """
    if HAS_MAILERS:
        if options:
            raise TypeError("On Django 6.1+ a mailer's options come from MAILERS OPTIONS.")
        from django.core.mail import mailers

        backend = mailers[using or "default"]
    else:
        if using is not None:
            raise TypeError("'using' needs Django 6.1+ (MAILERS).")
        from django.core.mail import get_connection

        backend = get_connection(**options)
    if not isinstance(backend, ConfiguredEmailBackend):
        raise TypeError(f"{type(backend).__name__} is not ConfiguredEmailBackend: "
                        "it cannot send as a user.")
    backend.user = user
    return backend
