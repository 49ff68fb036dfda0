"""correlation.anomaly.detect_anomalies: per-series state in the database, one alarm per excursion."""
from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from correlation.anomaly import detect_anomalies
from correlation.models import ModelVersion, SeriesBaseline
from incidents.models import Event, Service, Severity

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
N_NORMAL = 420  # past the isolation forest's and the LSTM's first fit (256 points) and their warm-up
SPIKE = 40.0


def metric_values(n: int = N_NORMAL, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    return (50 + 5 * np.sin(2 * np.pi * i / 288) + rng.normal(0, 1, n)).tolist()


def store(service: Service, values: list[float], start: int = 0, metric: str = "latency_ms", host: str = "web-1") -> list[Event]:
    return Event.objects.bulk_create([
        Event(timestamp=T0 + (start + i) * STEP, service=service, type=Event.Type.METRIC, metric=metric, host=host, value=v)
        for i, v in enumerate(values)
    ])


@pytest.fixture
def service(db) -> Service:
    return Service.objects.create(name="checkout")


def test_spike_becomes_one_anomaly_event_in_ingest_format(service):
    events = store(service, metric_values() + [metric_values()[-1] + SPIKE])
    found = detect_anomalies(events=events)
    spike = events[-1]
    hits = [a for a in found if a.attributes["metric_event_id"] == spike.pk]
    assert len(hits) == 1, [a.timestamp for a in found]
    anomaly = hits[0]
    assert anomaly.type == Event.Type.ANOMALY and anomaly.service == "checkout"
    assert anomaly.metric == "latency_ms" and anomaly.host == "web-1" and anomaly.value == spike.value
    assert anomaly.timestamp == spike.timestamp
    assert anomaly.severity in (Severity.WARNING, Severity.CRITICAL)
    assert anomaly.attributes["expected_high"] < spike.value
    assert set(anomaly.attributes["votes"]) == {"statistical", "iforest", "lstm"}
    assert anomaly.client_id == f"anomaly:{spike.pk}" and anomaly.fingerprint.startswith("anomaly:")
    assert "latency_ms" in anomaly.message
    assert len(found) <= 3  # a new series may alarm once or twice while it learns, not more

    baseline = SeriesBaseline.objects.get(service=service, metric="latency_ms", host="web-1")
    assert baseline.points == N_NORMAL + 1 and baseline.anomalies == len(found)
    assert baseline.last_timestamp == spike.timestamp and baseline.detector == "ensemble"


def test_batches_continue_from_the_stored_state(service):
    values = metric_values(300)
    other = Service.objects.create(name="other")
    whole = store(other, values)
    detect_anomalies(events=whole)
    for start in range(0, 300, 75):
        detect_anomalies(events=store(service, values[start:start + 75], start=start))
    a = SeriesBaseline.objects.get(service=service)
    b = SeriesBaseline.objects.get(service=other)
    assert a.points == b.points == 300
    assert a.last_score == b.last_score
    state_a, state_b = pickle.loads(bytes(a.state)), pickle.loads(bytes(b.state))
    assert state_a["statistical"]["values"] == state_b["statistical"]["values"]


def test_late_and_repeated_points_are_not_scored_again(service):
    events = store(service, metric_values(50))
    detect_anomalies(events=events)
    detect_anomalies(events=events[:10])  # a retry of an old batch
    late = store(service, [500.0], start=5)  # a point older than the newest one scored
    assert detect_anomalies(events=late) == []
    assert SeriesBaseline.objects.get(service=service).points == 50


def test_series_are_kept_apart_and_non_metrics_ignored(service):
    a = store(service, metric_values(30), host="web-1")
    b = store(service, metric_values(30, seed=1), host="web-2")
    log = Event.objects.create(timestamp=T0, service=service, type=Event.Type.LOG, message="hello")
    assert detect_anomalies(events=[*a, *b, log]) == []
    assert SeriesBaseline.objects.filter(service=service).count() == 2


def test_new_series_use_the_active_model_configuration(service):
    version = ModelVersion.objects.create(kind="anomaly", version=1, parameters={"detector": "statistical", "threshold": 0.95, "seed": 0}, active=True)
    detect_anomalies(events=store(service, metric_values(40)))
    baseline = SeriesBaseline.objects.get(service=service)
    assert baseline.detector == "statistical" and baseline.model_version == version
    assert pickle.loads(bytes(baseline.state))["kind"] == "statistical"
