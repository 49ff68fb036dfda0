"""Group commit: concurrent ingest requests of one process share one transaction.

A request of one event costs little CPU; what it waits for is its commit (the WAL flush, 3-10 ms
on a busy disk) and the round trips around it. Sync views run one at a time in a process, so
each paid its own. Here the requests served by the light path (incidents.fastingest) hand their
validated batches to ONE committer thread per process and wait; the thread takes every batch
waiting (up to GROUP_MAX_EVENTS events), stores them and their queue messages in one
transaction (incidents.pipeline.events_ingest_many), commits, publishes, and only then answers
each request: "202 means stored" holds for every request of the group. While a group commits
the next one gathers, so the group grows with the load and a lone request waits for nobody
(no timer, no linger).

A group that fails on something other than the database being unreachable (a bug, a value the
validation let through and PostgreSQL refused) is retried one batch at a time, so one bad batch
fails alone; an unreachable or busy database fails the whole group (nothing was stored: each
request answers 503 with Retry-After, as the Django path does). A request whose batch waited
DATABASE_POOL_TIMEOUT without being taken into a group (the database stalls: a lock, a full
disk) gives up with the Django path's "database busy" 503, and its batch is never stored. The
thread holds one pooled connection while batches keep coming and gives it back when its queue is
empty (or after an error): however many requests wait, a process's ingest uses one connection
(plus short token reads).
"""
from __future__ import annotations

import logging
import queue as queue_module
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.db import InterfaceError, OperationalError, connection

from incidents.ingest import EventIn
from incidents.models import ApiToken

log = logging.getLogger(__name__)

GROUP_MAX_EVENTS = 5000  # a group stops taking batches past this (one request's batch is never split)


@dataclass
class _Pending:
    events: list[EventIn]
    arrived_at: float
    future: Future = field(default_factory=Future)


class GroupCommitter:
    """One per process (`COMMITTER`); `submit` from any thread or event loop."""

    def __init__(self, *, max_events: int = GROUP_MAX_EVENTS):
        self.max_events = max_events
        self._queue: queue_module.SimpleQueue[_Pending] = queue_module.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._touched: dict[int, float] = {}  # token pk -> when it was used (last_used_at written behind)
        self.groups = 0  # committed groups (tests, the bench)
        self.hold: threading.Event | None = None  # tests: the thread waits on it before each group

    def submit(self, events: list[EventIn], *, arrived_at: float) -> Future:
        """Queue a validated batch; the future gets its PipelineResult once the group committed.
        A request that waits too long may `cancel()` it: that succeeds only while the batch has
        not been taken into a group (so a cancelled batch is never stored, and one taken is
        always answered)."""
        self._start()
        pending = _Pending(events=events, arrived_at=arrived_at)
        self._queue.put(pending)
        return pending.future

    def touch(self, token: ApiToken, now: float) -> None:
        """Write the token's last_used_at with the next group (its transaction, no round trip of its own)."""
        self._touched[token.pk] = now

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="cleara-group-commit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if self.hold is not None:
                self.hold.wait()
            group = [first] if first.future.set_running_or_notify_cancel() else []
            size = len(first.events) if group else 0
            while size < self.max_events:
                try:
                    pending = self._queue.get_nowait()
                except queue_module.Empty:
                    break
                if pending.future.set_running_or_notify_cancel():  # else its request gave up waiting (503 busy)
                    group.append(pending)
                    size += len(pending.events)
            if not group:
                continue
            try:
                self._commit(group)
            except BaseException:  # never let the thread die: the requests would wait forever
                log.exception("group commit failed outside its error handling")
                connection.close()
                for p in group:
                    if not p.future.done():
                        p.future.set_exception(RuntimeError("group commit failed"))
            if self._queue.empty():
                # Idle: the connection goes back to the pool. Under load the thread keeps it from
                # one group to the next (borrowing it again checks it with a round trip: 6-8% of
                # a group's time, profiled).
                connection.close()

    def _commit(self, group: list[_Pending]) -> None:
        from incidents.pipeline import events_ingest_many

        try:
            results = events_ingest_many(batches=[p.events for p in group], arrived_at=[p.arrived_at for p in group],
                                         after_store=self._write_touched)
        except (OperationalError, InterfaceError) as exc:
            connection.close()
            for p in group:
                p.future.set_exception(exc)
            return
        except Exception as exc:
            if len(group) == 1:
                log.exception("storing a batch of %d events failed", len(group[0].events))
                connection.close()
                group[0].future.set_exception(exc)
                return
            log.warning("a group of %d batches failed; storing them one by one", len(group), exc_info=True)
            connection.close()
            for p in group:
                self._commit([p])
            return
        self.groups += 1
        for p, result in zip(group, results, strict=True):
            p.future.set_result(result)

    def _write_touched(self) -> None:
        """Inside the group's transaction: the tokens used since the last group."""
        if not self._touched:
            return
        from datetime import UTC, datetime

        touched, self._touched = self._touched, {}
        for pk, at in touched.items():
            ApiToken.objects.filter(pk=pk).update(last_used_at=datetime.fromtimestamp(at, UTC))


COMMITTER = GroupCommitter()
