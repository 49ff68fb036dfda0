"""/metrics, /healthz, /readyz, request ids in JSON logs, and Sentry against a local receiver."""
from __future__ import annotations

import gzip
import json
import logging
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import path
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from cleara import logs, monitoring

pytestmark = pytest.mark.django_db


def scrape(client: Client | None = None, **extra) -> dict[tuple[str, tuple], float]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_answer_loopback_and_the_token_and_hide_from_everyone_else(settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    assert Client().get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    assert Client().get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    assert Client().get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert Client().get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert Client().get("/metrics", REMOTE_ADDR="10.2.3.4").status_code == 200
    assert Client().get("/metrics").status_code == 404


@time_machine.travel("2026-11-02T09:30:00Z", tick=True)  # the batch is dated then: inside the ingest window
def test_ingest_counts_events_by_type_and_source_and_times_the_batch(api):
    before = scrape()
    batch = [
        {"id": f"m-{uuid.uuid4().hex}", "timestamp": "2026-11-02T09:00:00Z", "service": "checkout", "type": "alert",
         "severity": "critical", "message": "p99 latency above 2s"},
        {"id": f"m-{uuid.uuid4().hex}", "timestamp": "2026-11-02T09:00:01Z", "service": "checkout", "type": "log",
         "severity": "warning", "message": "timeout talking to payments"},
        {"id": f"m-{uuid.uuid4().hex}", "timestamp": "2026-11-02T09:00:02Z", "service": "checkout", "type": "log",
         "severity": "warning", "message": "timeout talking to payments"},
    ]
    response = api.post("/api/v1/events", batch)
    assert response.status_code == 202, response.content
    after = scrape()
    assert value(after, "cleara_events_ingested_total", type="alert", source="api") - value(before, "cleara_events_ingested_total", type="alert", source="api") == 1
    assert value(after, "cleara_events_ingested_total", type="log", source="api") - value(before, "cleara_events_ingested_total", type="log", source="api") == 2
    assert value(after, "cleara_ingest_store_seconds_count") - value(before, "cleara_ingest_store_seconds_count") == 1
    assert value(after, "cleara_correlation_seconds_count") - value(before, "cleara_correlation_seconds_count") == 1
    requests = {k: v for k, v in after.items() if k[0] == "cleara_http_request_duration_seconds_count" and dict(k[1])["status"] == "2xx"}
    assert any("events" in dict(labels)["view"] and dict(labels)["method"] == "POST" for _, labels in requests), requests
    # The incident the alert opened is counted under its severity, read from the database.
    from incidents.models import Incident

    for severity in ("critical", "warning", "info"):
        expected = Incident.objects.filter(status__in=Incident.OPEN_STATUSES, severity=severity).count()
        assert value(after, "cleara_open_incidents", severity=severity) == expected
    assert value(after, "cleara_open_incidents", severity="critical") >= 1
    assert value(after, "cleara_last_event_received_timestamp_seconds") >= timezone.now().timestamp() - 60
    assert value(after, "cleara_metrics_collect_errors") == 0


def test_notifications_tasks_and_models_are_read_from_the_database(make_incident):
    from django_q.models import Task

    from correlation.models import ModelVersion
    from integrations.models import OutboxMessage

    incident = make_incident()
    for status in ("delivered", "delivered", "failed", "pending"):
        OutboxMessage.objects.create(provider="slack", kind="incident", incident=incident, status=status,
                                     attempts=1 if status == "pending" else 0)
    OutboxMessage.objects.create(provider="pagerduty", kind="incident", incident=incident, status="failed")
    now = timezone.now()
    Task.objects.create(id=uuid.uuid4().hex, name="a", func="integrations.tasks.deliver_stream", started=now, stopped=now, success=False)
    Task.objects.create(id=uuid.uuid4().hex, name="b", func="integrations.tasks.deliver_stream", started=now, stopped=now, success=True)
    ModelVersion.objects.create(kind="anomaly", version=1, metrics={"points": 1000, "points_per_second": 500.0})
    ModelVersion.objects.create(kind="anomaly", version=2, active=True, metrics={"points": 9000, "points_per_second": 3000.0})
    samples = scrape()
    assert value(samples, "cleara_notifications_delivered_total", provider="slack") == 2
    assert value(samples, "cleara_notifications_failed_total", provider="slack") == 1
    assert value(samples, "cleara_notifications_failed_total", provider="pagerduty") == 1
    assert value(samples, "cleara_notifications_pending", provider="slack") == 1
    assert value(samples, "cleara_notifications_retrying", provider="slack") == 1
    assert value(samples, "cleara_task_failures_total", func="integrations.tasks.deliver_stream") == 1
    assert abs(value(samples, "cleara_worker_last_task_timestamp_seconds") - now.timestamp()) < 1
    assert value(samples, "cleara_model_versions", kind="anomaly") == 2
    assert value(samples, "cleara_model_active_version", kind="anomaly") == 2
    assert value(samples, "cleara_model_training_seconds", kind="anomaly", version="2") == 3.0


def test_queue_depth_and_lag_come_from_the_broker():
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker(list_key=f"cleara-test-{uuid.uuid4().hex[:8]}")
    try:
        assert monitoring.queue_state(broker) == (0, 0.0)
        for age in (90, 10):
            broker.enqueue(SignedPackage.dumps({"id": uuid.uuid4().hex, "name": "t", "func": "math.floor", "args": (1.5,),
                                                "kwargs": {}, "started": timezone.now() - timedelta(seconds=age)}))
        depth, lag = monitoring.queue_state(broker)
        assert depth == 2
        assert 90 <= lag < 120
    finally:
        broker.purge_queue()


def test_healthz_is_alive_and_readyz_checks_database_migrations_redis_and_a_worker(settings):
    from django_q.models import Task

    assert Client().get("/healthz").json() == {"status": "ok", "database": "ok"}
    body = Client().get("/readyz")
    assert body.status_code == 503
    answer = body.json()
    assert answer["failed"] == ["worker"], answer
    assert answer["checks"]["database"] in ("postgresql", "sqlite")
    assert answer["checks"]["migrations"] == "ok"
    assert answer["checks"]["redis"] == ("ok" if settings.REDIS_URL else "not configured")
    assert Client().get("/readyz?skip=worker").status_code == 200
    assert Client().get("/readyz?skip=workers").status_code == 400
    stale = timezone.now() - timedelta(seconds=settings.READY_WORKER_MAX_AGE + 5)
    Task.objects.create(id=uuid.uuid4().hex, name="old", func="math.floor", started=stale, stopped=stale, success=True)
    assert "s ago" in Client().get("/readyz").json()["checks"]["worker"]
    assert Client().get("/readyz").status_code == 503
    Task.objects.create(id=uuid.uuid4().hex, name="new", func="math.floor", started=timezone.now(), stopped=timezone.now(), success=True)
    ready = Client().get("/readyz")
    assert ready.status_code == 200 and ready.json()["failed"] == []


def test_readyz_names_a_dead_redis(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    answer = Client().get("/readyz?skip=worker")
    assert answer.status_code == 503 and answer.json()["failed"] == ["redis"]
    assert answer.json()["checks"]["redis"] == "error: redis unavailable"  # not "connecting to 127.0.0.1:1"


def test_request_ids_are_echoed_and_on_every_json_log_line(user, caplog):
    client = Client()
    client.force_login(user)
    with caplog.at_level(logging.INFO, logger="cleara.request"):
        response = client.get("/", HTTP_X_REQUEST_ID="req-0123456789abcdef")
    assert response["X-Request-ID"] == "req-0123456789abcdef"
    record = next(r for r in caplog.records if r.name == "cleara.request")
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["request_id"] == "req-0123456789abcdef"
    assert line["level"] == "INFO" and line["status"] == 200 and line["path"] == "/" and line["duration_ms"] >= 0
    assert line["ts"].endswith("Z")
    # An id that is not plausible (spaces, too short) is replaced, never echoed.
    generated = client.get("/", HTTP_X_REQUEST_ID="x y")["X-Request-ID"]
    assert generated != "x y" and len(generated) == 32


def test_json_formatter_keeps_extras_and_tracebacks():
    try:
        1 / 0
    except ZeroDivisionError:
        record = logging.LogRecord("cleara.test", logging.ERROR, __file__, 1, "failed for %s", ("checkout",), exc_info=True)
        import sys

        record.exc_info = sys.exc_info()
    record.service = "checkout"
    logs.RequestIdFilter().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "failed for checkout" and line["service"] == "checkout"
    assert "ZeroDivisionError" in line["exc"] and "request_id" not in line


# --- Sentry, against a local receiver that checks what a Sentry server checks ----------------------

def _boom(request):
    raise RuntimeError("checkout total went negative")


urlpatterns = [path("boom/", _boom, name="boom")]


def _envelope_items(body: bytes) -> tuple[dict, list[tuple[dict, dict]]]:
    lines = body.split(b"\n")
    header = json.loads(lines[0])
    items, i = [], 1
    while i < len(lines) and lines[i].strip():
        item_header = json.loads(lines[i])
        length = item_header.get("length")
        if length is not None:
            rest = b"\n".join(lines[i + 1:])
            payload, consumed = rest[:length], rest[:length].count(b"\n") + 1
        else:
            payload, consumed = lines[i + 1], 1
        items.append((item_header, json.loads(payload)))
        i += 1 + consumed
    return header, items


def test_sentry_receives_the_unhandled_error_with_its_request_id_and_no_personal_data(httpserver, settings, user):
    import sentry_sdk
    from werkzeug import Response

    received: list[dict] = []
    raw: list[bytes] = []

    def sentry_server(request):
        # What Sentry's ingestion checks: the auth header names the DSN's public key and a client,
        # the envelope is for this DSN and carries a well-formed event.
        auth = request.headers.get("X-Sentry-Auth", "")
        fields = dict(part.strip().split("=", 1) for part in auth.removeprefix("Sentry ").split(","))
        if fields.get("sentry_key") != "publickey0123" or not fields.get("sentry_client", "").startswith("sentry.python"):
            return Response("bad auth", status=401)
        body = request.get_data()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        header, items = _envelope_items(body)
        events = [payload for item, payload in items if item["type"] == "event"]
        if any(event.get("event_id") != header.get("event_id") or "timestamp" not in event for event in events):
            return Response("malformed envelope", status=400)
        received.extend(events)
        raw.append(body)
        return Response(json.dumps({"id": header.get("event_id")}), status=200, content_type="application/json")

    httpserver.expect_request("/api/42/envelope/", method="POST").respond_with_handler(sentry_server)
    settings.ROOT_URLCONF = __name__
    logs.sentry_init(dsn=f"http://publickey0123@127.0.0.1:{httpserver.port}/42", environment="test", release="cleara@1.2.3",
                     traces_sample_rate=0.0)
    try:
        client = Client(raise_request_exception=False)
        client.force_login(user)
        session_key = client.cookies["sessionid"].value.encode()
        response = client.get("/boom/?q=1", HTTP_X_REQUEST_ID="req-sentry-0001")
        assert response.status_code == 500
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)
    assert len(received) == 1, httpserver.log
    event = received[0]
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError" and exception["value"] == "checkout total went negative"
    assert event["tags"]["request_id"] == "req-sentry-0001"
    assert event["environment"] == "test" and event["release"] == "cleara@1.2.3"
    assert event["transaction"] == "/boom/"
    # No personal data: the session cookie's value and the user's name appear nowhere in what was sent.
    assert session_key not in raw[0] and user.username.encode() not in raw[0]
    assert event["request"].get("cookies", {}).get("sessionid", "[Filtered]") == "[Filtered]"
