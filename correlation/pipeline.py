"""correlation's stages of the ingest pipeline (incidents.pipeline), registered in
CorrelationConfig.ready(): metric points are scored for anomalies in their series' partition
(stored as events, which the pipeline hands to their component's partition), and alerts, logs
and anomalies are correlated into incidents in their component's partition."""
from __future__ import annotations

from django.conf import settings

from cleara import metrics
from correlation import anomaly, writing
from incidents.ingest import events_store, timestamp_computable
from incidents.models import Event
from incidents.pipeline import StageResult


def series_process(events: list[Event]) -> StageResult:
    """Detect anomalies in the batch's metric points and store them."""
    if not settings.ANOMALY_DETECTION:
        return StageResult()
    # Stored, but left out of detection and grouping: their windows would overflow (see the rule).
    metric_events = [e for e in events if e.type == Event.Type.METRIC and timestamp_computable(e.timestamp)]
    if not metric_events:
        return StageResult()
    anomalies = anomaly.detect_anomalies(events=metric_events)
    metrics.ANOMALY_POINTS.inc(len(metric_events))
    if not anomalies:
        return StageResult()
    found = events_store(events=anomalies, source=Event.Source.DETECTOR).events
    metrics.ANOMALIES.inc(len(found))
    return StageResult(stored=found)


def component_process(events: list[Event]) -> StageResult:
    """Correlate the batch's alerts, logs and anomalies into incidents."""
    events = [e for e in events if timestamp_computable(e.timestamp)]
    return StageResult(incident_ids=writing.events_correlate(events=events))
