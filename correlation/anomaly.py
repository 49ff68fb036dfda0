"""Live anomaly detection on metric events: each series scored as its points arrive.

`detect_anomalies` receives the just-stored metric events of a batch and returns the anomaly
events to store (as incidents.ingest.EventIn), which the pipeline then correlates like alerts.

Each series (service, metric, host) has one `SeriesBaseline` row holding its detector's state.
A batch locks the row (SELECT ... FOR UPDATE), restores the detector, feeds it the batch's points
in time order, and saves the state back, so two ingest requests for the same series cannot both
start from the same state and lose each other's points. Points at or before the newest point
already scored are skipped: the detector is causal and never sees the past twice. A new series
starts with the active registry version's configuration (`correlation.training`).
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict

from django.db import transaction

from correlation.detectors import PointScore, detector_from_state
from correlation.models import SeriesBaseline
from correlation.training import ANOMALY_KIND, detector_for, detector_parameters, model_active, state_dumps, state_loads
from incidents.ingest import EventIn
from incidents.models import Event, Service, Severity

CRITICAL_SCORE = 0.99  # a raised anomaly this strong is critical, otherwise a warning


def detect_anomalies(*, events: list[Event]) -> list[EventIn]:
    """Score the batch's metric points per series; return one anomaly event per raised excursion."""
    series: dict[tuple[int, str, str], list[Event]] = defaultdict(list)
    for event in events:
        if event.type == Event.Type.METRIC and event.value is not None and math.isfinite(event.value):
            series[(event.service_id, event.metric, event.host)].append(event)
    if not series:
        return []
    services = {s.pk: s.name for s in Service.objects.filter(pk__in={k[0] for k in series})}
    active = model_active(kind=ANOMALY_KIND)
    found: list[EventIn] = []
    for (service_id, metric, host), points in series.items():
        points.sort(key=lambda e: (e.timestamp, e.pk))
        found.extend(_series_score(service_id, services[service_id], metric, host, points, active))
    return found


@transaction.atomic
def _series_score(service_id, service_name, metric, host, points, active) -> list[EventIn]:
    baseline, created = SeriesBaseline.objects.select_for_update().get_or_create(
        service_id=service_id, metric=metric, host=host,
        defaults={"state": b"", "model_version": active,
                  "detector": detector_parameters(active.parameters if active else None)[0]},
    )
    if baseline.state:
        detector = detector_from_state(state_loads(baseline.state))
    else:
        detector = detector_for(active.parameters if active else None)
    found = []
    last = baseline.last_timestamp
    for event in points:
        if last is not None and event.timestamp <= last:
            continue
        verdict = detector.update(event.timestamp.timestamp(), float(event.value))
        last = event.timestamp
        baseline.points += 1
        baseline.last_score = verdict.score
        if verdict.is_anomaly:
            baseline.anomalies += 1
            found.append(anomaly_event(event=event, service_name=service_name, verdict=verdict,
                                       detector=baseline.detector, model_version=baseline.model_version))
    baseline.last_timestamp = last
    baseline.state = state_dumps(detector.get_state())
    baseline.save()
    return found


def anomaly_event(*, event: Event, service_name: str, verdict: PointScore, detector: str, model_version) -> EventIn:
    """The ingest-format anomaly event for a raised point."""
    raw = float(verdict.details.get("raw_score", verdict.score))
    low, high = verdict.expected_low, verdict.expected_high
    where = f" on {event.host}" if event.host else ""
    expected = f"; expected {low:.4g} to {high:.4g}" if math.isfinite(low) and math.isfinite(high) else ""
    series = f"{service_name}|{event.metric}|{event.host}"
    return EventIn(
        timestamp=event.timestamp,
        service=service_name,
        type=Event.Type.ANOMALY,
        severity=Severity.CRITICAL if raw >= CRITICAL_SCORE else Severity.WARNING,
        message=f"Anomalous {event.metric} on {service_name}{where}: {event.value:.4g}{expected} (score {raw:.2f})",
        metric=event.metric,
        value=event.value,
        host=event.host,
        fingerprint="anomaly:" + hashlib.sha1(series.encode()).hexdigest(),
        attributes={
            "score": raw,
            "confidence": verdict.details.get("confidence"),
            "votes": verdict.details.get("votes", {}),
            "expected_low": low if math.isfinite(low) else None,
            "expected_high": high if math.isfinite(high) else None,
            "detector": detector,
            "model_version": model_version.version if model_version else None,
            "metric_event_id": event.pk,
        },
        client_id=f"anomaly:{event.pk}",
    )
