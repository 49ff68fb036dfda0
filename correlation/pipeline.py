"""correlation's stage of the ingest pipeline (incidents.pipeline): what runs on every stored
batch, registered in CorrelationConfig.ready(). Metrics are scored for anomalies (stored as
events), then everything is correlated into incidents."""
from __future__ import annotations

from django.conf import settings

from cleara import metrics
from correlation import anomaly, writing
from incidents.ingest import events_store, timestamp_computable
from incidents.models import Event
from incidents.pipeline import StageResult


def events_process(events: list[Event]) -> StageResult:
    """Detect anomalies in the batch's metrics, store them, and correlate everything."""
    found: list[Event] = []
    # Stored, but left out of detection and grouping: their windows would overflow (see the rule).
    events = [e for e in events if timestamp_computable(e.timestamp)]
    if settings.ANOMALY_DETECTION:
        metric_events = [e for e in events if e.type == Event.Type.METRIC]
        if metric_events:
            anomalies = anomaly.detect_anomalies(events=metric_events)
            metrics.ANOMALY_POINTS.inc(len(metric_events))
            if anomalies:
                found = events_store(events=anomalies, source=Event.Source.DETECTOR).events
                metrics.ANOMALIES.inc(len(found))
    incident_ids = writing.events_correlate(events=[*events, *found])
    return StageResult(stored=found, incident_ids=incident_ids)
