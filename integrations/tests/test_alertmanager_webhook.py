"""POST /api/v1/integrations/alertmanager with what a real Alertmanager (webhook version 4) sends."""
import copy

import pytest

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
