"""Trainings survive a killed worker and happen once (correlation.runs)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from correlation import runs
from correlation.models import ModelVersion, TrainingRun
from correlation.tasks import training_run_execute, training_runs_sweep

pytestmark = pytest.mark.django_db


def versions() -> int:
    return ModelVersion.objects.filter(kind="anomaly").count()


def test_a_requested_training_runs_once_however_often_its_task_comes(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # queued now and after commit: tasks run inline here
        run = runs.training_request(days=1, reason="test")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.DONE and run.attempts == 1 and run.version is not None
    assert versions() == 1
    assert training_run_execute(run.pk) is None  # a third delivery of the task: nothing more
    assert versions() == 1


def test_a_run_whose_worker_died_is_queued_again_by_the_sweep_and_finishes_once():
    # What a worker SIGKILLed mid-training leaves: the run leased, its lease running, no version.
    run = TrainingRun.objects.create(kind="anomaly", days=1, status=TrainingRun.Status.RUNNING, attempts=1,
                                     lease_until=timezone.now() + timedelta(minutes=5))
    assert training_runs_sweep() == []  # the lease still runs: its worker may be alive
    assert training_run_execute(run.pk) is None  # nor does another worker take it meanwhile
    TrainingRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert training_runs_sweep() == [run.pk]  # queued again; the task runs inline in tests
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.DONE and run.attempts == 2 and versions() == 1
    assert training_runs_sweep() == [] and versions() == 1


def test_a_worker_that_finishes_after_another_finished_the_run_stores_nothing(monkeypatch):
    """Worker A's lease ran out while it trained; worker B took the run and finished it; A's
    version is not stored (the registering transaction sees the run done and rolls back)."""
    run = TrainingRun.objects.create(kind="anomaly", days=1)
    done_by_b = ModelVersion.objects.create(kind="anomaly", version=1)
    real_train = runs.training.model_train

    def train_while_b_finishes(**kwargs):
        TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.DONE, version=done_by_b)
        return real_train(**kwargs)

    monkeypatch.setattr(runs.training, "model_train", train_while_b_finishes)
    assert runs.training_run_execute(run.pk) is None
    assert versions() == 1 and TrainingRun.objects.get(pk=run.pk).version == done_by_b


def test_a_run_that_keeps_dying_is_given_up_with_the_reason():
    run = TrainingRun.objects.create(kind="anomaly", days=1, status=TrainingRun.Status.RUNNING, attempts=runs.MAX_ATTEMPTS,
                                     lease_until=timezone.now() - timedelta(seconds=1))
    assert training_runs_sweep() == []
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and "gave up after 3 attempts" in run.error and versions() == 0


def test_a_lost_task_of_a_queued_run_is_queued_again():
    run = TrainingRun.objects.create(kind="anomaly", days=1, created_at=timezone.now() - runs.STALE_QUEUED - timedelta(seconds=1))
    assert training_runs_sweep() == [run.pk]
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.DONE and versions() == 1


def test_a_bad_run_fails_with_the_reason():
    run = TrainingRun.objects.create(kind="rca", days=1)
    assert training_run_execute(run.pk) is None
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and "unknown model kind" in run.error
