"""Which partition a stored event is processed in (issue 11).

Two kinds of partition, each a Redis stream read by one worker at a time (incidents.queue):

* **series** partitions take metric points, by a stable hash of the series (service id, metric,
  host) modulo INGEST_SERIES_PARTITIONS: every point of a series is scored in the one worker that
  owns its partition, so a detector's state never moves between processes while the partition
  stays with its worker (correlation.anomaly keeps it in memory and writes it behind).
* **component** partitions take alerts, logs and anomalies, by the connected component of the
  service in the topology (the dependency graph read as undirected), hashed modulo
  INGEST_COMPONENT_PARTITIONS. Correlation joins services only through the topology (hops, an
  incident's cone, its neighbours' logs), so services that can share an incident always land in
  the same partition, and correlation locks the partitions of a batch instead of one global lock.

Services outside the topology (no edge either way, e.g. created on the fly by ingest) are each a
component of their own, keyed by their name: they spread over the partitions, and when the
topology later connects them, their events follow the new component (the component map is read
again every INGEST_TOPOLOGY_TTL seconds, and at once in the process that changed the topology).
Correlation computes its lock from the topology it reads in the same transaction, so a stale map
only means another worker processes the batch, serialised by the lock, never a second incident.

Hashes are CRC-32 (stable across processes and machines, unlike Python's `hash`).
"""
from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable

from django.conf import settings

# The advisory-lock namespace of the component partitions (correlation/writing.py locks
# (COMPONENT_LOCK_KEY, partition) for a batch; pg_advisory_xact_lock's two int4 keys).
COMPONENT_LOCK_KEY = zlib.crc32(b"cleara.correlation") & 0x7FFFFFFF

SERIES = "series"
COMPONENT = "component"
KINDS = (SERIES, COMPONENT)


def stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def series_partition(service_id: int, metric: str, host: str, partitions: int | None = None) -> int:
    n = partitions or settings.INGEST_SERIES_PARTITIONS
    return stable_hash(f"{service_id}\x1f{metric}\x1f{host}") % n


def components(deps: dict[str, Iterable[str]]) -> dict[str, str]:
    """Each service's connected component (dependencies read both ways), named by the smallest
    service name in it: the same name in every process for the same topology."""
    neighbours: dict[str, set[str]] = {}
    for a, bs in deps.items():
        neighbours.setdefault(a, set())
        for b in bs:
            neighbours[a].add(b)
            neighbours.setdefault(b, set()).add(a)
    found: dict[str, str] = {}
    for start in sorted(neighbours):
        if start in found:
            continue
        members, stack = {start}, [start]
        while stack:
            for nxt in neighbours[stack.pop()]:
                if nxt not in members:
                    members.add(nxt)
                    stack.append(nxt)
        name = min(members)
        for m in members:
            found[m] = name
    return found


def component_partition(service: str, component_of: dict[str, str], partitions: int | None = None) -> int:
    """The partition of a service's component (a service the map does not know is its own component)."""
    n = partitions or settings.INGEST_COMPONENT_PARTITIONS
    return stable_hash(component_of.get(service, service)) % n


class ComponentMap:
    """The topology's components as this process last read them (two queries), again after
    INGEST_TOPOLOGY_TTL seconds or after `invalidate()`."""

    def __init__(self):
        self._lock = threading.Lock()
        self._map: dict[str, str] = {}
        self._read_at = -1e18

    def invalidate(self) -> None:
        self._read_at = -1e18

    def get(self) -> dict[str, str]:
        now = time.monotonic()
        if now - self._read_at >= settings.INGEST_TOPOLOGY_TTL:
            with self._lock:
                if now - self._read_at >= settings.INGEST_TOPOLOGY_TTL:
                    self._map = components(_deps_read())
                    self._read_at = now
        return self._map


def _deps_read() -> dict[str, set[str]]:
    from incidents.models import Service

    names = dict(Service.objects.values_list("id", "name"))
    deps: dict[str, set[str]] = {}
    for a, b in Service.depends_on.through.objects.values_list("from_service_id", "to_service_id"):
        if a in names and b in names:
            deps.setdefault(names[a], set()).add(names[b])
    return deps


COMPONENTS = ComponentMap()
