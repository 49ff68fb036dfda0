"""Live anomaly detection on metric events: each series scored as its points arrive.

`detect_anomalies` receives the just-stored metric events of a batch and returns the anomaly
events to store (as incidents.ingest.EventIn), which the pipeline then correlates like alerts.

Each series (service, metric, host) has one `SeriesBaseline` row: its progress (`points`,
`last_timestamp`, `last_score`, `anomalies`) and a checkpoint of its detector's state. The
detectors themselves live in a process-local LRU cache (`SeriesCache`), so a batch does not
unpickle and re-pickle every series it touches:

* A batch locks its series' rows (SELECT ... FOR UPDATE, in primary-key order, without the state
  column), feeds each cached detector its points in time order, and writes the progress columns
  of every row back in one batched UPDATE. Points at or before the newest point already scored are
  skipped: the detector is causal and never sees the past twice.
* The state is written behind: when a series has taken FLUSH_POINTS points or FLUSH_SECONDS since
  its last checkpoint (each series with its own period between half and all of those, so series
  loaded together do not all write at once), when the cache evicts it, on
  `anomaly_cache_flush()`, and after every batch while processes take turns on the series.
* Every write stamps the row (`updated_at`). A cached detector is used only while the row still
  carries the stamp this process wrote or read, with the same point count; otherwise another
  process (or a model activation) has moved the series on, and the detector is reloaded: from
  the checkpoint, then the metric events stored after the checkpoint are replayed through it (the
  Event table is the log; the checkpoint records how far it got), so it continues where the
  series is: exactly, unless a point arrived after a later one had been scored (the live path
  skipped it, a replay feeds it in time order). A crash loses nothing but the replay time.

A new series starts with the configuration of the model version its row names (the active one
when it was created; `correlation.training`).
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from correlation.detectors import PointScore, StreamingDetector, detector_from_state
from correlation.models import ModelVersion, SeriesBaseline
from correlation.training import ANOMALY_KIND, detector_for, detector_parameters, model_active, state_dumps, state_loads
from incidents.ingest import EventIn, ids_in, instance_loaded
from incidents.models import Event, Service, Severity

CRITICAL_SCORE = 0.99  # a raised anomaly this strong is critical, otherwise a warning
CACHE_SERIES = 512  # detectors kept per process (a warm ensemble takes about 0.65 MB of memory)
FLUSH_POINTS = 1024  # checkpoint a series' state after this many new points ...
FLUSH_SECONDS = 300.0  # ... or this long after its last checkpoint, whichever comes first
MAX_REPLAY = 20_000  # at most this many stored points are replayed into a reloaded detector

SeriesKey = tuple[int, str, str]  # (service id, metric, host)


@dataclass
class LiveSeries:
    """A series' detector in this process and how far it is in step with the database row."""

    detector: StreamingDetector
    pk: int
    points: int  # points the detector has scored (the row's count when in step)
    last_timestamp: datetime | None
    stamp: datetime  # the row's updated_at as this process last wrote or read it
    checkpoint_points: int  # points covered by the stored state
    checkpoint_at: float  # time.monotonic() of the last checkpoint (or load)
    detector_name: str
    model_version: int | None  # version number, for the anomaly events

    def checkpoint_due(self, now: float) -> bool:
        # Each series has its own period between 1/2 and 1 times FLUSH_POINTS / FLUSH_SECONDS, so
        # series that were loaded together (a restart) do not all write their state in one batch.
        spread = 0.5 + 0.5 * ((self.pk * 2654435761) % 1000) / 1000
        behind = self.points - self.checkpoint_points
        return behind >= spread * FLUSH_POINTS or (behind > 0 and now - self.checkpoint_at >= spread * FLUSH_SECONDS)


class SeriesCache:
    """A bounded LRU of live series, keyed by series. Not thread-safe: `detect_anomalies` holds
    `_LOCK` while it uses the cache."""

    def __init__(self, size: int = CACHE_SERIES):
        self.size = size
        self.items: OrderedDict[SeriesKey, LiveSeries] = OrderedDict()
        self.loads = 0  # detectors restored from the database (misses)
        self.checkpoints = 0  # states written

    def get(self, key: SeriesKey) -> LiveSeries | None:
        live = self.items.get(key)
        if live is not None:
            self.items.move_to_end(key)
        return live

    def put(self, key: SeriesKey, live: LiveSeries) -> list[LiveSeries]:
        """Store ``live``; return the series evicted to make room."""
        self.items[key] = live
        self.items.move_to_end(key)
        evicted = []
        while len(self.items) > self.size:
            evicted.append(self.items.popitem(last=False)[1])
        return evicted


_CACHE = SeriesCache()
_LOCK = threading.RLock()


def detect_anomalies(*, events: list[Event]) -> list[EventIn]:
    """Score the batch's metric points per series; return one anomaly event per raised excursion."""
    series: dict[SeriesKey, list[Event]] = defaultdict(list)
    for event in events:
        if event.type == Event.Type.METRIC and event.value is not None and math.isfinite(event.value):
            series[(event.service_id, event.metric, event.host)].append(event)
    if not series:
        return []
    # The services' names (for the anomaly events) come with the events when they were loaded
    # with them (the worker's select_related, a stored batch); the others are read.
    services = {e.service_id: e._state.fields_cache["service"].name for e in events if "service" in e._state.fields_cache}
    unnamed = {k[0] for k in series} - services.keys()
    if unnamed:
        services.update(Service.objects.filter(pk__in=unnamed).values_list("pk", "name"))
    with _LOCK:
        found, evicted = _batch_score(series, services)
        for live in evicted:  # the batch's rows are written: checkpoint what left the cache
            _checkpoint_write(live)
    return found


def anomaly_cache_flush() -> int:
    """Checkpoint every cached series with points its stored state lacks; returns how many."""
    with _LOCK:
        dirty = [live for live in _CACHE.items.values() if live.points > live.checkpoint_points]
        return sum(_checkpoint_write(live) for live in dirty)


def anomaly_cache_clear() -> None:
    """Forget every cached detector (unwritten progress is replayed from the events on reload)."""
    with _LOCK:
        _CACHE.items.clear()


@transaction.atomic
def _batch_score(series: dict[SeriesKey, list[Event]], services: dict[int, str]) -> tuple[list[EventIn], list[LiveSeries]]:
    keys = sorted(series)
    rows = _baselines_lock(keys)
    stale = [k for k in keys if not _in_step(_CACHE.get(k), rows[k])]
    states, versions = {}, {}
    if stale:  # what reloading a detector needs (a series in step needs neither)
        states = dict(SeriesBaseline.objects.filter(pk__in=[rows[k].pk for k in stale]).values_list("pk", "state"))
        versions = {mv.pk: mv for mv in ModelVersion.objects.filter(pk__in={rows[k].model_version_id for k in stale} - {None})
                    .only("pk", "version", "parameters")}
    stamp = timezone.now()
    clock = time.monotonic()
    found: list[EventIn] = []
    evicted: list[LiveSeries] = []
    checkpointed: list[SeriesBaseline] = []
    for key in keys:
        row = rows[key]
        live = _CACHE.get(key)
        # a series this process had, moved on by another one: checkpoint it after this batch, as
        # the other process is likely to take the next one (write-through while they alternate)
        contended = live is not None and key in stale
        if key in stale:
            live = _live_load(row, states.get(row.pk), versions.get(row.model_version_id))
        points = sorted(series[key], key=lambda e: (e.timestamp, e.pk))
        last = row.last_timestamp
        update = live.detector.update
        for event in points:
            if last is not None and event.timestamp <= last:
                continue
            verdict = update(event.timestamp.timestamp(), float(event.value))
            last = event.timestamp
            row.points += 1
            row.last_score = verdict.score
            if verdict.is_anomaly:
                row.anomalies += 1
                found.append(anomaly_event(event=event, service_name=services[key[0]], verdict=verdict,
                                           detector=live.detector_name, model_version=live.model_version))
        row.last_timestamp = last
        row.updated_at = stamp
        live.points, live.last_timestamp, live.stamp = row.points, last, stamp
        if contended or live.checkpoint_due(clock):
            row.state = _checkpoint_blob(live)
            live.checkpoint_points, live.checkpoint_at = live.points, clock
            checkpointed.append(row)
        evicted.extend(_CACHE.put(key, live))
    _progress_write(list(rows.values()))
    for row in checkpointed:
        SeriesBaseline.objects.filter(pk=row.pk).update(state=row.state)
    _CACHE.checkpoints += len(checkpointed)
    return found, evicted


def _baselines_lock(keys: list[SeriesKey]) -> dict[SeriesKey, SeriesBaseline]:
    """The batch's rows, created if new, locked in primary-key order, without their state.

    New rows are inserted first, in key order, in one statement: two batches that both create
    series wait for each other in the same order and cannot deadlock. (Rows are looked up through
    their services and locked by primary key: a 200-term OR of (service, metric, host) costs more
    to compile than the whole lookup.) A series' primary key is kept in the process once known
    (`_PKS`), so a batch of known series costs one query; a row gone since (deleted with its
    service) is looked up again."""
    locked = _rows_lock(keys) if all(k in _PKS for k in keys) else {}
    if locked.keys() == set(keys):
        return locked
    service_ids = {k[0] for k in keys}

    def known() -> dict[SeriesKey, int]:
        rows = SeriesBaseline.objects.filter(service_id__in=service_ids).values_list("pk", "service_id", "metric", "host")
        return {(s, m, h): pk for pk, s, m, h in rows}

    ids = known()
    missing = [k for k in keys if k not in ids]
    if missing:
        active = model_active(kind=ANOMALY_KIND)
        name = detector_parameters(active.parameters if active else None)[0]
        SeriesBaseline.objects.bulk_create(
            [SeriesBaseline(service_id=s, metric=m, host=h, state=b"", detector=name, model_version=active) for s, m, h in missing],
            ignore_conflicts=True,
        )
        ids = known()
    _PKS.update((k, ids[k]) for k in keys)
    return _rows_lock(keys)


_PKS: dict[SeriesKey, int] = {}  # series -> its SeriesBaseline's primary key (rows are never renumbered)


def _rows_lock(keys: list[SeriesKey]) -> dict[SeriesKey, SeriesBaseline]:
    """Lock the rows of these series (their primary keys in `_PKS`), in primary-key order."""
    locked = (SeriesBaseline.objects.select_for_update(of=("self",)).filter(pk__in=ids_in(_PKS[k] for k in keys)).order_by("pk")
              .values_list(*BASELINE_FIELDS))
    rows = [instance_loaded(SeriesBaseline, dict(zip(BASELINE_FIELDS, r, strict=True))) for r in locked]
    return {(r.service_id, r.metric, r.host): r for r in rows}


# A baseline's columns but its state (read only to reload a detector).
BASELINE_FIELDS = tuple(f.attname for f in SeriesBaseline._meta.concrete_fields if f.name != "state")


PROGRESS_FIELDS = ("points", "last_timestamp", "last_score", "anomalies", "updated_at")


def _progress_write(rows: list[SeriesBaseline]) -> None:
    """Write the batch's progress columns: on PostgreSQL one UPDATE ... FROM unnest() for every
    row; elsewhere one parameterised UPDATE per row sent as one batch. (``bulk_update`` builds a
    CASE per field and row, which took longer than the scoring; a statement per row cost 0.1 ms a
    row on PostgreSQL, 28 ms for a batch's 280 series.)"""
    fields = [SeriesBaseline._meta.get_field(name) for name in PROGRESS_FIELDS]
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        types = {"points": "integer", "last_timestamp": "timestamptz", "last_score": "float8", "anomalies": "integer",
                 "updated_at": "timestamptz"}
        columns = [qn(f.column) for f in fields]
        sql = (f"UPDATE {qn(SeriesBaseline._meta.db_table)} AS t SET {', '.join(f'{c} = u.{c}' for c in columns)}"
               f" FROM unnest(%s::bigint[], {', '.join(f'%s::{types[f.name]}[]' for f in fields)}) AS u(id, {', '.join(columns)})"
               f" WHERE t.{qn(SeriesBaseline._meta.pk.column)} = u.id")
        params = [[row.pk for row in rows]] + [[getattr(row, f.attname) for row in rows] for f in fields]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    sql = (f"UPDATE {qn(SeriesBaseline._meta.db_table)} SET {', '.join(f'{qn(f.column)} = %s' for f in fields)}"
           f" WHERE {qn(SeriesBaseline._meta.pk.column)} = %s")
    params = [[f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields] + [row.pk] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _in_step(live: LiveSeries | None, row: SeriesBaseline) -> bool:
    """Is the cached detector exactly where the row says the series is?"""
    return live is not None and live.pk == row.pk and live.points == row.points and live.stamp == row.updated_at


def _live_load(row: SeriesBaseline, blob, version: ModelVersion | None) -> LiveSeries:
    """Restore a series' detector from its checkpoint and replay the stored points it lacks."""
    _CACHE.loads += 1
    state = state_loads(blob) if blob else None
    checkpoint = state.pop("checkpoint", None) if state else None
    if state:
        detector = detector_from_state(state)
    else:
        detector = detector_for(version.parameters if version else None)
    if checkpoint is not None:  # written by this module: it may be behind the row
        done, since = int(checkpoint["points"]), checkpoint["last_timestamp"]
        since = datetime.fromisoformat(since) if since else None
    elif state:  # seeded by a model activation: in step with the row's progress
        done, since = row.points, row.last_timestamp
    else:
        done, since = 0, None
    if row.points > done and row.last_timestamp is not None:
        _replay(detector, row, since)
    return LiveSeries(detector=detector, pk=row.pk, points=row.points, last_timestamp=row.last_timestamp,
                      stamp=row.updated_at, checkpoint_points=done, checkpoint_at=time.monotonic(),
                      detector_name=row.detector, model_version=version.version if version else None)


def _replay(detector: StreamingDetector, row: SeriesBaseline, since: datetime | None) -> None:
    """Feed the detector the series' stored points after ``since`` up to the row's last one, as
    the live path did (time order, repeated timestamps skipped); their verdicts were given then."""
    stored = Event.objects.filter(service_id=row.service_id, metric=row.metric, host=row.host, type=Event.Type.METRIC,
                                  value__isnull=False, timestamp__lte=row.last_timestamp)
    if since is not None:
        stored = stored.filter(timestamp__gt=since)
    rows = list(stored.order_by("-timestamp", "-pk").values_list("timestamp", "value")[:MAX_REPLAY])
    last = since
    for ts, value in reversed(rows):
        if (last is not None and ts <= last) or not math.isfinite(value):
            continue
        detector.update(ts.timestamp(), float(value))
        last = ts


def _checkpoint_blob(live: LiveSeries) -> bytes:
    last = live.last_timestamp.isoformat() if live.last_timestamp else None
    return state_dumps({**live.detector.get_state(), "checkpoint": {"points": live.points, "last_timestamp": last}})


def _checkpoint_write(live: LiveSeries) -> int:
    """Write a series' state if its row is still where this process left it (1 if written)."""
    if live.points <= live.checkpoint_points:
        return 0
    written = SeriesBaseline.objects.filter(pk=live.pk, points=live.points, updated_at=live.stamp).update(state=_checkpoint_blob(live))
    if written:
        live.checkpoint_points, live.checkpoint_at = live.points, time.monotonic()
        _CACHE.checkpoints += 1
    return written


def baselines_warm(events: list[EventIn]) -> int:
    """Warm the baselines of the series in `events` (history that is not stored, oldest first):
    each series' detector, with the active model's configuration, learns the points and is
    written as the series' baseline, as a model activation seeds it, so the live path continues
    from there. A series whose baseline has already seen points at or after the history's first
    one is left alone (a baseline never goes back in time). Returns the points learnt.

    The demo uses it (incidents.pipeline.history_learn): a detector judges a series only after a
    day of it (its seasonal view), and the alarms of a cold one, raised while it learns what
    normal is, are noise that would also hold its real alarms back for the quiet spell."""
    series: dict[tuple[str, str, str], list[EventIn]] = defaultdict(list)
    for event in events:
        if event.type == Event.Type.METRIC and event.value is not None and math.isfinite(event.value):
            series[(event.service, event.metric, event.host)].append(event)
    if not series:
        return 0
    services = dict(Service.objects.filter(name__in={k[0] for k in series}).values_list("name", "pk"))
    active = model_active(kind=ANOMALY_KIND)
    name = detector_parameters(active.parameters if active else None)[0]
    known = {(r.service_id, r.metric, r.host): r for r in SeriesBaseline.objects.filter(service_id__in=services.values()).defer("state")}
    learnt = 0
    rows = []
    for (service, metric, host), points in series.items():
        if service not in services:
            continue
        row = known.get((services[service], metric, host))
        if row is not None and row.last_timestamp is not None and row.last_timestamp >= points[0].timestamp:
            continue
        detector = detector_for(active.parameters if active else None)
        last, fed = None, 0
        for event in points:
            if last is not None and event.timestamp <= last:
                continue
            detector.update(event.timestamp.timestamp(), float(event.value))
            last, fed = event.timestamp, fed + 1
        learnt += fed
        rows.append(SeriesBaseline(service_id=services[service], metric=metric, host=host, detector=name, model_version=active,
                                   state=state_dumps(detector.get_state()), points=fed, last_timestamp=last))
    with _LOCK, transaction.atomic():
        SeriesBaseline.objects.bulk_create(rows, update_conflicts=True, unique_fields=["service", "metric", "host"],
                                           update_fields=["detector", "model_version", "state", "points", "last_timestamp", "updated_at"])
        _CACHE.items.clear()  # cached detectors of these series are behind their rows now
    return learnt


def anomaly_event(*, event: Event, service_name: str, verdict: PointScore, detector: str, model_version: int | None) -> EventIn:
    """The ingest-format anomaly event for a raised point."""
    raw = float(verdict.details.get("raw_score", verdict.score))
    low, high = verdict.expected_low, verdict.expected_high
    where = f" on {event.host}" if event.host else ""
    expected = f"; expected {low:.4g} to {high:.4g}" if math.isfinite(low) and math.isfinite(high) else ""
    series = f"{service_name}|{event.metric}|{event.host}"
    return EventIn(
        timestamp=event.timestamp,
        service=service_name,
        type=Event.Type.ANOMALY,
        severity=Severity.CRITICAL if raw >= CRITICAL_SCORE else Severity.WARNING,
        message=f"Anomalous {event.metric} on {service_name}{where}: {event.value:.4g}{expected} (score {raw:.2f})",
        metric=event.metric,
        value=event.value,
        host=event.host,
        fingerprint="anomaly:" + hashlib.sha1(series.encode()).hexdigest(),
        attributes={
            "score": raw,
            "confidence": verdict.details.get("confidence"),
            "votes": verdict.details.get("votes", {}),
            "expected_low": low if math.isfinite(low) else None,
            "expected_high": high if math.isfinite(high) else None,
            "detector": detector,
            "model_version": model_version,
            "metric_event_id": event.pk,
        },
        client_id=f"anomaly:{event.pk}",
    )
