"""The public API is annotated (py.typed promises it); mypy checks it in `make typecheck`."""

import inspect

import pytest

import symfonia_mail
from symfonia_mail import context, reminders, signals, templates

PUBLIC = [
    context.mail_context,
    templates.build_templated,
    templates.send_templated,
    templates.preview,
    reminders.send_reminders,
    signals.decode_refused,
    signals.settle,
    signals.SendStatus.maillog_id.fget,
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


@pytest.mark.parametrize("function", PUBLIC, ids=lambda f: f.__qualname__)
def test_public_function_is_fully_annotated(function):
    assert missing_annotations(function) == []


def test_lazy_package_attributes_are_the_annotated_functions():
    assert symfonia_mail.mail_context is context.mail_context
    assert symfonia_mail.send_templated is templates.send_templated
