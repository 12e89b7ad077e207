"""symfonia_mail: Symfonia ERP's mail configuration for any Django project."""

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = ["__version__", "mail_context", "mailer", "send_templated", "wait_for_log"]

if TYPE_CHECKING:  # type checkers see the real functions; at run time they load lazily
    from .content.templated import send_templated as send_templated
    from .context import mail_context as mail_context
    from .tracking.log_writer import wait_for_log as wait_for_log


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package does not import Django models
    # before the app registry is ready.
    if name == "mail_context":
        from .context import mail_context

        return mail_context
    if name == "mailer":
        from .backends.mailer import mailer

        return mailer
    if name == "send_templated":
        from .content.templated import send_templated

        return send_templated
    if name == "wait_for_log":
        from .tracking.log_writer import wait_for_log

        return wait_for_log
    raise AttributeError(name)
