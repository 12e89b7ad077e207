"""Django's Tasks framework, wherever it comes from: ``django.tasks`` (Django 6.0+) or
the ``django_tasks`` backport (Django 5.2).

Only public names of the framework are used, so any Tasks backend works: the
immediate one (the default without a ``TASKS`` setting), django-tasks-db's
``DatabaseBackend`` with ``manage.py db_worker``, RQ, ...
"""

from django.utils import timezone

from .. import conf

try:  # Django 6.0+
    from django.tasks import task, task_backends
except ImportError:  # Django 5.2 with the backport
    try:
        # mypy: the backport's types are its own, equal in use to Django's.
        from django_tasks import task, task_backends  # type: ignore[assignment,no-redef]
    except ImportError:  # neither: BACKGROUND=True is refused by a system check
        task = task_backends = None  # type: ignore[assignment]

AVAILABLE = task is not None


def backend():
    """Return the Tasks backend that background sending uses."""
    return task_backends[conf.get("TASK_BACKEND")]


def can_defer():
    """Return True when the backend can run a task later (``run_after``)."""
    return bool(getattr(backend(), "supports_defer", False))


def enqueue(task_obj, *args, run_after=None):
    """Enqueue *task_obj* on the configured backend and queue, later if *run_after*."""
    options = {"backend": conf.get("TASK_BACKEND"), "queue_name": conf.get("TASK_QUEUE")}
    if run_after is not None and run_after > timezone.now():
        options["run_after"] = run_after
    return task_obj.using(**options).enqueue(*args)


def define(func):
    """Return *func* as a task, or unchanged when no Tasks framework is installed."""
    return task(func) if AVAILABLE else func
