"""Outages, for real: the application served by daphne, PostgreSQL reached through a TCP proxy
the test cuts and restores (the shared server keeps running for everyone else).

What a client sees while the database is unreachable: 503 JSON with Retry-After from ingest and
every other endpoint (never an HTML 500), /healthz 200 "database unavailable" and /readyz 503,
neither naming a host or port. What is stored: nothing of a batch answered 503; the same batch
sent again after the database is back is stored once, and once more is all duplicates.
"""
from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from cleara.tests.outage import Server, TcpProxy, database_url
from incidents.models import Event
from incidents.tokens import api_token_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def db_proxy():
    if connection.vendor != "postgresql":
        pytest.skip("the outage test cuts a PostgreSQL connection")
    s = connection.settings_dict
    proxy = TcpProxy(s.get("HOST") or "127.0.0.1", int(s.get("PORT") or 5432)).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def server(db_proxy, settings):
    app = Server("outage-postgres", {
        "DATABASE_URL": database_url(connection.settings_dict, host="127.0.0.1", port=db_proxy.port),
        "DATABASE_CONNECT_TIMEOUT": "2",
        "DATABASE_UNAVAILABLE_RETRY_AFTER": "7",
    }).start()
    yield app
    app.stop()


def batch(prefix: str, n: int = 20) -> bytes:
    now = timezone.now().isoformat()
    return json.dumps([
        {"id": f"{prefix}-{i}", "timestamp": now, "service": "checkout", "type": "log", "severity": "info", "message": f"GET /cart {i}"}
        for i in range(n)
    ]).encode()


def stored(prefix: str) -> int:
    # The test's own connection goes straight to PostgreSQL, not through the proxy.
    return Event.objects.filter(client_id__startswith=f"{prefix}-").count()


def test_postgresql_down_answers_503_with_retry_after_and_a_retried_batch_is_stored_once(server, db_proxy, django_user_model):
    # Both scopes: every request below is allowed, so each one needs the database (a token the
    # server has cached is refused 403 for a missing scope without it: cleara.tokencache).
    _, token = api_token_create(name="outage", scopes=["ingest", "read"])
    browser = Client()
    browser.force_login(django_user_model.objects.create_user(username="oncall", password="pw-oncall-123"))
    cookie = {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    hidden = ("127.0.0.1", str(db_proxy.port), "5432", "Traceback", "psycopg")

    status, _, body = server.request("POST", "/api/v1/events", batch("before"), auth)
    assert status == 202 and json.loads(body)["accepted"] == 20 and stored("before") == 20

    db_proxy.cut()
    status, headers, body = server.request("POST", "/api/v1/events", batch("during"), auth)
    assert status == 503, body[:500]
    assert headers["Retry-After"] == "7" and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"detail": "database unavailable: nothing was stored; retry in 7 s", "retry_after": 7}
    # Every other kind of request fails the same clear way.
    alert = json.dumps({"version": "4", "groupKey": "outage", "status": "firing", "receiver": "cleara", "alerts": [
        {"status": "firing", "labels": {"alertname": "Down", "service": "checkout"}, "annotations": {"summary": "down"},
         "startsAt": timezone.now().isoformat(), "fingerprint": "0a1b"}]}).encode()  # valid: storing it needs the database
    for method, path in (("GET", "/api/v1/incidents"), ("POST", "/api/v1/integrations/alertmanager")):
        status, headers, body = server.request(method, path, alert if method == "POST" else None, auth)
        assert (status, headers.get("Retry-After")) == (503, "7") and json.loads(body)["detail"].startswith("database unavailable"), body[:300]
    status, headers, body = server.request("GET", "/", headers=cookie)
    assert (status, headers.get("Retry-After")) == (503, "7") and b"Database unavailable" in body
    status, _, body = server.request("GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok", "database": "database unavailable"}
    status, _, body = server.request("GET", "/readyz?skip=worker")
    assert status == 503 and json.loads(body)["checks"]["database"] == "error: database unavailable"
    for answer in (body, server.request("GET", "/healthz")[2]):
        assert not any(word.encode() in answer for word in hidden), answer
    assert stored("during") == 0

    db_proxy.restore()
    status, _, body = server.request("POST", "/api/v1/events", batch("during"), auth)
    assert status == 202, body[:500]
    assert json.loads(body)["accepted"] == 20
    # The client did not see that answer either, and sends the batch once more.
    status, _, body = server.request("POST", "/api/v1/events", batch("during"), auth)
    assert status == 202 and json.loads(body) == {**json.loads(body), "accepted": 0, "duplicates": 20}
    assert stored("during") == 20 and stored("before") == 20
    assert json.loads(server.request("GET", "/healthz")[2])["database"] == "ok"
    assert server.request("GET", "/readyz?skip=worker")[0] == 200


def test_a_chunked_12_mib_body_without_content_length_is_a_413_json(server):
    """No Content-Length to refuse it by: the body is counted as it is read (daphne, ASGI)."""
    import http.client

    _, token = api_token_create(name="chunked")
    for path, content_type in (("/api/v1/events", "application/json"), ("/api/v1/services", "application/octet-stream")):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        chunks = (b"[" + b" " * (1024 * 1024 - 1) if i == 0 else b" " * (1024 * 1024) for i in range(12))
        conn.request("POST", path, body=chunks, headers={"Authorization": f"Bearer {token}", "Content-Type": content_type}, encode_chunked=True)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert response.status == 413 and response.getheader("Content-Type").startswith("application/json"), (path, response.status, body[:300])
        assert json.loads(body)["detail"].startswith("body is")
