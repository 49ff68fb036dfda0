"""The connection pool, for real: daphne serving cleara.asgi with a small pool on the test's
PostgreSQL database, concurrent clients, and pg_stat_activity sampled for the server's connections
(tagged with their own application_name).

- the bound: however many requests run at once, the process holds at most DATABASE_POOL_MAX_SIZE
  connections (a table lock held by the test keeps every request waiting inside the database, so
  the pool is full while the rest queue for a connection), and every request is answered 202;
- exhausted: a request that waits DATABASE_POOL_TIMEOUT for a connection answers 503 JSON with
  Retry-After ("database busy"), never a 500, and nothing of its batch is stored;
- a forked child (django-q2's workers) gets a pool of its own, not its parent's sockets.
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from cleara.tests.outage import Server, database_url
from incidents.models import Event
from incidents.tokens import api_token_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _dsn() -> str:
    return database_url(connection.settings_dict)


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's (the embedded SQLite default has none)")


def _server(name: str, app: str, **env: str) -> Server:
    # Ingest through Django, where every request borrows a connection of its own. The light path
    # (incidents.fastingest, with the queue on) stores through one committer connection per
    # process; its wait for the database is incidents/tests/test_fastingest.py's.
    return Server(name, {"DATABASE_URL": f"{_dsn()}?application_name={app}", "DATABASE_POOL_MIN_SIZE": "1", "INGEST_FAST_PATH": "0",
                         **env}).start()


def _held(app: str) -> int:
    with psycopg.connect(_dsn(), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app]).fetchone()[0]


class _Sampler:
    """The peak of the server's connections, sampled every 20 ms from another connection."""

    def __init__(self, app: str):
        self.app, self.peak, self._stop = app, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(_dsn(), autocommit=True) as conn:
            while not self._stop.is_set():
                n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [self.app]).fetchone()[0]
                self.peak = max(self.peak, n)
                time.sleep(0.02)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _batch(prefix: str) -> bytes:
    now = timezone.now().isoformat()
    return json.dumps([{"id": f"{prefix}-{i}", "timestamp": now, "service": "checkout", "type": "log", "message": f"GET /cart {i}"}
                       for i in range(5)]).encode()


def _post_all(server: Server, token: str, prefixes: list[str]) -> list[tuple[int, dict, bytes]]:
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with ThreadPoolExecutor(len(prefixes)) as pool:
        return list(pool.map(lambda p: server.request("POST", "/api/v1/events", _batch(p), auth, timeout=60), prefixes))


def _locked_events(seconds: float) -> threading.Thread:
    """Hold an exclusive lock on the events table for `seconds` (from the test's own connection)."""
    ready = threading.Event()

    def hold():
        with psycopg.connect(_dsn()) as conn:
            conn.execute("LOCK TABLE incidents_event IN ACCESS EXCLUSIVE MODE")
            ready.set()
            time.sleep(seconds)
            conn.rollback()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert ready.wait(10)
    return thread


def test_concurrent_requests_never_hold_more_connections_than_the_pool_max(postgres):
    _, token = api_token_create(name="pool-bound")
    app = f"cleara-pool-{uuid.uuid4().hex[:8]}"
    server = _server("pool-bound", app, DATABASE_POOL_MAX_SIZE="3", DATABASE_POOL_TIMEOUT="60")
    try:
        prefixes = [f"bound{i}" for i in range(12)]
        with _Sampler(app) as sampler:
            lock = _locked_events(2.0)  # every request waits inside the database: the pool fills up
            answers = _post_all(server, token, prefixes)
            lock.join()
        assert [status for status, _, _ in answers] == [202] * 12, [body[:200] for _, _, body in answers]
        assert sampler.peak == 3, sampler.peak  # full, never above the max
        assert Event.objects.filter(client_id__startswith="bound").count() == 12 * 5
        assert _held(app) <= 3
    finally:
        server.stop()


def test_an_exhausted_pool_answers_503_busy_with_retry_after_and_stores_nothing(postgres):
    _, token = api_token_create(name="pool-busy")
    app = f"cleara-pool-{uuid.uuid4().hex[:8]}"
    server = _server("pool-busy", app, DATABASE_POOL_MAX_SIZE="2", DATABASE_POOL_TIMEOUT="1", DATABASE_POOL_BUSY_RETRY_AFTER="3")
    try:
        server.request("GET", "/healthz")  # the pool is open and warm
        lock = _locked_events(4.0)
        answers = _post_all(server, token, [f"busy{i}" for i in range(6)])
        lock.join()
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [202, 202, 503, 503, 503, 503], [(s, b[:200]) for s, _, b in answers]
        for status, headers, body in answers:
            if status == 503:
                assert headers["Retry-After"] == "3" and headers["Content-Type"].startswith("application/json")
                assert json.loads(body) == {"detail": "database busy (every pooled connection in use): nothing was stored; retry in 3 s",
                                            "retry_after": 3}
        stored = {p for p in Event.objects.filter(client_id__startswith="busy").values_list("client_id", flat=True)}
        assert len(stored) == 2 * 5  # the two batches answered 202, whole; nothing of the others
        # Once the lock is gone the process serves again.
        assert server.request("GET", "/healthz")[0] == 200
        assert json.loads(server.request("GET", "/healthz")[2])["database"] == "ok"
    finally:
        server.stop()


def test_a_forked_child_opens_its_own_pool(postgres):
    """What django-q2 does: the parent has a pool with a connection in it, forks, and both go on
    querying; each process's connections are its own backends."""
    from django.db import connections

    if not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("DATABASE_POOL=0")
    connections.close_all()
    connection.close_pool()
    connection.pool.open(wait=True)  # a fresh pool with its min_size connections ready: none grown below
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        parent_backend = cursor.fetchone()[0]
    connection.close()  # back to the pool: idle there, as in django-q2's sentinel before it forks
    if connection.pool.get_stats()["pool_size"] != 1:
        pytest.skip("DATABASE_POOL_MIN_SIZE > 1: which pooled connection the parent gets back is not known")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                os.write(write, str(cursor.fetchone()[0]).encode())
            connection.close()
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child_backend = int(os.read(read, 64) or b"0")
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_backend and child_backend != parent_backend
    with connection.cursor() as cursor:  # the parent's pooled connection still works
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] == parent_backend
