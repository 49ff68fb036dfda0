"""A django-q2 worker SIGKILLed (by its PID) in the middle of a training: the training runs again
and its model version is stored once.

The real thing: `manage.py qcluster` in a subprocess with one worker trains on enough stored metric
history to take seconds; the test finds the worker spending the CPU and kills it. The broker lost
the task with the worker (django-q2's Redis broker pops a task before running it); the run's row is
not lost: leased to the dead worker for TRAINING_RUN_LEASE_SECONDS, then queued again by the sweep.
"""
from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cleara.tests.outage import descendants, qcluster, wait_for
from correlation.models import ModelVersion, TrainingRun
from incidents.models import Event, Service

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def cpu_ticks(pid: int) -> int:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.fixture
def cluster(settings, monkeypatch):
    with qcluster(settings, monkeypatch, log_name="training-killed.log", env={"TRAINING_RUN_LEASE_SECONDS": "2"}) as proc:
        yield proc


@pytest.fixture
def history(db):
    """Two days of 5-minute points on 60 series: seconds of training."""
    rng = np.random.default_rng(1)
    now = datetime.now(UTC)
    rows = []
    for s in range(60):
        service = Service.objects.create(name=f"svc-{s}")
        values = 50 + 5 * np.sin(np.arange(576) / 40) + rng.normal(0, 1, 576)
        rows += [Event(timestamp=now - timedelta(minutes=5 * (576 - i)), service=service, type=Event.Type.METRIC,
                       metric="cpu", host="h1", value=float(v)) for i, v in enumerate(values)]
    Event.objects.bulk_create(rows, batch_size=5000)


def test_a_worker_killed_mid_training_is_replaced_and_the_version_is_stored_once(cluster, history, settings):
    from correlation.runs import training_request, training_runs_sweep

    settings.TRAINING_RUN_LEASE_SECONDS = 2
    run = training_request(days=3, reason="test")  # outside a transaction here: queued at once
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.RUNNING, 60, "a worker to take the run", every=0.05)
    before = {pid: cpu_ticks(pid) for pid in descendants(cluster.pid)}
    time.sleep(0.5)
    busy = max(before, key=lambda pid: cpu_ticks(pid) - before[pid])  # the worker training
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.RUNNING, "the training ended before the kill"
    os.kill(busy, signal.SIGKILL)
    wait_for(lambda: busy not in descendants(cluster.pid) and len(descendants(cluster.pid)) >= 4, 30, "a new worker")
    assert ModelVersion.objects.filter(kind="anomaly").count() == 0  # the dead worker stored nothing

    time.sleep(2.5)  # its lease runs out
    assert training_runs_sweep() == [run.pk]  # what the minute schedule runs
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.DONE, 120, "the run to finish")
    run.refresh_from_db()
    assert run.attempts == 2 and run.version is not None
    assert ModelVersion.objects.filter(kind="anomaly").count() == 1
    assert training_runs_sweep() == []
