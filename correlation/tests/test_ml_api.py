"""/api/v1/ml: model registry, ad-hoc scoring with clear 400s, recent anomalies; and the end-to-end
path from a metric spike sent to POST /api/v1/events to an anomaly event inside an incident."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import time_machine
from django.test import Client

from correlation.detectors.decision import DECISION
from correlation.models import ModelVersion
from incidents.models import Event, Incident, Service

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
N_NORMAL = 420


def series(n: int = N_NORMAL, seed: int = 0) -> tuple[list[str], list[float]]:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    values = (50 + 5 * np.sin(2 * np.pi * i / 288) + rng.normal(0, 1, n)).tolist()
    stamps = [(T0 + timedelta(minutes=5 * k)).isoformat() for k in range(n)]
    return stamps, values


def test_score_returns_one_verdict_per_point_and_flags_the_spike(api):
    stamps, values = series(N_NORMAL + 1)
    values[-1] += 40
    r = api.post("/api/v1/ml/score", {"timestamps": stamps, "values": values})
    assert r.status_code == 200, r.content
    body = r.json()
    assert len(body["points"]) == N_NORMAL + 1
    assert body["points"][0] == {"score": 0.0, "is_anomaly": False, "warming_up": True, "expected_low": None, "expected_high": None}
    assert N_NORMAL in body["anomalies"]
    spike = body["points"][N_NORMAL]
    assert spike["score"] >= 0.9 and spike["expected_high"] < values[-1]


def test_score_with_a_single_detector_reports_its_scores(api):
    stamps, values = series(300)
    values[250] += 40
    r = api.post("/api/v1/ml/score", {"timestamps": stamps, "values": values, "detector": "statistical"})
    assert r.status_code == 200 and r.json()["detector"] == "statistical"
    assert r.json()["points"][250]["score"] >= 0.9  # single detectors score; only the ensemble raises


def test_score_accepts_epoch_seconds_and_the_ensemble(api):
    r = api.post("/api/v1/ml/score", {"timestamps": [1_700_000_000 + 60 * i for i in range(40)], "values": list(range(40))})
    assert r.status_code == 200 and r.json()["detector"] == "ensemble"


@pytest.mark.parametrize("payload,reason", [
    ({"timestamps": [], "values": []}, "empty series"),
    ({"timestamps": ["2026-11-02T00:00:00Z", "2026-11-02T00:05:00Z"], "values": [1.0, "abc"]}, "values[1]: 'abc' is not a finite number"),
    ({"timestamps": ["2026-11-02T00:00:00Z", "2026-11-02T00:05:00Z"], "values": [1.0, None]}, "values[1]: None is not a finite number"),
    ({"timestamps": ["2026-11-02T00:05:00Z", "2026-11-02T00:00:00Z"], "values": [1.0, 2.0]}, "strictly increasing"),
    ({"timestamps": ["2026-11-02T00:00:00Z", "2026-11-02T00:00:00Z"], "values": [1.0, 2.0]}, "strictly increasing"),
    ({"timestamps": ["2026-11-02T00:00:00Z"], "values": [1.0, 2.0]}, "1 timestamps but 2 values"),
    ({"timestamps": ["yesterday"], "values": [1.0]}, "timestamps[0]"),
    ({"timestamps": ["2026-11-02T00:00:00Z"], "values": [1.0], "detector": "magic"}, "unknown detector"),
    ({"values": [1.0]}, "invalid request"),
])
def test_score_rejects_bad_series_with_a_clear_400(api, payload, reason):
    r = api.post("/api/v1/ml/score", payload)
    assert r.status_code == 400, r.content
    assert reason in r.json()["detail"]


def test_ml_endpoints_need_authentication(db):
    assert Client().get("/api/v1/ml/models").status_code == 401
    assert Client().post("/api/v1/ml/score", {}, content_type="application/json").status_code == 401


def test_models_list_train_activate_and_rollback(api, monkeypatch):
    # django-q2 reads Q_CLUSTER["sync"] once at import, so the conftest setting does not reach it
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)
    service = Service.objects.create(name="checkout")
    now = datetime.now(UTC)
    Event.objects.bulk_create([
        Event(timestamp=now - timedelta(minutes=5 * (200 - i)), service=service, type=Event.Type.METRIC, metric="cpu", value=float(i % 9))
        for i in range(200)
    ])
    for _ in range(2):
        r = api.post("/api/v1/ml/models/train", {"detector": "statistical", "days": 2})
        assert r.status_code == 202, r.content
    assert api.post("/api/v1/ml/models/train", {"detector": "nope"}).status_code == 400
    assert api.post("/api/v1/ml/models/train", {"kind": "rca"}).status_code == 400

    models = api.get("/api/v1/ml/models").json()["models"]
    assert [(m["kind"], m["version"], m["active"]) for m in models] == [("anomaly", 2, False), ("anomaly", 1, False)]
    assert models[0]["metrics"]["points"] == 200 and models[0]["artefact_bytes"] > 0

    v1, v2 = ModelVersion.objects.order_by("version")
    assert api.post(f"/api/v1/ml/models/{v2.pk}/activate", {}).json()["active"] is True
    back = api.post("/api/v1/ml/models/anomaly/rollback", {})
    assert back.status_code == 200 and back.json()["version"] == 1
    again = api.post("/api/v1/ml/models/anomaly/rollback", {})
    assert again.status_code == 400 and "nothing to roll back" in again.json()["detail"]
    assert api.post("/api/v1/ml/models/99999/activate", {}).status_code == 404


# The series is dated from T0: the clock is kept just after it, inside the ingest window (INGEST_MAX_PAST_DAYS).
@time_machine.travel(T0 + timedelta(minutes=5 * N_NORMAL + 5), tick=True)
def test_metric_spike_sent_to_ingest_becomes_an_anomaly_inside_an_incident(api):
    stamps, values = series()
    batch = [
        {"id": f"m{i}", "timestamp": t, "service": "checkout", "type": "metric", "metric": "latency_ms", "host": "web-1", "value": v}
        for i, (t, v) in enumerate(zip(stamps, values))
    ]
    r = api.post("/api/v1/events", batch)
    assert r.status_code == 202, r.content
    spike_at = (T0 + timedelta(minutes=5 * N_NORMAL)).isoformat()
    r = api.post("/api/v1/events", [{"id": "spike", "timestamp": spike_at, "service": "checkout", "type": "metric",
                                     "metric": "latency_ms", "host": "web-1", "value": values[-1] + 40}])
    assert r.status_code == 202, r.content
    assert r.json()["anomalies"] == 1

    spike = Event.objects.get(client_id="spike")
    anomaly = Event.objects.get(type=Event.Type.ANOMALY, attributes__metric_event_id=spike.pk)
    assert anomaly.source == Event.Source.DETECTOR and anomaly.service.name == "checkout"
    # A lone anomalous point is a blip, not an incident; when checkout's own alert fires a minute
    # later, the incident it opens takes the anomaly in as evidence.
    r = api.post("/api/v1/events", [{"id": "slo", "timestamp": (T0 + timedelta(minutes=5 * N_NORMAL + 1)).isoformat(),
                                     "service": "checkout", "type": "alert", "severity": "critical",
                                     "message": "checkout p99 latency above SLO"}])
    assert r.status_code == 202, r.content
    anomaly.refresh_from_db()
    assert anomaly.incident_id is not None, "the anomaly was stored but not correlated into an incident"
    incident = Incident.objects.get(pk=anomaly.incident_id)
    assert incident.pk in r.json()["incidents"]
    assert Event.objects.get(client_id="slo").incident_id == incident.pk

    listed = api.get("/api/v1/ml/anomalies", service="checkout").json()["anomalies"]
    assert listed[0]["id"] == anomaly.pk and listed[0]["incident"] == incident.pk
    assert listed[0]["votes"].keys() == set(DECISION["votes"])
    assert api.get("/api/v1/ml/anomalies", limit=0).status_code == 400
