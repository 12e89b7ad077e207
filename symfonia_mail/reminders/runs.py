"""Payment reminder runs as tasks: chunks of contractors, sent by as many workers as run.

:func:`start` stores a :class:`~symfonia_mail.models.ReminderRun` (who, which
contractors, the options) and, when the caller's transaction commits, enqueues
one task per chunk of ``REMINDER_CHUNK`` contractors. Each task turns its keys
into :class:`~symfonia_mail.reminders.ContractorReminder` objects with the
run's *source* (a dotted path to ``source(keys, as_of) -> list``; PDFs are
rendered there, in the worker), sends them with
:func:`~symfonia_mail.reminders.send_reminders` (whose claim sends each
reminder once a day whatever the number of workers) and adds its counts to
the run. The last chunk to finish closes the run.

Each chunk is counted once, under its index (``chunk_counts``): a task run
twice, or enqueued again, finds its chunk done and does nothing. A chunk
whose worker was killed is not lost: :func:`requeue_stalled` (part of the
workers' sweep and of ``symfonia_mail_cleanup --sweep``) enqueues the
unfinished chunks of a run that made no progress for ``STALE_AFTER``
seconds; the reminder claim keeps the contractors it reached from being
reminded twice.
"""

from datetime import date, timedelta

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.module_loading import import_string

from .. import conf
from ..background import taskq
from ..background.delivery import housekeeping, sweep_if_due
from ..context import user_pk
from ..models import ReminderRun
from ..tracking.maillog import describe_error
from .sending import BACKEND, Status, count, send_reminders

Run = ReminderRun.Status


def start(source, keys, *, user=None, as_of=None, force=False, language=None,
          chunk_size=None):
    """Create a reminder run over *keys* and enqueue its chunks on commit; return the run."""
    import_string(source)  # a wrong path fails here, in the caller, not in a worker
    keys = list(keys)
    run = ReminderRun.objects.create(
        source=source, keys=keys, sent_by_id=user_pk(user), total=len(keys),
        chunk_size=chunk_size or conf.get("REMINDER_CHUNK"),
        options={"as_of": as_of.isoformat() if as_of else None, "force": force,
                 "language": language},
        progress_at=timezone.now(),
    )
    chunks = run.chunks
    if not chunks:
        ReminderRun.objects.filter(pk=run.pk).update(status=Run.DONE, finished_at=timezone.now())
    transaction.on_commit(lambda: [
        taskq.enqueue(run_chunk_task, run.pk, index) for index in range(chunks)])
    return run


def run_chunk(run_id, index):
    """Send the reminders of chunk *index* of run *run_id*; return its counts."""
    sweep_if_due()
    run = ReminderRun.objects.select_related("sent_by").get(pk=run_id)
    if str(index) in run.chunk_counts:
        return None  # done already: this task ran twice or was enqueued again
    ReminderRun.objects.filter(pk=run_id, status__in=(Run.QUEUED, Run.RUNNING)).update(
        status=Run.RUNNING, progress_at=timezone.now())
    keys = run.keys[index * run.chunk_size:(index + 1) * run.chunk_size]
    options = run.options
    as_of = date.fromisoformat(options["as_of"]) if options.get("as_of") else None
    tally = {"sent": 0, "partial": 0, "failed": 0, "skipped": 0}
    error = ""
    try:
        items = import_string(run.source)(keys, as_of or timezone.localdate())
        # The worker sends itself: its messages must not go back into the outbox.
        # (Not get_connection(): Django 6.1 deprecates it.)
        connection = import_string(BACKEND)(user=run.sent_by, background=False)
        results = send_reminders(items, user=run.sent_by, as_of=as_of, connection=connection,
                                 force=options.get("force", False),
                                 language=options.get("language"))
        counts = count(results)
        tally["sent"], tally["partial"] = counts[Status.SENT], counts[Status.PARTIAL]
        tally["failed"] = counts[Status.FAILED]
        # Contractors the source no longer returns (deleted meanwhile) are skipped too.
        tally["skipped"] = counts[Status.SKIPPED] + len(keys) - len(results)
    except Exception as exc:  # noqa: BLE001 - one chunk's failure is the run's result, not a crash
        tally["failed"] = len(keys)
        error = describe_error(exc)
    _add(run.pk, index, tally, error)
    return tally


def run_chunk_task(run_id, index):
    """Send one chunk of a reminder run (the Tasks framework's entry point)."""
    return run_chunk(run_id, index)


# A worker finds a task by its function's module and name: bind the Task to that name.
run_chunk_task = taskq.define(run_chunk_task)


def _add(run_id, index, tally, error):
    """Count chunk *index* into its run, once; close the run after its last chunk."""
    with transaction.atomic():
        run = ReminderRun.objects.select_for_update().defer("keys").get(pk=run_id)
        if str(index) in run.chunk_counts:
            return  # another worker finished this chunk first: its counts stand
        run.chunk_counts[str(index)] = tally
        run.chunks_done = len(run.chunk_counts)
        for name, value in tally.items():  # a chunk counted before 0.2 has no "partial"
            setattr(run, name, getattr(run, name) + value)
        if error:
            run.error = (run.error + "\n" + error).strip()[:10_000]
        run.progress_at = timezone.now()
        if run.chunks_done >= run.chunks:
            run.status, run.finished_at = Run.DONE, run.progress_at
        run.save(update_fields=["chunk_counts", "chunks_done", *tally, "error", "progress_at",
                                "status", "finished_at"])


def requeue_stalled(now=None):
    """Enqueue again the unfinished chunks of runs with no progress for STALE_AFTER.

    Return how many chunks were enqueued. A chunk still waiting behind a long
    queue may get a second task: harmless, the first to finish counts it and
    the claim sends each reminder once.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.get("STALE_AFTER"))
    enqueued = 0
    stalled = ReminderRun.objects.filter(
        status__in=(Run.QUEUED, Run.RUNNING), progress_at__lt=stale).only(
        "pk", "total", "chunk_size", "chunk_counts")
    for run in stalled:
        # Conditional: of several sweeping workers, one takes the run.
        if not ReminderRun.objects.filter(pk=run.pk, progress_at__lt=stale).update(
                progress_at=now):
            continue
        missing = [index for index in range(run.chunks)
                   if str(index) not in run.chunk_counts]
        transaction.on_commit(lambda pk=run.pk, missing=missing: [
            taskq.enqueue(run_chunk_task, pk, index) for index in missing])
        enqueued += len(missing)
    return enqueued


@receiver(housekeeping, dispatch_uid="symfonia_mail.reminder_runs")
def _sweep_runs(sender, **kwargs):
    requeue_stalled()
