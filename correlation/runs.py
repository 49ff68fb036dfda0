"""Trainings that survive a killed worker, and happen once.

django-q2's Redis broker pops a task before running it (at most once): a worker killed in the
middle of a training loses the task. So a training is first a row (`TrainingRun`), and the task
only carries its id:

* `training_request` stores the run and queues it after commit;
* `training_run_execute` leases the run (RUNNING, `lease_until` = now + TRAINING_RUN_LEASE_SECONDS) and trains; the
  model version is stored in the same transaction that marks the run DONE, under a lock on the run,
  so a run that another worker finished meanwhile stores nothing (the effect happens once);
* `training_runs_sweep` (every minute, correlation.schedules) queues again a run whose lease ran out
  without it finishing (its worker died) or that was never picked up, up to MAX_ATTEMPTS, then
  marks it FAILED with the reason.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from correlation import training
from correlation.models import ModelVersion, TrainingRun

STALE_QUEUED = timedelta(minutes=5)  # a queued run no worker picked up: its task was lost
MAX_ATTEMPTS = 3


class RunFinished(Exception):
    """Raised inside the registering transaction when the run was finished by someone else."""


def _queue(run: TrainingRun) -> None:
    async_task("correlation.tasks.training_run_execute", run.pk, task_name=f"training:{run.pk}")


def training_request(*, kind: str = training.ANOMALY_KIND, parameters: dict | None = None, days: int = training.TRAIN_DAYS,
                     activate: bool = False, reason: str = "") -> TrainingRun:
    """Store a training run and queue it, now and again once the transaction commits: a worker that
    takes the first task before the row is committed finds nothing and stops; the second runs it
    (and where on-commit callbacks never come, inside a test's transaction with tasks run inline,
    the first does). A run is executed once whatever the number of tasks."""
    run = TrainingRun.objects.create(kind=kind, parameters=parameters or {}, days=days, activate=activate, reason=reason[:100])
    _queue(run)
    transaction.on_commit(lambda: _queue(run))
    return run


def training_run_execute(run_id: int) -> ModelVersion | None:
    """Lease and run one training; the version it registers, or None when there is nothing to do
    (finished already, failed, or leased by a live worker)."""
    now = timezone.now()
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status in (TrainingRun.Status.DONE, TrainingRun.Status.FAILED):
            return None
        if run.status == TrainingRun.Status.RUNNING and run.lease_until and run.lease_until > now:
            return None
        run.status, run.attempts = TrainingRun.Status.RUNNING, run.attempts + 1
        run.lease_until = now + timedelta(seconds=settings.TRAINING_RUN_LEASE_SECONDS)
        run.save(update_fields=["status", "attempts", "lease_until", "updated_at"])

    def registering(version: ModelVersion) -> None:
        locked = TrainingRun.objects.select_for_update().get(pk=run_id)
        if locked.status == TrainingRun.Status.DONE:
            raise RunFinished
        locked.status, locked.version, locked.lease_until = TrainingRun.Status.DONE, version, None
        locked.save(update_fields=["status", "version", "lease_until", "updated_at"])

    try:
        return training.model_train(kind=run.kind, parameters=run.parameters or None, days=run.days,
                                    activate=run.activate, registering=registering)
    except RunFinished:
        return None
    except training.ModelRegistryError as exc:
        TrainingRun.objects.filter(pk=run_id).update(status=TrainingRun.Status.FAILED, error=str(exc)[:500], lease_until=None)
        return None


def training_runs_sweep() -> list[int]:
    """Queue again the runs whose worker died (lease ran out) or whose task was lost; give up after
    MAX_ATTEMPTS. Returns the ids queued."""
    now = timezone.now()
    queued: list[TrainingRun] = []
    with transaction.atomic():
        stale = TrainingRun.objects.select_for_update(skip_locked=True).filter(
            Q(status=TrainingRun.Status.RUNNING, lease_until__lt=now)
            | Q(status=TrainingRun.Status.QUEUED, created_at__lt=now - STALE_QUEUED)
        )
        for run in stale:
            if run.attempts >= MAX_ATTEMPTS:
                run.status, run.error, run.lease_until = TrainingRun.Status.FAILED, f"gave up after {run.attempts} attempts", None
                run.save(update_fields=["status", "error", "lease_until", "updated_at"])
                continue
            run.status, run.lease_until, run.created_at = TrainingRun.Status.QUEUED, None, now
            run.save(update_fields=["status", "lease_until", "created_at", "updated_at"])
            queued.append(run)
    for run in queued:  # committed: the worker finds them queued
        _queue(run)
    return [run.pk for run in queued]
