"""The ingest queue and its partitioned workers (issue 11), against real PostgreSQL and Redis:
the request stores and answers 202, a real `manage.py ingest_worker` process opens the incident,
a worker SIGKILLed in the middle of a batch loses nothing (another takes its partitions over when
the lease expires and processes the pending messages once), SIGTERM stops a worker within 10 s,
and a publish that fails is made good by the sweep."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from cleara.tests.outage import BASE_DIR, database_url, wait_for
from incidents import partitions, queue
from incidents.models import Event, Incident, IngestMessage, Service
from incidents.topology import topology_apply

URL = "/api/v1/events"
needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the ingest queue needs Redis (REDIS_URL)")


# -- partitions: plain functions ---------------------------------------------------------------

def test_components_join_services_through_dependencies_either_way():
    found = partitions.components({"web": {"api"}, "api": {"db"}, "batch": {"db"}, "lonely": set(), "x": {"y"}})
    assert found["web"] == found["api"] == found["db"] == found["batch"] == "api"  # the smallest name
    assert found["x"] == found["y"] == "x" and found["lonely"] == "lonely"


def test_a_service_outside_the_topology_is_a_component_of_its_own(settings):
    settings.INGEST_COMPONENT_PARTITIONS = 64
    component_of = partitions.components({"web": {"api"}})
    assert partitions.component_partition("web", component_of) == partitions.component_partition("api", component_of)
    spread = {partitions.component_partition(f"new-{i}", component_of) for i in range(40)}
    assert len(spread) > 10  # unknown services spread over the partitions, each on its own


def test_series_partition_is_stable_and_depends_on_the_whole_series(settings):
    settings.INGEST_SERIES_PARTITIONS = 16
    assert partitions.series_partition(3, "cpu", "h1") == partitions.stable_hash("3\x1fcpu\x1fh1") % 16
    assert len({partitions.series_partition(3, "cpu", f"h{i}") for i in range(50)}) > 8


def test_an_anomaly_is_queued_with_the_arrival_of_the_points_it_was_found_in():
    from incidents.worker import stored_arrival

    rows = [(1, [10, 11], 100.0), (2, [12], 105.0)]  # (message, its events, arrival)
    def found_in(*points):
        return [Event(type=Event.Type.ANOMALY, attributes={"metric_event_id": p}) for p in points]
    assert stored_arrival(rows, found_in(12)) == 105.0  # the later message's point, not the batch's oldest
    assert stored_arrival(rows, found_in(12, 11)) == 100.0  # the earliest of those it was found in
    assert stored_arrival(rows, [Event(type=Event.Type.ANOMALY, attributes={})]) == 100.0  # unknown: the batch's oldest


# -- the request path and the worker, in this process ----------------------------------------

@pytest.fixture
def queued(settings):
    """INGEST_ASYNC on, streams under a prefix of this test's own; removed afterwards."""
    if not settings.REDIS_URL:
        pytest.skip("the ingest queue needs Redis (REDIS_URL)")
    settings.INGEST_ASYNC = True
    settings.INGEST_STREAM_PREFIX = f"test-ingest:{uuid.uuid4().hex[:8]}"
    settings.INGEST_SERIES_PARTITIONS = 2
    settings.INGEST_COMPONENT_PARTITIONS = 2
    partitions.COMPONENTS.invalidate()
    yield settings.INGEST_STREAM_PREFIX
    r = queue.client()
    keys = list(r.scan_iter(f"{settings.INGEST_STREAM_PREFIX}:*"))
    if keys:
        r.delete(*keys)


def outage_alerts(n: int = 4, *, at: datetime | None = None, prefix: str = "a") -> list[dict]:
    at = at or datetime.now(UTC) - timedelta(minutes=1)
    services = ["payments-db", "payments", "checkout", "frontend"]
    return [
        {"id": f"{prefix}{i}", "timestamp": (at + timedelta(seconds=5 * i)).isoformat(), "service": services[i % 4], "type": "alert",
         "severity": "critical", "message": f"{services[i % 4]} error rate above 5%", "fingerprint": f"{services[i % 4]}:errors"}
        for i in range(n)
    ]


def shop_topology() -> None:
    topology_apply(services=[
        {"name": "frontend", "depends_on": ["checkout"]},
        {"name": "checkout", "depends_on": ["payments"]},
        {"name": "payments", "depends_on": ["payments-db"]},
        {"name": "payments-db"},
    ])


@pytest.mark.django_db(transaction=True)
def test_ingest_answers_stored_and_queued_then_the_worker_opens_the_incident(api, queued):
    from incidents.worker import IngestWorker

    shop_topology()
    metric = {"timestamp": datetime.now(UTC).isoformat(), "service": "payments", "type": "metric", "metric": "cpu", "value": 50.0, "host": "h1"}
    r = api.post(URL, [*outage_alerts(), metric])
    assert r.status_code == 202, r.content
    assert r.json() == {"accepted": 5, "duplicates": 0, "anomalies": 0, "incidents": []}  # stored; not processed yet
    assert Event.objects.count() == 5 and not Incident.objects.exists()
    rows = {(m.kind, m.events) for m in IngestMessage.objects.all()}
    assert rows == {("component", 4), ("series", 1)}  # one component (the topology is connected), one series
    lag = api.get("/api/v1/stats").json()["queue"]
    assert lag["component"]["messages"] == 1 and lag["component"]["events"] == 4 and lag["series"]["events"] == 1
    assert lag["component"]["oldest_seconds"] >= 0

    worker = IngestWorker(name="in-test")
    worker.balance()
    assert len(worker.owned) == 4  # alone: every partition
    for _ in range(3):
        worker.step()
    worker.stop()
    incident = Incident.objects.get()
    assert set(incident.events.values_list("client_id", flat=True)) == {"a0", "a1", "a2", "a3"}
    assert not IngestMessage.objects.exists()
    assert api.get("/api/v1/stats").json()["queue"]["component"] == {"messages": 0, "events": 0, "oldest_seconds": 0.0}
    done = queue.done_read()
    assert {d["k"] for d in done} == {"series", "component"} and all(d["a"] <= d["s"] <= d["d"] for d in done)
    # the benchmark's figures: the alerts in each message and the worker's CPU for it
    assert {(d["k"], d["n"], d["al"]) for d in done} == {("series", 1, 0), ("component", 4, 4)}
    assert all(0 < d["c"] < d["d"] - d["s"] + 0.5 for d in done)
    # when each message was published (its stream entry's time, to the millisecond), who processed it, its batch's events
    assert all(d["a"] - 0.001 <= d["p"] <= d["s"] and d["w"] == "in-test" for d in done)
    assert {(d["k"], d["b"]) for d in done} == {("series", 1), ("component", 4)}
    # acknowledged (in the round trip that carried the records)
    assert all(queue.client().xpending(queue.stream_key(*p), queue.GROUP)["pending"] == 0 for p in queue.all_partitions())


def test_a_worker_serves_its_series_partitions_in_turn_after_the_component_ones(queued, settings, monkeypatch):
    """What one read brought is processed component partitions first, then a batch of each
    series partition in turn (not one partition's whole read before the next one's), the
    component partitions looked at again after every series batch; a stop ends it between two
    batches."""
    from incidents.worker import SERIES_BATCH_EVENTS, IngestWorker

    worker = IngestWorker(name="in-turn")
    done, looked = [], []
    monkeypatch.setattr(worker, "_batch", lambda part, kind, batch: done.append((part, [m for _, m in batch])))
    monkeypatch.setattr(worker, "components_first", lambda: looked.append(len(done)))
    half = str(SERIES_BATCH_EVENTS // 2).encode()  # two messages a batch

    def entries(first: int, n: int, events: bytes) -> list:
        return [(f"0-{first + i}".encode(), {b"m": str(first + i).encode(), b"n": events}) for i in range(n)]

    read = [(("component", 1), entries(100, 3, b"10")), (("series", 0), entries(0, 4, half)), (("series", 1), entries(10, 5, half))]
    worker.handle_read(read)
    assert done == [(("component", 1), [100, 101, 102]), (("series", 0), [0, 1]), (("series", 1), [10, 11]), (("series", 0), [2, 3]),
                    (("series", 1), [12, 13]), (("series", 1), [14])]
    assert looked == [2, 3, 4, 5, 6]  # after every series batch

    done.clear()
    monkeypatch.setattr(worker, "components_first", lambda: worker.stopping.set())
    worker.handle_read(read[1:])
    assert done == [(("series", 0), [0, 1])]  # stopped: the rest stays pending for the next owner


@pytest.mark.django_db
def test_a_worker_reads_a_service_once_per_topology_ttl(settings, django_assert_num_queries):
    from incidents.worker import ServiceCache

    service = Service.objects.create(name="cached-a")
    cache = ServiceCache()
    settings.INGEST_TOPOLOGY_TTL = 60
    with django_assert_num_queries(1):
        assert cache.get({service.pk})[service.pk].name == "cached-a"
    Service.objects.filter(pk=service.pk).update(name="cached-b")
    with django_assert_num_queries(0):
        assert cache.get({service.pk})[service.pk].name == "cached-a"  # within the TTL: as read
    settings.INGEST_TOPOLOGY_TTL = 0
    with django_assert_num_queries(1):
        assert cache.get({service.pk})[service.pk].name == "cached-b"  # read again after it


@pytest.mark.django_db(transaction=True)
def test_a_busy_worker_keeps_its_connection_and_an_idle_one_gives_it_back(api, queued, settings):
    from incidents.worker import IngestWorker

    shop_topology()
    settings.INGEST_WORKER_LINGER_MS = 0
    worker = IngestWorker(name="conn")
    for part in worker.balance():
        worker.take_over(part)
    metric = {"timestamp": datetime.now(UTC).isoformat(), "service": "payments", "type": "metric", "metric": "cpu", "value": 5.0, "host": "h"}
    assert api.post(URL, [*outage_alerts(2), metric]).status_code == 202  # two messages: a component and a series one
    connection.close()
    checkouts = (lambda: connection.pool.get_stats().get("requests_num", 0)) if connection.pool else None
    before = checkouts() if checkouts else 0
    worker.step()  # two batches on one connection, which stays open for the next one
    assert connection.connection is not None
    if checkouts:
        assert checkouts() - before == 1
    worker.step()  # nothing to read: given back
    assert connection.connection is None
    assert not IngestMessage.objects.exists() and Incident.objects.count() == 1
    worker.stop(flush=False)


@pytest.mark.django_db  # giving series partitions back writes the detectors' state first (IngestWorker.release)
def test_two_workers_take_one_kind_of_partition_each_and_one_alone_takes_all(queued):
    """Workers of even rank (by id among the live ones) take the component partitions first, of
    odd rank the series ones: the component lane does not share a worker with metric points. A
    worker left alone takes every partition, whatever its kind."""
    from incidents.worker import IngestWorker

    a, b = IngestWorker(name="kind-a"), IngestWorker(name="kind-b")
    a.heartbeat()
    b.heartbeat()  # both live before either balances: each takes its share, 2 of 4
    assert sorted(b.balance()) == [("series", 0), ("series", 1)]  # rank 1: series first
    assert sorted(a.balance()) == [("component", 0), ("component", 1)]  # rank 0: component first
    assert a.preference(queue.all_partitions(), 2)[:2] == [("component", 0), ("component", 1)]
    b.stop(flush=False)  # leaves the live set, releases its leases
    assert sorted(a.balance()) == [("series", 0), ("series", 1)]  # alone: the rest too
    assert len(a.owned) == 4
    a.stop(flush=False)


@pytest.mark.django_db(transaction=True)
def test_a_trickle_read_lingers_for_more_messages_and_a_full_one_does_not(api, queued, settings):
    """One-event requests send one-event messages; with INGEST_WORKER_LINGER_MS set, a read that
    brought fewer than INGEST_WORKER_LINGER_EVENTS waits that long and reads again, so the worker
    processes them in one batch; a read with enough events, or with the linger off (0), is
    processed as it came."""
    from incidents.worker import IngestWorker

    shop_topology()
    worker = IngestWorker(name="linger")
    for part in worker.balance():
        worker.take_over(part)
    owned = sorted(worker.owned)
    settings.INGEST_WORKER_LINGER_MS = 30
    settings.INGEST_WORKER_LINGER_EVENTS = 3

    assert api.post(URL, outage_alerts(1, prefix="x")).status_code == 202
    first = worker._read(owned, block=100)
    assert sum(len(e) for _, e in first) == 1
    assert api.post(URL, outage_alerts(1, prefix="y")).status_code == 202  # arrives after the read, before the linger's end
    merged = worker._lingered(owned, first)
    assert [(part, len(entries)) for part, entries in merged] == [(first[0][0], 2)]  # one partition, both messages

    assert api.post(URL, outage_alerts(3, prefix="z")).status_code == 202  # 3 events: enough
    full = worker._read(owned, block=100)
    assert api.post(URL, outage_alerts(1, prefix="w")).status_code == 202
    assert worker._lingered(owned, full) == full  # not lingered: the next message stays for the next read
    assert sum(len(e) for _, e in worker._read(owned, block=100)) == 1

    # What a worker published (anomalies for their component partition) does not linger: with
    # batches of 1,000 those are the only small reads.
    assert api.post(URL, outage_alerts(1, prefix="u")).status_code == 202
    row = IngestMessage.objects.get(event_ids__contains=[Event.objects.get(client_id="u0").pk])
    assert sum(len(e) for _, e in worker._read(owned, block=100)) == 1  # as the request published it
    assert queue.publish([row], derived=True)
    derived = worker._read(owned, block=100)
    assert [fields[b"d"] for _, entries in derived for _, fields in entries] == [b"1"]
    assert api.post(URL, outage_alerts(1, prefix="t")).status_code == 202  # after the read: left for the next one
    assert worker._lingered(owned, derived) == derived
    assert sum(len(e) for _, e in worker._read(owned, block=100)) == 1

    settings.INGEST_WORKER_LINGER_MS = 0
    assert api.post(URL, outage_alerts(1, prefix="v")).status_code == 202
    alone = worker._read(owned, block=100)
    assert worker._lingered(owned, alone) == alone
    worker.stop(flush=False)


@pytest.mark.django_db(transaction=True)
def test_a_message_processed_once_is_not_processed_again(api, queued):
    from incidents.worker import messages_process

    shop_topology()
    api.post(URL, outage_alerts())
    (row,) = IngestMessage.objects.all()
    first = messages_process("component", [row.pk])
    again = messages_process("component", [row.pk])  # published twice (the sweep), or taken over after the commit
    assert (first.messages, first.skipped, first.events) == (1, 0, 4) and first.incident_ids
    assert (again.messages, again.skipped, again.events) == (0, 1, 0)
    assert Incident.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_publish_is_published_again_by_the_sweep(api, queued, settings, monkeypatch):
    shop_topology()
    monkeypatch.setattr(queue, "client", lambda: __import__("redis").Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    r = api.post(URL, outage_alerts())
    assert r.status_code == 202 and r.json()["accepted"] == 4  # Redis unreachable: stored all the same
    (row,) = IngestMessage.objects.all()
    monkeypatch.undo()
    settings.INGEST_SERIES_PARTITIONS = settings.INGEST_COMPONENT_PARTITIONS = 2
    stream = queue.stream_key(row.kind, row.partition)
    assert queue.client().xlen(stream) == 0
    assert queue.messages_republish() == 0  # not due yet
    IngestMessage.objects.update(due_at=datetime.now(UTC) - timedelta(seconds=1))
    assert queue.messages_republish() == 1
    (entry_id, fields), = queue.client().xrange(stream)
    assert int(fields[b"m"]) == row.pk and int(fields[b"n"]) == 4
    assert IngestMessage.objects.get().due_at > datetime.now(UTC)  # not again before INGEST_REPUBLISH_SECONDS


@pytest.mark.django_db
def test_without_redis_ingest_processes_inline(api, settings):
    settings.INGEST_ASYNC = False
    shop_topology()
    answer = api.post(URL, outage_alerts()).json()
    assert answer["accepted"] == 4 and answer["incidents"] == [Incident.objects.get().pk]
    assert not IngestMessage.objects.exists()


# -- real worker processes ---------------------------------------------------------------------

class WorkerProcess:
    def __init__(self, name: str, prefix: str, *, lease: float = 2.0):
        env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "INGEST_STREAM_PREFIX": prefix,
               "INGEST_SERIES_PARTITIONS": "2", "INGEST_COMPONENT_PARTITIONS": "2", "INGEST_LEASE_SECONDS": str(lease),
               "LOG_FORMAT": "plain", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", "DJANGO_DEBUG": "0"}
        self.log_path = BASE_DIR / "test-artifacts" / f"ingest-worker-{name}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.name = name
        self.proc = subprocess.Popen([sys.executable, "manage.py", "ingest_worker", "--name", name], cwd=BASE_DIR, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def leases(self, prefix: str) -> int:
        r = queue.client()
        return sum(1 for k in r.scan_iter(f"{prefix}:lease:*") if r.get(k) == self.name.encode())

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def workers(queued):
    started: list[WorkerProcess] = []

    def start(name: str, **kw) -> WorkerProcess:
        w = WorkerProcess(name, queued, **kw)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()



@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_process_opens_the_incident_after_the_202(api, workers, queued):
    shop_topology()
    worker = workers("solo")
    wait_for(lambda: worker.leases(queued) == 4, 60, "the worker to take every partition")
    started = time.monotonic()
    assert api.post(URL, outage_alerts()).json()["incidents"] == []
    incident = wait_for(lambda: Incident.objects.first(), 30, "the worker to open the incident", every=0.05)
    seconds = time.monotonic() - started
    wait_for(lambda: incident.events.count() == 4, 10, "the incident to hold the four alerts")
    assert not IngestMessage.objects.exists()
    assert seconds < 10, seconds


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_its_partition_is_taken_over(api, workers, queued):
    import psycopg

    shop_topology()
    first = workers("first")
    wait_for(lambda: first.leases(queued) == 4, 60, "the first worker to take every partition")
    partition = partitions.component_partition("payments", partitions.components({"frontend": {"checkout"}, "checkout": {"payments"},
                                                                                  "payments": {"payments-db"}}))
    # Hold the correlation lock of the alerts' partition from another connection: the worker reads
    # the messages, deletes their rows in its transaction, and waits at the lock, in mid-batch.
    holder = psycopg.connect(database_url(connection.settings_dict), autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s, %s)", [partitions.COMPONENT_LOCK_KEY, partition])
    try:
        assert api.post(URL, outage_alerts()).status_code == 202
        wait_for(lambda: holder.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s", [partition]
        ).fetchone()[0] == 1, 30, "the worker to wait at the partition's lock")
        pending = queue.client().xpending(queue.stream_key("component", partition), queue.GROUP)
        assert pending["pending"] == 1 and pending["consumers"][0]["name"] == b"first"  # read, not acknowledged
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        second = workers("second")
    finally:
        holder.close()  # the dead worker's transaction ends (rolled back) once its backend gets the lock
    incident = wait_for(lambda: Incident.objects.first(), 60, "the second worker to take over and open the incident", every=0.1)
    wait_for(lambda: incident.events.count() == 4, 10, "the incident to hold the four alerts")
    assert Incident.objects.count() == 1
    assert not IngestMessage.objects.exists()
    wait_for(lambda: queue.client().xpending(queue.stream_key("component", partition), queue.GROUP)["pending"] == 0, 10,
             "the second worker to acknowledge the message it took over")
    wait_for(lambda: "took over" in second.log(), 10, "the second worker to log the takeover")
    assert second.leases(queued) == 4


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_a_worker_within_ten_seconds_and_frees_its_partitions(workers, queued):
    worker = workers("stopping", lease=30.0)
    wait_for(lambda: worker.leases(queued) == 4, 60, "the worker to take every partition")
    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    assert worker.leases(queued) == 0  # released, not left to expire (lease 30 s)
    assert "stopped" in worker.log()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_partitions(workers, queued):
    a = workers("share-a")
    wait_for(lambda: a.leases(queued) == 4, 60, "the first worker to take every partition")
    b = workers("share-b")
    wait_for(lambda: a.leases(queued) == 2 and b.leases(queued) == 2, 60, "the partitions to be shared two and two")
    assert Service.objects.count() == 0  # nothing else touched
