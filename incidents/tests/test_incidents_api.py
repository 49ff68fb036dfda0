"""Incidents out, topology in and out, stats: what the correlation engine fills in, filters,
pagination, bad input, and login required."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from incidents.models import Event, Incident, Service

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@pytest.fixture(autouse=True)
def _clock():
    """The events are dated from T0: the clock is kept an hour after it, inside the ingest window
    (INGEST_MAX_PAST_DAYS), whatever day the suite runs."""
    with time_machine.travel(T0 + timedelta(hours=1), tick=True):
        yield


@pytest.fixture
def topology(admin_client):
    r = admin_client.post("/api/v1/services", {"services": [
        {"name": "api-gateway", "tier": "gateway", "depends_on": ["checkout"]},
        {"name": "checkout", "tier": "backend", "team": "checkout", "depends_on": ["payments", "postgres"]},
        {"name": "payments", "tier": "backend", "depends_on": ["postgres"]},
        {"name": "postgres", "tier": "database", "runbook_url": "https://runbooks.example.com/postgres"},
    ]}, content_type="application/json")
    assert r.status_code == 200, r.content


@pytest.fixture
def cascade(api, topology) -> Incident:
    """A pool exhaustion at postgres, sent through the ingest API as a monitoring system would."""
    batch = [
        {"id": "pg-1", "timestamp": at(0), "service": "postgres", "type": "alert", "severity": "critical",
         "message": "postgres: remaining connection slots are reserved"},
        {"id": "pg-log", "timestamp": at(0.1), "service": "postgres", "type": "log", "severity": "critical",
         "message": "FATAL: sorry, too many clients already"},
        {"id": "pay-1", "timestamp": at(1), "service": "payments", "type": "alert", "severity": "warning",
         "message": "payments: error rate above 5%"},
        {"id": "co-1", "timestamp": at(1.5), "service": "checkout", "type": "alert", "severity": "warning",
         "message": "checkout: p99 latency above 2s"},
        {"id": "gw-1", "timestamp": at(2), "service": "api-gateway", "type": "alert", "severity": "warning",
         "message": "api-gateway: 5xx rate above 2%"},
        {"id": "noise", "timestamp": at(1), "service": "checkout", "type": "log", "severity": "info", "message": "GET /cart 200"},
        {"id": "m-1", "timestamp": at(1), "service": "checkout", "type": "metric", "metric": "latency_p99_ms", "value": 2300.0},
    ]
    r = api.post("/api/v1/events", batch)
    assert r.status_code == 202, r.content
    assert len(r.json()["incidents"]) == 1
    return Incident.objects.get(pk=r.json()["incidents"][0])


def test_every_endpoint_requires_a_login_or_a_token(client: Client, api, logged_in_client):
    for path in ("/api/v1/incidents", "/api/v1/incidents/1", "/api/v1/incidents/1/events", "/api/v1/stats", "/api/v1/services"):
        r = client.get(path)
        assert r.status_code == 401, path
        assert "authentication required" in r.json()["detail"]
    assert client.post("/api/v1/services", {"services": []}, content_type="application/json").status_code == 401
    assert api.get("/api/v1/incidents").status_code == 200  # a bearer token
    assert logged_in_client.get("/api/v1/incidents").status_code == 200  # a session


def test_the_engine_fills_in_root_cause_hypotheses_and_events(cascade, logged_in_client):
    data = logged_in_client.get(f"/api/v1/incidents/{cascade.pk}").json()
    assert data["root_cause_service"] == "postgres"
    assert data["root_cause_candidates"][0] == "postgres" and len(data["root_cause_candidates"]) >= 2
    assert data["pattern"] == "db-connection-pool-exhaustion" and data["incident_type"] == "database"
    assert 0 < data["confidence"] <= 1
    assert data["severity"] == "critical" and data["status"] == "open"
    assert data["services"] == ["api-gateway", "checkout", "payments", "postgres"]
    assert sorted(data["event_ids"]) == ["co-1", "gw-1", "pay-1", "pg-1", "pg-log"]  # not the info log nor the metric
    assert data["event_count"] == 5 and data["alert_count"] == 4
    assert data["started_at"] == at(0)
    top = data["hypotheses"][0]
    assert top["service"] == "postgres" and top["score"] > data["hypotheses"][1]["score"]
    assert top["reasons"] and {e["client_id"] for e in top["evidence"]} <= {"pg-1", "pg-log"}
    assert "postgres is the probable root cause" in data["summary"]
    assert logged_in_client.get(f"/api/v1/incidents/%23{cascade.number}").json()["id"] == cascade.pk


def test_incident_events_are_listed_in_time_order_and_paginated(cascade, logged_in_client):
    r = logged_in_client.get(f"/api/v1/incidents/{cascade.pk}/events", {"page_size": 2})
    data = r.json()
    assert (data["count"], data["pages"], data["page"]) == (5, 3, 1)
    assert [e["id"] for e in data["results"]] == ["pg-1", "pg-log"]
    assert data["results"][0].keys() >= {"timestamp", "service", "type", "severity", "message", "incident"}
    last = logged_in_client.get(f"/api/v1/incidents/{cascade.pk}/events", {"page_size": 2, "page": 3}).json()
    assert [e["id"] for e in last["results"]] == ["gw-1"]
    assert logged_in_client.get(f"/api/v1/incidents/{cascade.pk}/events", {"page_size": 0}).status_code == 400


def test_list_filters_and_pagination(make_incident, logged_in_client):
    make_incident(services=["checkout"], severity="critical", started_at=T0, last_event_at=T0 + timedelta(minutes=10))
    make_incident(services=["payments"], severity="warning", started_at=T0 + timedelta(hours=2), last_event_at=T0 + timedelta(hours=3), status="investigating")
    make_incident(services=["postgres", "checkout"], severity="warning", started_at=T0 + timedelta(days=1), last_event_at=T0 + timedelta(days=1, minutes=5), status="resolved")

    def ids(**params):
        r = logged_in_client.get("/api/v1/incidents", params)
        assert r.status_code == 200, r.content
        return [i["root_cause_service"] for i in r.json()["results"]]

    assert ids() == ["postgres", "payments", "checkout"]  # newest first
    assert ids(status="open,investigating") == ["payments", "checkout"]
    assert ids(severity="critical") == ["checkout"]
    assert ids(service="checkout") == ["postgres", "checkout"]
    assert ids(since=at(60), until=at(200)) == ["payments"]  # overlapping the range
    page = logged_in_client.get("/api/v1/incidents", {"page_size": 2, "page": 2}).json()
    assert (page["count"], page["pages"], page["page"], len(page["results"])) == (3, 2, 2, 1)
    assert "event_ids" not in page["results"][0]  # the list stays light


@pytest.mark.parametrize("params, words", [
    ({"status": "closed"}, "status: closed not one of"),
    ({"severity": "high"}, "severity: high not one of"),
    ({"since": "yesterday"}, "since:"),
    ({"page_size": 1000}, "page_size must be between 1 and 500"),
    ({"page": 0}, "page must be 1 or more"),
])
def test_bad_list_parameters_are_400_naming_the_problem(logged_in_client, params, words):
    r = logged_in_client.get("/api/v1/incidents", params)
    assert r.status_code == 400 and words in r.json()["detail"]


def test_unknown_and_malformed_incident_references(logged_in_client):
    assert logged_in_client.get("/api/v1/incidents/999999").status_code == 404
    assert logged_in_client.get("/api/v1/incidents/%23999").status_code == 404
    r = logged_in_client.get("/api/v1/incidents/abc")
    assert r.status_code == 400 and "not an incident id" in r.json()["detail"]


def test_stats_count_events_alerts_incidents_and_noise_reduction(cascade, logged_in_client):
    data = logged_in_client.get("/api/v1/stats", {"since": at(-60), "until": at(60)}).json()
    assert (data["events"], data["alerts"], data["incidents"]) == (7, 4, 1)
    assert data["noise_reduction"] == 0.75  # 1 - 1 incident / 4 alert events
    assert data["incidents_by_status"] == {"open": 1}
    empty = logged_in_client.get("/api/v1/stats", {"since": at(600)}).json()
    assert empty["events"] == 0 and empty["noise_reduction"] is None
    assert logged_in_client.get("/api/v1/stats", {"until": "soon"}).status_code == 400


def test_services_topology_round_trip(topology, logged_in_client, admin_client):
    data = logged_in_client.get("/api/v1/services").json()["services"]
    by_name = {s["name"]: s for s in data}
    assert by_name["checkout"]["depends_on"] == ["payments", "postgres"] and by_name["checkout"]["team"] == "checkout"
    assert by_name["postgres"]["tier"] == "database" and by_name["postgres"]["runbook_url"].startswith("https://")
    # Posting again replaces a service's dependencies and creates the services it names.
    r = admin_client.post("/api/v1/services", {"services": [{"name": "checkout", "depends_on": ["payments", "redis"]}]},
                              content_type="application/json")
    assert r.status_code == 200 and r.json()["updated"] == 1
    assert sorted(Service.objects.get(name="checkout").depends_on.values_list("name", flat=True)) == ["payments", "redis"]
    assert Service.objects.filter(name="redis").exists()


@pytest.mark.parametrize("body, field, words", [
    ({"nodes": []}, "services", "expected"),
    ({"services": [{"tier": "backend"}]}, "name", "required"),
    ({"services": [{"name": "a", "depends_on": "b"}]}, "depends_on", "list of service names"),
    ({"services": [{"name": "a", "depends_on": ["a"]}]}, "depends_on", "cannot depend on itself"),
    ({"services": [{"name": "a", "tier": 3}]}, "tier", "expected a string"),
    ({"services": ["a"]}, "", "expected an object"),
])
def test_bad_topology_is_400_naming_what_is_wrong(admin_client, body, field, words):
    r = admin_client.post("/api/v1/services", body, content_type="application/json")
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert any(e["field"] == field and words in e["reason"] for e in errors), errors
    assert not Service.objects.filter(name="a").exists()


def test_topology_that_is_not_json_is_400(admin_client):
    r = admin_client.post("/api/v1/services", "{nope", content_type="application/json")
    assert r.status_code == 400 and "invalid JSON" in r.json()["detail"]


def test_the_ingest_answer_names_the_incidents_and_a_resend_changes_nothing(cascade, api):
    again = api.post("/api/v1/events", [{"id": "pg-1", "timestamp": at(0), "service": "postgres", "type": "alert",
                                         "severity": "critical", "message": "postgres: remaining connection slots are reserved"}])
    assert again.json() == {"accepted": 0, "duplicates": 1, "anomalies": 0, "incidents": []}
    assert Event.objects.filter(client_id="pg-1").count() == 1
    later = api.post("/api/v1/events", [{"id": "co-2", "timestamp": at(3), "service": "checkout", "type": "alert",
                                         "severity": "critical", "message": "checkout: error rate above 20%"}])
    assert later.json()["incidents"] == [cascade.pk]
    cascade.refresh_from_db()
    assert cascade.alert_count == 5


def test_an_incident_is_answered_in_its_documented_shape_with_typed_hypotheses(seeded, api):
    from incidents.selectors import incident_to_api

    data = api.get(f"/api/v1/incidents/{seeded.main.pk}").json()
    assert data == incident_to_api(seeded.main)  # the schema drops and changes nothing
    top = data["hypotheses"][0]
    assert set(top) == {"service", "score", "pattern", "reasons", "evidence"}
    assert top["evidence"] and set(top["evidence"][0]) == {"event", "client_id", "weight"}
    schemas = api.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert set(schemas["HypothesisOut"]["properties"]) == {"service", "score", "pattern", "reasons", "evidence"}
    assert set(schemas["EvidenceOut"]["properties"]) == {"event", "client_id", "weight"}
