"""The public API is annotated (py.typed promises it); mypy checks it in `make typecheck`."""

import inspect

import pytest

import symfonia_mail
from symfonia_mail import context, exceptions, reports, signals
from symfonia_mail.backends import configured as backends
from symfonia_mail.content import templated
from symfonia_mail.diagnostics import smtp_test as diagnostics
from symfonia_mail.reminders import sending as reminders

PUBLIC = [
    context.mail_context,
    templated.build_templated,
    templated.send_templated,
    templated.preview,
    reminders.send_reminders,
    diagnostics.run_smtp_test,
    backends.ConfiguredEmailBackend.__init__,
    backends.ConfiguredEmailBackend.open,
    backends.ConfiguredEmailBackend.close,
    backends.ConfiguredEmailBackend.send_messages,
    backends.ConfiguredEmailBackend.session.fget,
    context.user_pk,
    signals.decode_refused,
    signals.settle,
    signals.SendStatus.maillog_id.fget,
    reports.parse_report,
    reports.apply_report,
]


def missing_annotations(function):
    """Return the parameters (and "return") of *function* that have no annotation."""
    function = inspect.unwrap(function)
    signature = inspect.signature(function)
    missing = [name for name, parameter in signature.parameters.items()
               if name not in ("self", "cls") and parameter.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


EXCEPTIONS = [cls for cls in vars(exceptions).values()
              if isinstance(cls, type) and issubclass(cls, Exception)
              and cls.__module__ == exceptions.__name__]
PUBLIC += [cls.__init__ for cls in EXCEPTIONS if "__init__" in vars(cls)]


@pytest.mark.parametrize("function", PUBLIC, ids=lambda f: f.__qualname__)
def test_public_function_is_fully_annotated(function):
    assert missing_annotations(function) == []


def test_lazy_package_attributes_are_the_annotated_functions():
    assert symfonia_mail.mail_context is context.mail_context
    assert symfonia_mail.send_templated is templated.send_templated



def test_the_0_1_import_paths_still_work():
    """Renamed in 0.1.0 (docs/architecture.md); the old names stay valid."""
    from symfonia_mail import templates
    from symfonia_mail.config import resolver
    from symfonia_mail.templates import build_templated, preview, send_templated

    assert templates is templated
    assert (build_templated, preview, send_templated) == (
        templated.build_templated, templated.preview, templated.send_templated
    )
    assert resolver.from_settings is resolver.from_model
    from symfonia_mail.smtp.connection import ConfigTransport, SmtpConnection

    assert ConfigTransport is SmtpConnection
