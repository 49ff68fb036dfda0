"""POST /api/v1/integrations/alertmanager with what a real Alertmanager (webhook version 4) sends."""
import copy
import json

import pytest
import time_machine

from incidents.models import Event
from integrations.models import InboundPayload

pytestmark = pytest.mark.django_db
URL = "/api/v1/integrations/alertmanager"

# The shape Alertmanager's webhook notifier posts (notify/webhook: version "4"), nanosecond
# timestamps and Go's zero time for a firing alert's endsAt included.
PAYLOAD = {
    "receiver": "cleara",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HighLatency", "service": "checkout", "severity": "critical", "instance": "checkout-7f9c:9090"},
            "annotations": {"summary": "checkout p99 latency above 2s", "runbook_url": "https://runbooks.example.com/latency"},
            "startsAt": "2026-11-02T09:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=histogram_quantile",
            "fingerprint": "a1b2c3d4e5f60718",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DiskFilling", "job": "postgres", "severity": "warning"},
            "annotations": {"description": "disk 91% full"},
            "startsAt": "2026-11-02T08:40:00Z",
            "endsAt": "2026-11-02T08:58:30.5Z",
            "generatorURL": "",
            "fingerprint": "ffeeddccbbaa0099",
        },
    ],
    "groupLabels": {"alertname": "HighLatency"},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "version": "4",
    "groupKey": '{}:{alertname="HighLatency"}',
    "truncatedAlerts": 0,
}


@pytest.fixture(autouse=True)
def _clock():
    """The payload's times are fixed; the ingest window (30 days back) is counted from this clock."""
    with time_machine.travel("2026-11-02T09:30:00Z", tick=True):
        yield


def test_firing_and_resolved_alerts_become_events(api):
    r = api.post(URL, PAYLOAD)
    assert r.status_code == 202, r.content
    assert r.json()["accepted"] == 2
    firing = Event.objects.get(attributes__alertname="HighLatency")
    assert firing.service.name == "checkout" and firing.severity == "critical" and firing.type == "alert"
    assert firing.message == "checkout p99 latency above 2s"
    assert firing.host == "checkout-7f9c:9090"
    assert firing.fingerprint == "am:HighLatency:a1b2c3d4e5f60718"
    assert firing.timestamp.isoformat() == "2026-11-02T09:00:00.123456+00:00"
    assert firing.attributes["labels"]["instance"] == "checkout-7f9c:9090"
    resolved = Event.objects.get(attributes__alertname="DiskFilling")
    assert resolved.service.name == "postgres"  # from the job label
    assert resolved.attributes["alert_status"] == "resolved" and resolved.severity == "info"
    assert resolved.timestamp.isoformat() == "2026-11-02T08:58:30.500000+00:00"
    assert InboundPayload.objects.get().status == InboundPayload.Status.PROCESSED


def test_repeat_notification_is_not_stored_twice(api):
    api.post(URL, PAYLOAD)
    again = api.post(URL, PAYLOAD).json()
    assert again["accepted"] == 0 and again["duplicates"] == 2
    assert Event.objects.count() == 2


def test_bad_payloads_are_refused_with_reasons(api):
    bad = copy.deepcopy(PAYLOAD)
    bad["version"] = "3"
    bad["alerts"][0]["startsAt"] = "soon"
    bad["alerts"][1]["status"] = "pending"
    r = api.post(URL, bad)
    assert r.status_code == 400
    fields = {(e["index"], e["field"]) for e in r.json()["errors"]}
    assert fields >= {(None, "version"), (0, "startsAt"), (1, "status")}
    assert Event.objects.count() == 0 and InboundPayload.objects.count() == 0
    assert api.post(URL, "{nope").status_code == 400
    assert api.post(URL, "x", content_type="text/plain").status_code == 415


def test_webhook_needs_a_token(client):
    r = client.post(URL, PAYLOAD, content_type="application/json")
    assert r.status_code == 401


# --- types, sizes and times (issue 12) -----------------------------------------------------------

def refused(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def errors_of(response, status: int = 400) -> set[tuple]:
    return {(e["index"], e["field"]) for e in refused(response, status)["errors"]}


@pytest.mark.parametrize("field, value", [
    ("truncatedAlerts", "abc"), ("truncatedAlerts", -1), ("truncatedAlerts", True), ("truncatedAlerts", 1.5), ("truncatedAlerts", 1e300),
    ("commonLabels", ["service", "checkout"]), ("groupLabels", "alertname"), ("commonAnnotations", 7),
    ("commonLabels", {"service": 3}), ("groupKey", {"a": 1}), ("receiver", 1),
])
def test_top_level_fields_of_the_wrong_type_are_named(api, field, value):
    bad = {**copy.deepcopy(PAYLOAD), field: value}
    fields = errors_of(api.post(URL, bad))
    assert any(f == field or f.startswith(field + ".") for _, f in fields), fields
    assert Event.objects.count() == 0 and InboundPayload.objects.count() == 0


def test_a_truncated_count_is_kept():
    from integrations.alertmanager.payload import batch_parse

    assert batch_parse({**PAYLOAD, "truncatedAlerts": 12}).truncated_alerts == 12
    assert batch_parse({**PAYLOAD, "truncatedAlerts": 3.0}).truncated_alerts == 3  # an integer to JSON Schema


def test_label_and_annotation_values_are_strings_of_bounded_length(api):
    bad = copy.deepcopy(PAYLOAD)
    bad["alerts"][0]["labels"]["severity"] = ["critical"]
    bad["alerts"][0]["labels"]["team"] = "x" * 1025
    bad["alerts"][1]["annotations"]["description"] = {"text": "disk"}
    assert errors_of(api.post(URL, bad)) == {(0, "labels.severity"), (0, "labels.team"), (1, "annotations.description")}


def test_a_service_label_longer_than_the_column_is_refused(api):
    bad = copy.deepcopy(PAYLOAD)
    bad["alerts"][0]["labels"]["service"] = "s" * 300
    body = refused(api.post(URL, bad))
    assert body["errors"] == [{"index": 0, "field": "labels.service", "reason": "the service name is longer than 200 characters (300)"}]
    ok = copy.deepcopy(PAYLOAD)
    ok["alerts"][0]["labels"]["service"] = "s" * 200
    assert api.post(URL, ok).status_code == 202


def test_more_alerts_than_the_cap_is_a_413_naming_the_count(api, settings):
    settings.ALERTMANAGER_MAX_ALERTS = 3
    alert = PAYLOAD["alerts"][0]
    many = {**PAYLOAD, "alerts": [{**alert, "fingerprint": f"{i:016x}"} for i in range(4)]}
    body = refused(api.post(URL, many), 413)
    assert "4 alerts; at most 3" in body["detail"]
    assert api.post(URL, {**many, "alerts": many["alerts"][:3]}).status_code == 202


@pytest.mark.parametrize("starts_at, reason", [
    ("0001-01-01T00:00:00Z", "days in the past"),
    ("9999-12-31T23:59:59Z", "hours in the future"),
    ("2026-11-04T00:00:00Z", "more than 24 hours in the future"),
    (1e300, "out of range"),
])
def test_a_firing_alert_outside_the_window_is_refused(api, starts_at, reason):
    bad = copy.deepcopy(PAYLOAD)
    bad["alerts"][0]["startsAt"] = starts_at
    body = refused(api.post(URL, bad))
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "startsAt")]
    assert reason in body["errors"][0]["reason"]
    assert Event.objects.count() == 0


def test_an_alert_firing_since_before_the_window_is_left_out_and_the_rest_stored(api):
    """Alertmanager resends every firing alert of a group with its first startsAt: one firing for
    weeks must not make each notification of its group a 400 (Alertmanager would drop the group's
    new alerts with it)."""
    long_firing = copy.deepcopy(PAYLOAD)
    long_firing["alerts"][0]["startsAt"] = "2026-09-01T00:00:00Z"
    r = api.post(URL, long_firing)
    assert r.status_code == 202, r.content
    body = r.json()
    assert [(s["index"], s["field"]) for s in body["skipped"]] == [(0, "startsAt")]
    assert "before the ingest window (30 days; INGEST_MAX_PAST_DAYS)" in body["skipped"][0]["reason"]
    assert body["accepted"] == 1 and Event.objects.count() == 1
    assert not Event.objects.filter(attributes__alertname="HighLatency").exists()
    assert InboundPayload.objects.get(source="alertmanager").body == long_firing  # kept raw all the same
    assert api.post(URL, PAYLOAD).json()["skipped"] == []


def test_a_resolved_alert_is_judged_by_its_end(api):
    bad = copy.deepcopy(PAYLOAD)
    bad["alerts"][1]["endsAt"] = "9999-01-01T00:00:00Z"
    assert errors_of(api.post(URL, bad)) == {(1, "endsAt")}
    # An alert that fired for 40 days and ended now is news, not history.
    old = copy.deepcopy(PAYLOAD)
    old["alerts"][1]["startsAt"] = "2026-09-20T00:00:00Z"
    assert api.post(URL, old).status_code == 202


def test_go_zero_time_as_end_means_not_resolved(api):
    r = api.post(URL, PAYLOAD)  # alert 0 is firing with endsAt 0001-01-01T00:00:00Z
    assert r.status_code == 202, r.content
    assert Event.objects.get(attributes__alertname="HighLatency").attributes["ends_at"] is None


def test_the_window_is_configurable(api, settings):
    settings.INGEST_MAX_PAST_DAYS = 1
    bad = copy.deepcopy(PAYLOAD)
    bad["alerts"][1]["startsAt"], bad["alerts"][1]["endsAt"] = "2026-10-31T08:00:00Z", "2026-10-31T09:00:00Z"
    body = refused(api.post(URL, bad))
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "endsAt")]
    assert "more than 1 days in the past" in body["errors"][0]["reason"]


def test_new_services_per_request_are_capped(api, settings):
    settings.INGEST_MAX_NEW_SERVICES = 2
    alert = PAYLOAD["alerts"][0]
    three = {**PAYLOAD, "alerts": [{**alert, "labels": {**alert["labels"], "service": f"svc-{i}"}, "fingerprint": f"{i:016x}"} for i in range(3)]}
    body = refused(api.post(URL, three), 422)
    assert "3 new services; at most 2" in body["detail"]
    assert Event.objects.count() == 0 and InboundPayload.objects.count() == 0
    assert api.post(URL, json.dumps({**three, "alerts": three["alerts"][:2]})).status_code == 202
    # Services that exist do not count: the same three names now create one.
    assert api.post(URL, three).status_code == 202
