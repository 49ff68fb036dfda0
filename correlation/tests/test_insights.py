"""The risk forecast's history is read from the hourly rollups written at ingest, and says the same
as counting the events themselves would."""
from datetime import UTC, datetime, timedelta

import pytest

from correlation import insights
from incidents.ingest import EventIn, batch_validate, events_store

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


@pytest.mark.django_db
def test_service_histories_count_alerts_errors_anomalies_and_deploys_per_hour():
    raw = []
    for i, (minutes_ago, service, type_, severity, message) in enumerate([
        (5, "api", "alert", "critical", "p99 latency high"),
        (10, "api", "alert", "warning", "p99 latency high"),
        (15, "api", "log", "warning", "connection refused"),
        (20, "api", "log", "info", "request served"),  # info: not counted
        (70, "db", "alert", "critical", "replication lag"),
        (130, "db", "log", "info", "deploy v1.2.3 finished"),  # a deploy, whatever its severity
        (60 * 24 * 9, "db", "alert", "critical", "too old"),  # before the 8 days
    ]):
        raw.append({"id": f"e{i}", "timestamp": (NOW - timedelta(minutes=minutes_ago)).isoformat(), "service": service,
                    "type": type_, "severity": severity, "message": message})
    # Anomalies are the detector's own events (correlation.anomaly), stored the same way.
    anomaly = EventIn(timestamp=NOW - timedelta(minutes=70), service="api", type="anomaly", severity="warning",
                      message="latency anomaly", metric="latency_p99", value=2.5)
    events_store(events=[*batch_validate(raw), anomaly])

    hist = insights.service_histories(now=NOW)

    api, db = hist["api"], hist["db"]
    last = len(api.alerts) - 1  # hour 12:00, the hour of NOW
    assert api.alerts[last] == 2 and api.errors[last] == 1
    assert api.anomalies[last - 1] == 1 and db.alerts[last - 1] == 1
    assert db.deploys[last - 2] == 1
    assert sum(db.alerts) == 1  # the 9-day-old alert is outside the history
    assert sum(api.alerts) + sum(api.errors) + sum(api.anomalies) == 4
