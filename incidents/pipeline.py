"""The path every accepted batch takes: stored here, then handed to the stages other apps register.

Ingest (HTTP API, Alertmanager webhook, replay, simulator) all call `events_ingest`, so that a
replayed stream goes through exactly the code live traffic does. Storing ends in `incidents`;
what runs after it (anomaly detection and correlation) is registered by `correlation` in its
`AppConfig.ready()` with `stage_register`, the way the integrations subscribe to incidents.hooks:
`incidents` never imports the apps built on it.

A stage takes the stored events and returns a `StageResult` (events it stored itself, e.g. the
anomalies it found, and the incidents it opened or changed). Stages run in registration order,
each on the batch plus whatever the earlier stages stored. When one fails, the batch is already
committed: nothing accepted is lost, and the task `incidents.tasks.process_events` runs the stages
again later.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from cleara import metrics
from incidents.ingest import EventIn, IngestResult, events_store
from incidents.models import Event

log = logging.getLogger(__name__)


@dataclass
class StageResult:
    stored: list[Event] = field(default_factory=list)  # events the stage stored (anomalies found)
    incident_ids: list[int] = field(default_factory=list)  # incidents opened or changed


Stage = Callable[[list[Event]], StageResult]
_stages: list[Stage] = []


def stage_register(stage: Stage) -> None:
    if stage not in _stages:
        _stages.append(stage)


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


def events_ingest(*, events: list[EventIn], source: str = Event.Source.API, correlate: bool | None = None) -> PipelineResult:
    """Store a validated batch (committed on return), then run the registered stages on it
    (inline unless CORRELATION_INLINE is off or `correlate` is False)."""
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


def events_process(*, events: list[Event]) -> tuple[int, list[int]]:
    """Run every registered stage on stored events; returns (events the stages stored, incident ids)."""
    batch = list(events)
    added = 0
    incident_ids: list[int] = []
    for stage in list(_stages):
        out = stage(batch)
        metrics.events_counted(out.stored)
        batch += out.stored
        added += len(out.stored)
        incident_ids += [i for i in out.incident_ids if i not in incident_ids]
    return added, incident_ids
