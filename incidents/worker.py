"""The ingest worker (`manage.py ingest_worker`): processes the queue's partitions (incidents.queue).

Each worker process:

* **registers** itself in a Redis sorted set of live workers (a heartbeat every
  INGEST_LEASE_SECONDS / 4) and takes its fair share of the partitions, ceil(partitions / live
  workers): a partition is a **lease** in Redis (`SET <prefix>:lease:<kind>:<n> <worker> NX PX`),
  renewed by a heartbeat thread. A worker holding more than its share (another one joined) lets
  the extra partitions go after its current batch; a worker that stops cleanly lets all of them go
  at once. A worker that dies (SIGKILL, a lost machine) stops renewing: its leases expire after
  INGEST_LEASE_SECONDS and another worker takes them.
* on taking a partition, **claims** every message its consumer group still holds as pending
  (`XAUTOCLAIM ... 0`: read by the former owner and never acknowledged) and processes those first,
  then reads new ones (`XREADGROUP ... >`) from all its partitions' streams at once.
* **processes** the messages of one partition in batches of at most INGEST_WORKER_BATCH messages
  and MAX_BATCH_EVENTS events, one transaction each: the rows are deleted (a row already gone was
  processed before: nothing runs twice), the partition's pipeline stages run
  (incidents.pipeline.partition_process), the anomalies a series partition stored are queued for
  their component partitions in the same transaction; after the commit those are published and
  the batch is acknowledged (XACK). A batch that fails is acknowledged all the same and logged:
  its rows stay, and the sweep publishes them again after INGEST_REPUBLISH_SECONDS (a retry with
  that backoff; nothing accepted is lost).
* runs the **sweep** (incidents.queue.messages_republish) every SWEEP_SECONDS.
* stops on SIGTERM or SIGINT after the batch in hand (bounded by MAX_BATCH_EVENTS), writes the
  detectors' state (incidents.pipeline.flush) and releases its leases. A batch or a flush still
  running ABANDON_SECONDS after the signal (a slow machine, a cold detector replaying its
  series) is abandoned: its transaction rolls back, its messages stay pending and the next owner
  of the partition claims them at once (the leases are released), so the process is gone within
  10 s whatever it was doing.

A series partition stays with its worker while the set of workers is stable, so a series'
detector state lives in one process (correlation.anomaly); when a partition moves, the new owner
reloads the state from its checkpoint and the stored points (the detector's own rule).
"""
from __future__ import annotations

import json
import logging
import math
import os
import secrets
import signal
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from incidents import broadcast, pipeline, queue
from incidents.ingest import EVENT_COLUMNS, event_loaded, ids_in
from incidents.models import Event, IngestMessage, Service
from incidents.partitions import COMPONENT, SERIES

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 5000  # events one transaction processes at most (a stop waits for one batch)
SERIES_BATCH_EVENTS = 2000  # metric points per transaction: the component partitions are looked at between two
SWEEP_SECONDS = 5.0
BLOCK_MS = 500  # a read waits this long for new messages (and a stop at most this long)
ABANDON_SECONDS = 6.0  # after a stop signal, the batch (or flush) in hand is abandoned after this


class _Abandon(BaseException):
    """Raised in the main thread ABANDON_SECONDS after a stop signal (not an Exception: nothing
    between here and the loop catches it, transaction.atomic rolls back on the way out)."""

_RENEW = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"""
_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"""


def lease_key(kind: str, partition: int) -> str:
    return f"{queue.prefix()}:lease:{kind}:{partition}"


def workers_key() -> str:
    return f"{queue.prefix()}:workers"


@dataclass
class BatchOutcome:
    messages: int = 0  # rows found and processed
    skipped: int = 0  # rows already processed (published twice, or taken over after a commit)
    events: int = 0
    stored: int = 0
    incident_ids: list[int] = field(default_factory=list)


def messages_process(kind: str, message_ids: list[int], *, published: dict[int, float] | None = None, worker: str = "",
                     pipe=None) -> BatchOutcome:
    """Process these rows of one kind of partition in one transaction (see the module docstring);
    publish what it queued and record the latencies after the commit. `published`: when each
    message was published (its stream entry's time), `worker`: who processed it, both for the
    records only. With `pipe` (a Redis pipeline) the publish and the records are added to it and
    the caller sends them (with its XACK: one round trip a batch)."""
    out = BatchOutcome()
    if not message_ids:
        return out
    cpu, began = time.thread_time(), time.time()
    queued: list[IngestMessage] = []
    with transaction.atomic():
        table = IngestMessage._meta.db_table
        marks = ", ".join(["%s"] * len(message_ids))
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({marks}) RETURNING id, event_ids, arrived_at", list(message_ids))  # noqa: S608
            # event_ids is a JSON column: a list from PostgreSQL's driver, text from SQLite's.
            rows = [(pk, ids if isinstance(ids, list) else json.loads(ids), at) for pk, ids, at in cursor.fetchall()]
        out.messages, out.skipped = len(rows), len(message_ids) - len(rows)
        if not rows:
            return out
        events = events_load(kind, {pk for _, ids, _ in rows for pk in ids})
        out.events = len(events)
        alerts = {e.pk for e in events if e.type == Event.Type.ALERT}
        result = pipeline.partition_process(kind, events)
        out.stored, out.incident_ids = len(result.stored), result.incident_ids
        if result.stored:
            queued = queue.messages_for(result.stored, arrived_at=stored_arrival(rows, result.stored))
            IngestMessage.objects.bulk_create(queued)
    done = time.time()
    queue.publish(queued, derived=True, pipe=pipe)
    changed = len(out.incident_ids)
    # This process's CPU for the batch (the database's is not in it), shared out by events.
    cpu = (time.thread_time() - cpu) / max(1, sum(len(ids) for _, ids, _ in rows))
    published = published or {}
    queue.done_record([{"k": kind, "a": a, "d": done, "n": len(ids), "i": changed, "s": began, "c": cpu * len(ids),
                        "al": sum(1 for pk in ids if pk in alerts), "p": published.get(pk, a), "w": worker, "b": out.events}
                       for pk, ids, a in rows], pipe=pipe)
    return out


def entry_time(entry_id: bytes | str) -> float:
    """When a stream entry was added (its id is `<milliseconds>-<sequence>`), Unix time."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0]) / 1000


def stored_arrival(rows: list[tuple[int, list[int], float]], stored: list[Event]) -> float:
    """When what the stages stored arrived, for its queue row: the earliest arrival among the
    messages holding the points the anomalies were found in (not the batch's oldest message,
    which may have come a second earlier and found nothing)."""
    arrival = {pk: at for _, ids, at in rows for pk in ids}
    found = [arrival.get((e.attributes or {}).get("metric_event_id")) for e in stored]
    return min((at for at in found if at is not None), default=min(at for _, _, at in rows))


# What the series stages read of a metric point (anomaly detection); the rest is loaded on use.
SERIES_FIELDS = ("id", "timestamp", "service_id", "type", "metric", "value", "host", "source")


class ServiceCache:
    """Services by id as this process read them, read again after INGEST_TOPOLOGY_TTL seconds
    (the bound the component map keeps too): a batch of one-event messages spent about a tenth
    of its wall on `in_bulk` of its one or two services (cProfile, docs/sizing.md)."""

    def __init__(self):
        self._by_id: dict[int, Service] = {}
        self._read_at = -1e18

    def get(self, ids: set[int]) -> dict[int, Service]:
        now = time.monotonic()
        if now - self._read_at >= settings.INGEST_TOPOLOGY_TTL:
            self._by_id, self._read_at = {}, now
        missing = ids - self._by_id.keys()
        if missing:
            self._by_id.update(Service.objects.in_bulk(missing))
        return self._by_id


SERVICES = ServiceCache()


def events_load(kind: str, event_ids: set[int]) -> list[Event]:
    """The messages' events in time order, each with its service attached (the process's
    ServiceCache instead of a join that builds a Service per event), built without
    Model.__init__ (incidents.ingest.event_loaded); a series partition's without the columns
    anomaly detection does not read (no JSON decoded)."""
    columns = SERIES_FIELDS if kind == SERIES else EVENT_COLUMNS
    rows = list(Event.objects.filter(pk__in=ids_in(event_ids)).order_by("timestamp", "pk").values_list(*columns))
    at = columns.index("service_id")
    services = SERVICES.get({r[at] for r in rows})
    return [event_loaded(dict(zip(columns, r, strict=True)), services[r[at]]) for r in rows]


class IngestWorker:
    """One worker process's loop (see the module docstring)."""

    def __init__(self, *, name: str | None = None):
        self.id = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.redis = queue.client()
        self.owned: set[tuple[str, int]] = set()
        self.owned_lock = threading.Lock()
        self.stopping = threading.Event()
        self.lease_ms = int(settings.INGEST_LEASE_SECONDS * 1000)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)
        self._next_sweep = 0.0
        self._next_balance = 0.0
        self.processed = 0
        self.rank = 0  # among the live workers, by id (heartbeat)

    # -- leases ------------------------------------------------------------------------------

    def heartbeat(self) -> int:
        """Say this worker is alive, forget workers that stopped saying so; returns how many live
        (and keeps this worker's rank among them, by id, for `balance`)."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(workers_key(), {self.id: now})
        pipe.zremrangebyscore(workers_key(), 0, now - settings.INGEST_LEASE_SECONDS)
        pipe.zrange(workers_key(), 0, -1)
        live = sorted(w.decode() if isinstance(w, bytes) else w for w in pipe.execute()[-1])
        self.rank = live.index(self.id) if self.id in live else 0
        return max(1, len(live))

    def renew(self) -> None:
        """Extend the leases this worker holds; a lease found lost (expired and taken) is dropped."""
        with self.owned_lock:
            owned = sorted(self.owned)
        for part in owned:
            if not self._renew(keys=[lease_key(*part)], args=[self.id, self.lease_ms]):
                log.warning("ingest worker %s lost its lease on %s:%d", self.id, *part)
                with self.owned_lock:
                    self.owned.discard(part)

    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(settings.INGEST_LEASE_SECONDS / 4):
            try:
                self.heartbeat()
                self.renew()
            except Exception:
                log.warning("ingest worker heartbeat failed", exc_info=True)

    def balance(self) -> list[tuple[str, int]]:
        """Let go of partitions beyond the fair share, take free ones up to it; returns the
        partitions taken (their pending messages are claimed by the caller)."""
        alive = self.heartbeat()
        every = queue.all_partitions()
        share = math.ceil(len(every) / alive)
        with self.owned_lock:
            extra = sorted(self.owned)[share:] if len(self.owned) > share else []
        if extra:
            self.release(extra)
        taken = []
        for part in self.preference(every, share):
            with self.owned_lock:
                if len(self.owned) >= share or part in self.owned:
                    continue
            if self.redis.set(lease_key(*part), self.id, nx=True, px=self.lease_ms):
                with self.owned_lock:
                    self.owned.add(part)
                taken.append(part)
        return taken

    def preference(self, every: list[tuple[str, int]], share: int) -> list[tuple[str, int]]:
        """The order in which this worker takes free partitions: workers of even rank (by id among
        the live ones) the component partitions first, workers of odd rank the series ones, each
        from a place of its own within the kind. So with two or more workers the busy component
        partition (an estate whose topology is one component has one) does not share a worker
        with series partitions: an alert waits for the component lane's own backlog, not behind a
        batch of metric points, and the series work has a worker of its own (not starved by the
        lane). It only orders what is free: a dead worker's partitions are taken by whoever is
        alive, as before, and a worker that gives partitions back keeps the component ones."""
        first = COMPONENT if self.rank % 2 == 0 else SERIES
        place = (self.rank // 2) * share
        ordered = []
        for kinds in ([p for p in every if p[0] == first], [p for p in every if p[0] != first]):
            at = place % len(kinds) if kinds else 0
            ordered += kinds[at:] + kinds[:at]
        return ordered

    def release(self, parts: list[tuple[str, int]]) -> None:
        if any(kind == SERIES for kind, _ in parts):
            pipeline.flush()  # the detectors' state, before another process may load it
        for part in parts:
            self._release(keys=[lease_key(*part)], args=[self.id])
            with self.owned_lock:
                self.owned.discard(part)

    # -- reading -------------------------------------------------------------------------------

    def _group(self, part: tuple[str, int]) -> None:
        import redis

        try:
            self.redis.xgroup_create(queue.stream_key(*part), queue.GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def take_over(self, part: tuple[str, int]) -> int:
        """Claim and process what the partition's former owner read and did not acknowledge."""
        self._group(part)
        stream, cursor, claimed = queue.stream_key(*part), "0-0", 0
        while not self.stopping.is_set():
            cursor, entries, *_ = self.redis.xautoclaim(stream, queue.GROUP, self.id, min_idle_time=0, start_id=cursor, count=500)
            entries = [e for e in entries if e and e[1]]
            claimed += len(entries)
            self.handle(part, entries)
            if cursor in (b"0-0", "0-0"):
                break
        if claimed:
            log.info("ingest worker %s took over %s:%d with %d pending message(s)", self.id, *part, claimed)
        return claimed

    def handle(self, part: tuple[str, int], entries: list) -> None:
        """Process one stream's entries (see `handle_read`)."""
        self.handle_read([(part, entries)])

    def handle_read(self, read: list[tuple[tuple[str, int], list]]) -> None:
        """Process what was read from several streams in bounded batches, acknowledging each after
        its commit: the component partitions' first, then one batch of each series partition in
        turn, the component partitions' new messages going first after every one of them (an
        alert does not wait behind a long run of metric points). In turn, because a read takes
        up to INGEST_WORKER_BATCH messages a stream: one series partition's read (up to 200
        requests' worth of its points) is not processed whole while the next one's waits.
        After a stop signal no new batch starts; what was read and not processed stays pending
        for the partition's next owner, who claims it (take_over)."""
        series = [(part, deque(self._batches(part, entries))) for part, entries in read if part[0] == SERIES]
        for part, entries in read:
            if part[0] != SERIES:
                for batch in self._batches(part, entries):
                    if self.stopping.is_set():
                        return
                    self._batch(part, part[0], batch)
        while any(batches for _, batches in series):
            for part, batches in series:
                if batches and not self.stopping.is_set():
                    self._batch(part, SERIES, batches.popleft())
                    self.components_first()
            if self.stopping.is_set():
                return

    @staticmethod
    def _batches(part: tuple[str, int], entries: list) -> list[list[tuple[bytes, int]]]:
        """A stream's entries cut into batches of at most INGEST_WORKER_BATCH messages and the
        kind's events (MAX_BATCH_EVENTS, SERIES_BATCH_EVENTS)."""
        limit = MAX_BATCH_EVENTS if part[0] != SERIES else SERIES_BATCH_EVENTS
        batches: list[list[tuple[bytes, int]]] = [[]]
        events = 0
        for entry_id, fields in entries:
            n = int(fields.get(b"n", 0))
            if batches[-1] and (len(batches[-1]) >= settings.INGEST_WORKER_BATCH or events + n > limit):
                batches.append([])
                events = 0
            batches[-1].append((entry_id, int(fields[b"m"])))
            events += n
        return [b for b in batches if b]

    def components_first(self) -> None:
        """Process what waits in this worker's component partitions now (a read that does not block)."""
        with self.owned_lock:
            owned = sorted(p for p in self.owned if p[0] != SERIES)
        if not owned or self.stopping.is_set():
            return
        self.handle_read(self._read(owned))  # component partitions only: no recursion

    def _read(self, owned: list[tuple[str, int]], *, block: int | None = None) -> list[tuple[tuple[str, int], list]]:
        """New entries of these partitions' streams, as (partition, entries), component partitions
        first. The consumer groups are made when a partition is taken (take_over); a Redis that
        lost them (restarted: it keeps nothing on disk) gets them again here."""
        import redis

        streams = {queue.stream_key(*p): ">" for p in owned}
        try:
            answer = self.redis.xreadgroup(queue.GROUP, self.id, streams, count=settings.INGEST_WORKER_BATCH, block=block)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            for part in owned:
                self._group(part)
            answer = self.redis.xreadgroup(queue.GROUP, self.id, streams, count=settings.INGEST_WORKER_BATCH, block=block)
        by_stream = {queue.stream_key(*p): p for p in owned}
        read = [(by_stream[s.decode() if isinstance(s, bytes) else s], [e for e in entries if e[1]]) for s, entries in answer or []]
        # Alerts and logs before metric points: the incident waits for the component partitions only.
        return sorted(read, key=lambda r: r[0][0] == SERIES)

    def _batch(self, part: tuple[str, int], kind: str, batch: list[tuple[bytes, int]]) -> None:
        # The database connection is kept from batch to batch while messages keep coming (a
        # checkout from the pool a batch cost about 4 ms of a one-event batch's wall); `step`
        # gives it back when a read finds nothing, and a failed batch closes it.
        pipe = self.redis.pipeline(transaction=False)  # the anomalies' publish, the records and the XACK: one round trip
        try:
            outcome = messages_process(kind, [m for _, m in batch], published={m: entry_time(e) for e, m in batch}, worker=self.id,
                                       pipe=pipe)
            self.processed += outcome.messages
        except Exception:
            log.exception("ingest worker %s: a batch of %d message(s) of %s:%d failed; the sweep queues it again",
                          self.id, len(batch), *part)
            try:
                connection.close()  # a broken connection is not reused
            except Exception:
                pass
        pipe.xack(queue.stream_key(*part), queue.GROUP, *[e for e, _ in batch])
        try:
            pipe.execute()
        except Exception:
            # Committed already: what it queued is published again by the sweep; a message left
            # unacknowledged finds its row gone when the partition's next owner claims it.
            log.warning("ingest worker %s: publishing and acknowledging a batch of %s:%d failed", self.id, *part, exc_info=True)

    def step(self) -> None:
        """One turn of the loop: balance and sweep when due, then read and process once."""
        now = time.monotonic()
        if now >= self._next_balance:
            self._next_balance = now + min(1.0, settings.INGEST_LEASE_SECONDS / 4)
            for part in self.balance():
                self.take_over(part)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            close_old_connections()
            try:
                queue.messages_republish()
            except Exception:
                log.warning("ingest sweep failed", exc_info=True)
        with self.owned_lock:
            owned = sorted(self.owned)
        if not owned:
            self.stopping.wait(BLOCK_MS / 1000)
            return
        read = self._read(owned, block=BLOCK_MS)
        if not read:
            close_old_connections()  # idle: the connection goes back to the pool (and a broken one is dropped)
            return
        self.handle_read(self._lingered(owned, read))

    def _lingered(self, owned: list[tuple[str, int]], read: list[tuple[tuple[str, int], list]]) -> list[tuple[tuple[str, int], list]]:
        """With INGEST_WORKER_LINGER_MS set (50 ms by default), a read that brought only a trickle
        of what requests sent (fewer than INGEST_WORKER_LINGER_EVENTS events, as one-event
        requests send) waits that long and reads again without blocking, the two reads merged by partition: a batch
        has a fixed cost (its transaction, correlation's loading, templating's statements, the
        push) that one-event messages would otherwise pay one by one. Messages a worker published
        (anomalies, `d` in the entry) do not count and a read of only those does not linger: with
        batches of 1,000 they are the only small reads, and lingering on them slowed the lane
        (docs/sizing.md)."""
        linger = settings.INGEST_WORKER_LINGER_MS
        if not read or linger <= 0 or self.stopping.is_set():
            return read
        sent = sum(int(fields.get(b"n", 0)) for _, entries in read for _, fields in entries if b"d" not in fields)
        if not sent or sent >= settings.INGEST_WORKER_LINGER_EVENTS:
            return read
        self.stopping.wait(linger / 1000)
        merged: dict[tuple[str, int], list] = {}
        for part, entries in [*read, *self._read(owned)]:
            merged.setdefault(part, []).extend(entries)
        return sorted(merged.items(), key=lambda r: r[0][0] == SERIES)  # component partitions first, as _read

    def _stop_signal(self, signum, frame) -> None:
        if not self.stopping.is_set():
            self.stopping.set()
            signal.setitimer(signal.ITIMER_REAL, ABANDON_SECONDS)

    @staticmethod
    def _abandon(signum, frame) -> None:
        raise _Abandon

    def run(self, *, install_signals: bool = True) -> None:
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._stop_signal)
            signal.signal(signal.SIGALRM, self._abandon)
        try:
            broadcast.warm_up()  # so the first incident's push does not wait for templates to load
        except Exception:
            log.warning("warming up the console's push failed; the first push loads what it needs", exc_info=True)
        beat = threading.Thread(target=self._heartbeat_loop, name="ingest-heartbeat", daemon=True)
        beat.start()
        log.info("ingest worker %s started", self.id)
        abandoned = False
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except Exception:
                    log.exception("ingest worker %s: a turn failed; again in a second", self.id)
                    self.stopping.wait(1.0)
        except _Abandon:
            abandoned = True
            log.warning("ingest worker %s abandoned the batch in hand %gs after the stop signal; its messages stay pending "
                        "for the partition's next owner", self.id, ABANDON_SECONDS)
        finally:
            self.stop(flush=not abandoned)

    def stop(self, *, flush: bool = True) -> None:
        self.stopping.set()
        try:
            if flush:
                pipeline.flush()
        except _Abandon:
            log.warning("writing the detectors' state at stop took too long; the next owner replays the series from the events")
        except Exception:
            log.warning("writing the detectors' state at stop failed", exc_info=True)
        if threading.current_thread() is threading.main_thread():
            signal.setitimer(signal.ITIMER_REAL, 0)
        with self.owned_lock:
            owned = sorted(self.owned)
        try:
            self.release(owned)
            self.redis.zrem(workers_key(), self.id)
        except Exception:
            log.warning("releasing the leases at stop failed; they expire in %gs", settings.INGEST_LEASE_SECONDS, exc_info=True)
        log.info("ingest worker %s stopped after %d message(s)", self.id, self.processed)
