"""symfonia_mail: Symfonia ERP's mail configuration for any Django project."""

__version__ = "0.1.0"

__all__ = ["__version__", "mail_context", "mailer", "send_templated"]


def __getattr__(name):
    # Lazy, so that importing the package does not import Django models
    # before the app registry is ready.
    if name == "mail_context":
        from .context import mail_context

        return mail_context
    if name == "mailer":
        from .compat import mailer

        return mailer
    if name == "send_templated":
        from .templates import send_templated

        return send_templated
    raise AttributeError(name)
