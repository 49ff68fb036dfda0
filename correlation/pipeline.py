"""The path every accepted batch takes after it is stored: anomaly detection, then correlation.

Ingest (HTTP API, Alertmanager webhook, replay, simulator) all call `events_process`, so that a
replayed stream goes through exactly the code live traffic does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings

from correlation import anomaly, grouping
from incidents.ingest import EventIn, IngestResult, events_store
from incidents.models import Event

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    accepted: int
    duplicates: int
    event_ids: list[int]
    anomalies: int = 0
    incident_ids: list[int] = field(default_factory=list)


def events_ingest(*, events: list[EventIn], source: str = Event.Source.API, correlate: bool | None = None) -> PipelineResult:
    """Store a validated batch (committed on return), then detect anomalies and correlate it."""
    stored: IngestResult = events_store(events=events, source=source)
    result = PipelineResult(accepted=stored.accepted, duplicates=stored.duplicates, event_ids=[e.pk for e in stored.events])
    if correlate is None:
        correlate = settings.CORRELATION_INLINE
    if not stored.events:
        return result
    if not correlate:
        return result
    try:
        result.anomalies, result.incident_ids = events_process(events=stored.events)
    except Exception:
        # The events are committed already: nothing accepted is lost. Correlate them later.
        log.exception("correlation of %d stored events failed; queued for a retry", len(stored.events))
        from django_q.tasks import async_task

        async_task("correlation.tasks.correlate_events", result.event_ids)
    return result


def events_process(*, events: list[Event]) -> tuple[int, list[int]]:
    """Detect anomalies in the batch's metrics, store them, and correlate everything."""
    found: list[Event] = []
    if settings.ANOMALY_DETECTION:
        metric_events = [e for e in events if e.type == Event.Type.METRIC]
        if metric_events:
            anomalies = anomaly.detect_anomalies(events=metric_events)
            if anomalies:
                found = events_store(events=anomalies, source=Event.Source.DETECTOR).events
    incident_ids = grouping.events_correlate(events=[*events, *found])
    return len(found), incident_ids
