"""The path every accepted batch takes: stored here, then handed to the stages other apps register.

Ingest (HTTP API, Alertmanager webhook, replay, simulator) all call `events_ingest`, so that a
replayed stream goes through exactly the code live traffic does. Storing ends in `incidents`;
what runs after it (anomaly detection and correlation) is registered by `correlation` in its
`AppConfig.ready()` with `stage_register`, the way the integrations subscribe to incidents.hooks:
`incidents` never imports the apps built on it.

A stage takes stored events and returns a `StageResult` (events it stored itself, e.g. the
anomalies it found, and the incidents it opened or changed). A stage is of one kind of partition
(incidents.partitions): `series` stages (anomaly detection) see metric points, `component` stages
(templating, correlation) see alerts, logs and the anomalies the series stages stored. Within a
kind, stages run in registration order.

Where they run (settings, README):
* INGEST_ASYNC (on when REDIS_URL is set): the request stores the batch and its queue messages in
  one transaction, publishes them after the commit (incidents.queue) and answers; the stages run
  in `manage.py ingest_worker` processes, one partition at a time (incidents.worker).
* otherwise, with CORRELATION_INLINE (the embedded default): inline, before the answer; when they
  fail, the batch is already committed: nothing accepted is lost, and the task
  `incidents.tasks.process_events` runs them again later.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from cleara import metrics
from incidents import queue
from incidents.ingest import EventIn, IngestResult, events_store, events_store_many
from incidents.models import Event, IngestMessage
from incidents.partitions import COMPONENT, KINDS, SERIES

log = logging.getLogger(__name__)


@dataclass
class StageResult:
    stored: list[Event] = field(default_factory=list)  # events the stage stored (anomalies found)
    incident_ids: list[int] = field(default_factory=list)  # incidents opened or changed


Stage = Callable[[list[Event]], StageResult]
_stages: dict[str, list[Stage]] = {kind: [] for kind in KINDS}
_flushers: list[Callable[[], object]] = []


def stage_register(stage: Stage, *, kind: str = COMPONENT) -> None:
    """Run `stage` on every stored batch, in the partitions of `kind` (series: metric points;
    component: alerts, logs and anomalies)."""
    if stage not in _stages[kind]:
        _stages[kind].append(stage)


def flush_register(flush: Callable[[], object]) -> None:
    """Register what a worker calls before it lets its series partitions go (and when it stops):
    writing state kept in memory (correlation: the anomaly detectors' checkpoints)."""
    if flush not in _flushers:
        _flushers.append(flush)


def flush() -> None:
    for f in list(_flushers):
        f()


HistoryLearner = Callable[[list[EventIn]], int]
_learners: list[HistoryLearner] = []


def history_learner_register(learner: HistoryLearner) -> None:
    """Register what learns from history that is not stored (correlation: the anomaly baselines)."""
    if learner not in _learners:
        _learners.append(learner)


def history_learn(*, events: list[EventIn]) -> int:
    """Hand a stretch of history that is not to be stored to every registered learner, oldest
    first (the demo warms its anomaly baselines on a simulated day this way; storing a day of
    every series would take minutes). Returns how many points they learnt from."""
    events = sorted(events, key=lambda e: e.timestamp)
    return sum(learner(events) for learner in _learners)


@dataclass
class PipelineResult:
    accepted: int
    duplicates: int
    event_ids: list[int]
    anomalies: int = 0
    incident_ids: list[int] = field(default_factory=list)
    queued: bool = False  # handed to the workers: anomalies and incidents are not known yet

    def answer(self) -> dict:
        """The body of POST /api/v1/events's 202 (incidents.api, incidents.fastingest)."""
        return {"accepted": self.accepted, "duplicates": self.duplicates, "anomalies": self.anomalies, "incidents": self.incident_ids}


def events_ingest(*, events: list[EventIn], source: str = Event.Source.API, correlate: bool | None = None,
                  arrived_at: float | None = None) -> PipelineResult:
    """Store a validated batch (committed on return), then process it: queued for the workers
    when INGEST_ASYNC is on, else inline unless CORRELATION_INLINE is off. `correlate=True` forces
    inline processing (replay, tests), `False` stores only. `arrived_at` (Unix time) is when the
    request arrived, for the queue's lag."""
    if correlate is None and settings.INGEST_ASYNC:  # stored and queued as a group of one
        return events_ingest_many(batches=[events], arrived_at=[arrived_at or time.time()], source=source)[0]
    with metrics.INGEST_SECONDS.time():
        stored: IngestResult = events_store(events=events, source=source)
    metrics.events_counted(stored.events)
    result = PipelineResult(accepted=stored.accepted, duplicates=stored.duplicates, event_ids=[e.pk for e in stored.events])
    if correlate is None:
        correlate = settings.CORRELATION_INLINE
    if not stored.events or not correlate:
        return result
    try:
        with metrics.CORRELATION_SECONDS.time():
            result.anomalies, result.incident_ids = events_process(events=stored.events)
    except Exception:
        # The events are committed already: nothing accepted is lost. Process them later.
        log.exception("processing of %d stored events failed; queued for a retry", len(stored.events))
        from django_q.tasks import async_task

        async_task("incidents.tasks.process_events", result.event_ids)
    return result


def events_ingest_many(*, batches: list[list[EventIn]], arrived_at: list[float], source: str = Event.Source.API,
                       after_store: Callable[[], object] | None = None) -> list[PipelineResult]:
    """Group commit (incidents.groupcommit): several requests' batches stored and queued in ONE
    transaction (one WAL flush for all of them), each result as `events_ingest` would give it
    for its batch alone; committed on return, then published. Queue mode only (INGEST_ASYNC): the
    messages of the group go to the workers as one per partition, with the earliest arrival of
    the group (the lag is counted from the request that waited longest). `after_store` runs in the
    transaction, after the events (the committer writes tokens' last_used_at there)."""
    started = time.perf_counter()
    with transaction.atomic():
        stored = events_store_many(batches=batches, source=source)
        rows = queue.messages_for([e for s in stored for e in s.events], arrived_at=min(arrived_at))
        IngestMessage.objects.bulk_create(rows)
        if after_store is not None:
            after_store()
    took = time.perf_counter() - started
    for s in stored:
        metrics.INGEST_SECONDS.observe(took)
        metrics.events_counted(s.events)
    queue.publish(rows)
    return [PipelineResult(accepted=s.accepted, duplicates=s.duplicates, event_ids=[e.pk for e in s.events], queued=True) for s in stored]


def events_process(*, events: list[Event]) -> tuple[int, list[int]]:
    """Run every registered stage on stored events, inline: the series stages on the metric
    points, then the component stages on the rest and on what the series stages stored.
    Returns (events the stages stored, incident ids)."""
    series = partition_process(SERIES, [e for e in events if e.type == Event.Type.METRIC])
    component = partition_process(COMPONENT, [e for e in events if e.type != Event.Type.METRIC] + series.stored)
    return len(series.stored) + len(component.stored), component.incident_ids


def partition_process(kind: str, events: list[Event]) -> StageResult:
    """Run the stages of one kind of partition on stored events (what a worker does with a batch
    of its partition's messages). Returns what they stored and the incidents they changed."""
    out = StageResult()
    if not events:
        return out
    batch = list(events)
    for stage in list(_stages[kind]):
        result = stage(batch)
        metrics.events_counted(result.stored)
        batch += result.stored
        out.stored += result.stored
        out.incident_ids += [i for i in result.incident_ids if i not in out.incident_ids]
    return out
