"""Live anomaly detection on metric events: each series scored as its points arrive.

`detect_anomalies` receives the just-stored metric events of a batch and returns the anomaly
events to store (as incidents.ingest.EventIn), which the pipeline then correlates like alerts.
"""
from __future__ import annotations

from incidents.ingest import EventIn
from incidents.models import Event


def detect_anomalies(*, events: list[Event]) -> list[EventIn]:
    # Filled in by the detectors' integration (issue 4): no detector is wired in yet.
    return []
