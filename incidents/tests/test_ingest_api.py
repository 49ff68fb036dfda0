"""POST /api/v1/events: validation, idempotency, auth, and every kind of bad input."""
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command

from incidents.models import Event, Service
from incidents.tokens import api_token_revoke

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


@pytest.fixture(autouse=True)
def _clock():
    """ev()'s timestamp is fixed; the ingest window (30 days back) is counted from this clock."""
    with time_machine.travel("2026-11-02T09:30:00Z", tick=True):
        yield


def ev(**kw):
    base = {"timestamp": "2026-11-02T09:00:00Z", "service": "checkout", "type": "log", "severity": "info", "message": "GET /cart 200"}
    base.update(kw)
    return base


def test_valid_batch_is_committed_and_unknown_services_are_created(api):
    batch = [ev(id="e1"), ev(id="e2", service="payments", type="metric", metric="latency_p99_ms", value=812.5, message="")]
    r = api.post(URL, batch)
    assert r.status_code == 202, r.content
    assert r.json()["accepted"] == 2
    assert Service.objects.filter(name="payments").exists()
    stored = Event.objects.get(client_id="e2")
    assert stored.value == 812.5 and stored.metric == "latency_p99_ms" and stored.service.name == "payments"


def test_same_id_is_never_stored_twice(api):
    assert api.post(URL, [ev(id="dup"), ev(id="dup")]).json() == {"accepted": 1, "duplicates": 1, "anomalies": 0, "incidents": []}
    again = api.post(URL, [ev(id="dup"), ev(id="new")]).json()
    assert again["accepted"] == 1 and again["duplicates"] == 1
    assert Event.objects.filter(client_id="dup").count() == 1


def test_json_lines_are_accepted(api):
    body = "\n".join(json.dumps(ev(id=f"l{i}")) for i in range(3)) + "\n"
    r = api.post(URL, body, content_type="application/x-ndjson")
    assert r.status_code == 202 and r.json()["accepted"] == 3


def test_invalid_event_refuses_the_whole_batch_naming_index_and_field(api):
    batch = [ev(id="ok"), ev(type="trace"), ev(timestamp="yesterday"), ev(type="metric", message="", value="fast", metric="x")]
    r = api.post(URL, batch)
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} >= {(1, "type"), (2, "timestamp"), (3, "value")}
    assert all(e["reason"] for e in errors)
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "body, content_type, status, words",
    [
        ("[{", "application/json", 400, "invalid JSON at line 1"),
        ('{"a": 1}\nnot json', "application/x-ndjson", 400, "line 2"),
        ("<xml/>", "application/xml", 415, "unsupported content type"),
        ("[]", "application/json", 400, "no events"),
        ("", "application/json", 400, "empty body"),
    ],
)
def test_bad_bodies_get_their_own_clear_errors(api, body, content_type, status, words):
    r = api.post(URL, body, content_type=content_type)
    assert r.status_code == status
    assert words in r.json()["detail"]


def test_too_many_events_is_413(api, settings):
    settings.INGEST_MAX_EVENTS = 10
    r = api.post(URL, [ev() for _ in range(11)])
    assert r.status_code == 413 and "at most 10" in r.json()["detail"]


def test_oversized_body_is_413(api, settings):
    settings.INGEST_MAX_BYTES = 200
    r = api.post(URL, [ev(message="x" * 300)])
    assert r.status_code == 413 and "limit is 200" in r.json()["detail"]


def test_missing_wrong_and_revoked_tokens(client, api, api_token):
    r = client.post(URL, "[]", content_type="application/json")
    assert r.status_code == 401 and "missing Authorization" in r.json()["detail"]
    r = client.post(URL, "[]", content_type="application/json", HTTP_AUTHORIZATION="Bearer clr_nope")
    assert r.status_code == 401 and r.json()["detail"] == "unknown API token"
    r = client.post(URL, "[]", content_type="application/json", HTTP_AUTHORIZATION="Basic abc")
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    api_token_revoke(name="test-token")
    r = api.post(URL, [ev()])
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_create_api_token_command_prints_a_working_token(client, capsys):
    call_command("create_api_token", "ci")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("clr_")
    r = client.post(URL, json.dumps([ev()]), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 202


def test_create_api_token_takes_scopes_and_the_audit_log_says_who_made_it(client, capsys):
    from access.models import AuditEntry
    from incidents.models import ApiToken

    call_command("create_api_token", "grafana", "--scope", "read", "--scope", "admin")
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(name="grafana")
    assert token.scopes == ["read", "admin"] and token.key_hash == ApiToken.hash(raw)
    assert ApiToken.objects.get(name="grafana").last_used_at is None
    assert client.get("/api/v1/incidents", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    refused = client.post(URL, json.dumps([ev()]), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert refused.status_code == 403 and "needs the 'ingest' scope" in refused.json()["detail"]
    assert not Event.objects.exists()
    assert ApiToken.objects.get(name="grafana").last_used_at is not None
    entry = AuditEntry.objects.get(action="create_api_token")
    assert (entry.via, entry.target, entry.details) == ("command", "token grafana", {"scopes": ["read", "admin"]})
    with pytest.raises(CommandError):
        call_command("create_api_token", "bad", "--scope", "root")


def test_last_used_at_is_written_at_most_once_a_minute(api, api_token):
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.models import ApiToken

    assert api.get("/api/v1/stats").status_code == 200
    first = ApiToken.objects.get(name="test-token").last_used_at
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v1/stats").status_code == 200
    assert ApiToken.objects.get(name="test-token").last_used_at == first
    assert not [q for q in queries if q["sql"].startswith("UPDATE") and "apitoken" in q["sql"]]
    # A minute later (the clock, not an edit of the row: a process keeps the token it read,
    # cleara.tokencache, and the time it last wrote last_used_at).
    with time_machine.travel(first + timedelta(seconds=61), tick=False):
        assert api.get("/api/v1/stats").status_code == 200
    assert ApiToken.objects.get(name="test-token").last_used_at > first
