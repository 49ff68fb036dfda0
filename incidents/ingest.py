"""Getting events in: parse a batch, validate every event, store the valid batch whole.

A batch with any invalid event is refused whole (no event stored) with each bad event's index,
field and reason. A client id seen before is never stored twice, whether it came in an earlier
batch, earlier in the same batch, or in a concurrent request (the unique constraint decides).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.base import ModelState
from django.db.models.expressions import RawSQL
from django.utils import timezone

from incidents.errors import IngestRejected, IngestValidationError
from incidents.fingerprints import message_signature
from incidents import rollups
from incidents.models import Event, EventClientId, Service, Severity

JSON_TYPES = {"application/json"}
JSONL_TYPES = {"application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines"}
INGEST_TYPES = {Event.Type.ALERT, Event.Type.LOG, Event.Type.METRIC}
KNOWN_FIELDS = {"id", "timestamp", "service", "type", "severity", "message", "metric", "value", "host", "fingerprint", "attributes"}
MAX_LEN = {"id": 200, "service": 200, "metric": 200, "host": 255, "fingerprint": 128, "message": 20000}


@dataclass
class EventIn:
    """One validated event, ready to store."""

    timestamp: datetime
    service: str
    type: str
    severity: str
    message: str = ""
    metric: str = ""
    value: float | None = None
    host: str = ""
    fingerprint: str = ""
    attributes: dict = field(default_factory=dict)
    client_id: str | None = None


@dataclass
class IngestResult:
    accepted: int
    duplicates: int
    events: list[Event]
    kept: list[EventIn] = field(default_factory=list)  # the validated events stored, in the order of `events`


def batch_parse(*, body: bytes, content_type: str, parsed=None) -> list:
    """Decode a request body into a list of raw event objects (JSON array, one object, or JSON Lines).

    `parsed` is the hostile-input guard's parse of the same body (cleara.inputguard.Parsed: the
    document, or the non-blank lines' documents, as json.loads gives them), used instead of
    parsing again when it was parsed as the same kind; every check and refusal stays the same."""
    if not body or not body.strip():
        raise IngestRejected("empty body: send at least one event")
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES | JSONL_TYPES:
        raise IngestRejected(
            f"unsupported content type {media_type or '(none)'!r}: send application/json (an array of events) "
            "or application/x-ndjson (one event per line)",
            status=415,
        )
    if len(body) > settings.INGEST_MAX_BYTES:
        raise IngestRejected(f"body is {len(body)} bytes; the limit is {settings.INGEST_MAX_BYTES}", status=413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestRejected(f"body is not UTF-8: {exc}") from exc
    if not text.strip():
        raise IngestRejected("empty body: send at least one event")
    lines = media_type in JSONL_TYPES
    if parsed is not None and parsed.lines == lines:
        data = parsed.value
    elif lines:
        data = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise IngestRejected(f"invalid JSON on line {lineno}, column {exc.colno}: {exc.msg}") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestRejected(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if lines:
        items = data
    else:
        items = data if isinstance(data, list) else [data]
        if isinstance(data, dict) and "events" in data and isinstance(data["events"], list):
            items = data["events"]
    if not items:
        raise IngestRejected("the batch holds no events")
    if len(items) > settings.INGEST_MAX_EVENTS:
        raise IngestRejected(f"the batch holds {len(items)} events; at most {settings.INGEST_MAX_EVENTS} per request", status=413)
    return items


# Timestamps the engine can compute with. Events stored before the ingest window existed (or by a
# trusted path: replay, simulate) may lie anywhere in datetime's range, where windows of hours or
# days around them overflow (year 1, year 9999): the pipeline's stages leave those out.
COMPUTABLE_FROM = datetime(1970, 1, 1, tzinfo=UTC)
COMPUTABLE_UNTIL = datetime(2200, 1, 1, tzinfo=UTC)


def timestamp_computable(ts: datetime) -> bool:
    return COMPUTABLE_FROM <= ts < COMPUTABLE_UNTIL


@dataclass(frozen=True)
class TimestampWindow:
    """The timestamps a client over the network may send: from `past` before now to `future`
    after it (INGEST_MAX_PAST_DAYS, INGEST_MAX_FUTURE_HOURS). Year 1 or 9999 is a broken clock or
    a hostile client, and such an event would sit at either end of every chart forever. Trusted
    local paths (replay, simulate, demo) pass no window: their data may be years old."""

    now: datetime
    past: timedelta
    future: timedelta

    @classmethod
    def from_settings(cls, now: datetime | None = None) -> TimestampWindow:
        return cls(
            now=now or timezone.now(),
            past=timedelta(days=settings.INGEST_MAX_PAST_DAYS),
            future=timedelta(hours=settings.INGEST_MAX_FUTURE_HOURS),
        )

    def problem(self, ts: datetime) -> str | None:
        if ts < self.now - self.past:
            return (f"{ts.isoformat()} is more than {self.past.days} days in the past "
                    f"(accepted: {self.now - self.past:%Y-%m-%dT%H:%M:%SZ} to {self.now + self.future:%Y-%m-%dT%H:%M:%SZ}; INGEST_MAX_PAST_DAYS)")
        if ts > self.now + self.future:
            return (f"{ts.isoformat()} is more than {self.future.total_seconds() / 3600:g} hours in the future "
                    f"(accepted: {self.now - self.past:%Y-%m-%dT%H:%M:%SZ} to {self.now + self.future:%Y-%m-%dT%H:%M:%SZ}; INGEST_MAX_FUTURE_HOURS)")
        return None


def timestamp_parse(raw) -> datetime:
    """An ISO-8601 string or epoch seconds/milliseconds; ValueError (only) says what is wrong."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if not math.isfinite(raw):
            raise ValueError("not a finite number")
        # Epoch seconds, or milliseconds when the number is too large to be seconds.
        seconds = raw / 1000.0 if raw > 1e11 else raw
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{raw!r} is out of range as epoch seconds or milliseconds") from None
    if not isinstance(raw, str) or not raw:
        raise ValueError("expected an ISO-8601 string such as 2026-01-31T12:00:00Z")
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{raw!r} is not an ISO-8601 timestamp") from exc
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts


def event_validate(raw, index: int, errors: list[dict], *, window: TimestampWindow | None = None) -> EventIn | None:
    """Validate one raw event; append every problem to `errors` and return None if there is any."""
    before = len(errors)

    def bad(field_name: str, reason: str) -> None:
        errors.append({"index": index, "field": field_name, "reason": reason})

    if not isinstance(raw, dict):
        bad("", f"expected a JSON object, got {type(raw).__name__}")
        return None
    unknown = set(raw) - KNOWN_FIELDS
    if unknown:
        bad(sorted(unknown)[0], f"unknown field(s) {', '.join(sorted(unknown))}; put free-form data in 'attributes'")

    ts = None
    if "timestamp" not in raw:
        bad("timestamp", "required")
    else:
        try:
            ts = timestamp_parse(raw["timestamp"])
        except ValueError as exc:
            bad("timestamp", str(exc))
        else:
            problem = window.problem(ts) if window else None
            if problem:
                bad("timestamp", problem)

    def text(name: str, required: bool = False) -> str:
        value = raw.get(name)
        if value is None:
            if required:
                bad(name, "required")
            return ""
        if not isinstance(value, str):
            bad(name, f"expected a string, got {type(value).__name__}")
            return ""
        if required and not value.strip():
            bad(name, "must not be empty")
        if name in MAX_LEN and len(value) > MAX_LEN[name]:
            bad(name, f"longer than {MAX_LEN[name]} characters")
        return value.strip() if name == "service" else value

    service = text("service", required=True)
    type_ = text("type", required=True)
    if type_ and type_ not in INGEST_TYPES:
        bad("type", f"{type_!r} is not one of alert, log, metric")
    severity = raw.get("severity", Severity.INFO if type_ != Event.Type.ALERT else Severity.WARNING)
    if severity not in Severity.values:
        bad("severity", f"{severity!r} is not one of critical, warning, info")
    message = text("message")
    metric = text("metric")
    host = text("host")
    fingerprint = text("fingerprint")
    client_id = raw.get("id")
    if client_id is not None:
        if isinstance(client_id, int) and not isinstance(client_id, bool):
            client_id = str(client_id)
        if not isinstance(client_id, str) or not client_id:
            bad("id", "expected a non-empty string")
            client_id = None
        elif len(client_id) > MAX_LEN["id"]:
            bad("id", f"longer than {MAX_LEN['id']} characters")

    value = raw.get("value")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad("value", f"expected a number, got {type(value).__name__}")
            value = None
        elif not math.isfinite(value):
            bad("value", "must be finite")
            value = None
        else:
            value = float(value)
    if type_ == Event.Type.METRIC:
        if not metric:
            bad("metric", "required for a metric event")
        if value is None and "value" not in raw:
            bad("value", "required for a metric event")
    elif type_ in (Event.Type.ALERT, Event.Type.LOG) and not message and "message" not in raw:
        bad("message", f"required for an {type_} event" if type_ == "alert" else "required for a log event")

    attributes = raw.get("attributes", {})
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        bad("attributes", f"expected an object, got {type(attributes).__name__}")
        attributes = {}

    if len(errors) > before:
        return None
    return EventIn(
        timestamp=ts,
        service=service,
        type=type_,
        severity=severity,
        message=message,
        metric=metric,
        value=value,
        host=host,
        fingerprint=fingerprint,
        attributes=attributes,
        client_id=client_id,
    )


def batch_validate(items: list, *, window: TimestampWindow | None = None) -> list[EventIn]:
    errors: list[dict] = []
    events = [event_validate(raw, i, errors, window=window) for i, raw in enumerate(items)]
    if errors:
        raise IngestValidationError(errors)
    return events  # type: ignore[return-value]


def events_accept(*, body: bytes, content_type: str, parsed=None) -> list[EventIn]:
    """A request body's events, parsed, validated against the timestamp window and the cap on new
    services: what POST /api/v1/events accepts, whichever path serves it (incidents.api, and
    incidents.fastingest before Django). Raises IngestRejected / IngestValidationError."""
    items = batch_parse(body=body, content_type=content_type, parsed=parsed)
    events = batch_validate(items, window=TimestampWindow.from_settings())
    services_new_check({e.service for e in events})
    return events


def services_new_check(names: set[str]) -> None:
    """Refuse a request that would create more than INGEST_MAX_NEW_SERVICES services: each becomes
    a row, a filter choice and a topology node, so a client inventing thousands of names in one
    batch (a label holding a request id) is a mistake to stop before it is stored."""
    limit = settings.INGEST_MAX_NEW_SERVICES
    if len(names) <= limit:
        return
    new = len(names) - Service.objects.filter(name__in=names).count()
    if new > limit:
        raise IngestRejected(
            f"the batch would create {new} new services; at most {limit} per request (INGEST_MAX_NEW_SERVICES): "
            "check the service names (an id in a name makes a service per event), or send the batch in parts",
            status=422,
        )


def services_ensure(names: set[str]) -> dict[str, Service]:
    """Return the services by name, creating unknown ones on the fly."""
    found = {s.name: s for s in Service.objects.filter(name__in=names)}
    missing = names - found.keys()
    if missing:
        Service.objects.bulk_create([Service(name=n) for n in sorted(missing)], ignore_conflicts=True)
        found.update({s.name: s for s in Service.objects.filter(name__in=missing)})
    return found


def events_store(*, events: list[EventIn], source: str = Event.Source.API) -> IngestResult:
    """Store a validated batch in one transaction, skipping client ids already stored."""
    if connection.vendor == "postgresql":
        return _events_store_copy(events=events, source=source)
    for attempt in range(3):
        try:
            return _events_store_once(events=events, source=source)
        except IntegrityError:
            # A concurrent request stored one of our client ids between our check and our
            # insert: the whole batch rolled back, so check again and store the rest.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _events_store_once(*, events: list[EventIn], source: str) -> IngestResult:
    now = timezone.now()
    ids = [e.client_id for e in events if e.client_id]
    seen: set[str] = set()
    if ids:
        for start in range(0, len(ids), 1000):
            seen.update(EventClientId.objects.filter(client_id__in=ids[start : start + 1000]).values_list("client_id", flat=True))
    services = services_ensure({e.service for e in events})
    rows: list[Event] = []
    first = _first_of_each_id(events, seen=seen)
    duplicates = len(events) - len(first)
    for e in first:
        rows.append(
            Event(
                timestamp=e.timestamp,
                received_at=now,
                service=services[e.service],
                type=e.type,
                severity=e.severity,
                message=e.message,
                metric=e.metric,
                value=e.value,
                host=e.host,
                fingerprint=e.fingerprint or event_fingerprint(e),
                attributes=e.attributes,
                client_id=e.client_id,
                source=source,
            )
        )
    # The ids first: a concurrent batch that stored one of them makes this fail (IntegrityError,
    # retried by events_store) before any event is written.
    EventClientId.objects.bulk_create([EventClientId(client_id=r.client_id, timestamp=r.timestamp) for r in rows if r.client_id],
                                      batch_size=1000)
    Event.objects.bulk_create(rows, batch_size=1000)
    rollups.rollups_add(rows)  # last: its row locks are held only until the commit
    return IngestResult(accepted=len(rows), duplicates=duplicates, events=rows, kept=first)


def _first_of_each_id(events: list[EventIn], *, seen: set[str]) -> list[EventIn]:
    """The events whose client id is not in `seen` (stored already), the first of each id in the
    batch, and those without one."""
    first = []
    for e in events:
        if e.client_id:
            if e.client_id in seen:
                continue
            seen.add(e.client_id)
        first.append(e)
    return first


EVENT_COLUMNS = [f.attname for f in Event._meta.concrete_fields]  # id, timestamp, ..., in the model's order


def instance_loaded(model, fields: dict):
    """A stored row of `model` built from its column values (attnames) without Model.__init__,
    which costs 20-30 us a row (a 1,000-event batch: 20-30 ms, a worker's largest Python cost
    after the detectors). It is what Model.from_db ends with: the values in the instance's
    __dict__ and a loaded state; a column left out is deferred (read from the database if used)."""
    instance = model.__new__(model)
    instance.__dict__.update(fields)
    instance._state = ModelState()
    instance._state.adding, instance._state.db = False, "default"
    return instance


def event_loaded(fields: dict, service: Service) -> Event:
    """A stored event (`instance_loaded`) with its service attached, as select_related would."""
    event = instance_loaded(Event, fields)
    event._state.fields_cache["service"] = service
    return event


def _event_row(e: EventIn, *, pk: int, now: datetime, service: Service, source: str) -> Event:
    return event_loaded(dict(zip(EVENT_COLUMNS, (
        pk, e.timestamp, now, service.pk, e.type, e.severity, e.message, e.metric, e.value, e.host,
        e.fingerprint or event_fingerprint(e), e.attributes, e.client_id, source, None, None, None,
    ), strict=True)), service)


# One statement: claim the batch's client ids (in order, so two batches sharing ids wait for each
# other in one order and cannot deadlock), take ids for its events from the events' sequence and
# read its services. A client id stored before, or by a concurrent batch that commits, is not
# returned (ON CONFLICT DO NOTHING waits for that batch's transaction to end): that event is a
# duplicate; if the other batch rolls back, the id is ours.
_CLAIM = """
WITH claimed AS (
    INSERT INTO {ids_table} (client_id, "timestamp")
    SELECT c, ts FROM unnest(%s::varchar[], %s::timestamptz[]) AS u(c, ts) ORDER BY c
    ON CONFLICT DO NOTHING RETURNING client_id
)
SELECT (SELECT coalesce(array_agg(client_id), '{{}}') FROM claimed),
       (SELECT coalesce(array_agg(nextval(seq)), '{{}}')
        FROM generate_series(1, %s), (SELECT pg_get_serial_sequence(%s, 'id') AS seq) AS s),
       (SELECT coalesce(array_agg(ARRAY[id::text, name]), '{{}}') FROM {services_table} WHERE name = ANY(%s::varchar[]))
"""
SMALL_BATCH = 20  # events written with one INSERT (one round trip) rather than COPY (two)


@transaction.atomic(savepoint=False)  # nothing to roll back to: an error ends the batch
def _events_store_copy(*, events: list[EventIn], source: str) -> IngestResult:
    """PostgreSQL: the batch in three statements whatever its size: the client ids claimed, the
    event ids taken and the services read (one statement), the events written with COPY (one
    INSERT for a small batch; PostgreSQL routes each row to its time partition), the rollups.
    Same rules as `_events_store_once`."""
    now = timezone.now()
    first = _first_of_each_id(events, seen=set())
    duplicates = len(events) - len(first)
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        ids = [(e.client_id, e.timestamp) for e in first if e.client_id]
        cursor.execute(_CLAIM.format(ids_table=qn(EventClientId._meta.db_table), services_table=qn(Service._meta.db_table)),
                       [[c for c, _ in ids], [t for _, t in ids], len(first), Event._meta.db_table, sorted({e.service for e in first})])
        claimed, pks, known = cursor.fetchone()
        claimed = set(claimed)
        services = {name: instance_loaded(Service, {"id": int(pk), "name": name}) for pk, name in known}
        missing = {e.service for e in first} - services.keys()
        if missing:
            services.update(services_ensure(missing))
        rows: list[Event] = []
        kept: list[EventIn] = []
        for e in first:
            if e.client_id and e.client_id not in claimed:
                duplicates += 1
                continue
            rows.append(_event_row(e, pk=pks[len(rows)], now=now, service=services[e.service], source=source))
            kept.append(e)
        values = [(r.pk, r.timestamp, now, r.service_id, r.type, r.severity, r.message, r.metric, r.value, r.host, r.fingerprint,
                   json.dumps(r.attributes), r.client_id, source) for r in rows]
        columns = ", ".join(qn(Event._meta.get_field(name).column) for name in COPY_FIELDS)
        if 0 < len(rows) <= SMALL_BATCH:
            # One array per column: the statement's text is the same whatever the row count, so
            # psycopg converts it once (a VALUES list of 14 placeholders a row went past its
            # cache's 50 parameters at four rows: 12-17% of a group commit's time, profiled).
            arrays = ", ".join(f"%s::{kind}[]" for kind in COPY_TYPES)
            cursor.execute(f"INSERT INTO {qn(Event._meta.db_table)} ({columns}) SELECT * FROM unnest({arrays})", [list(c) for c in zip(*values)])
        elif rows:
            with cursor.cursor.copy(f"COPY {qn(Event._meta.db_table)} ({columns}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
    rollups.rollups_add(rows)  # last: its row locks are held only until the commit
    return IngestResult(accepted=len(rows), duplicates=duplicates, events=rows, kept=kept)


def events_store_many(*, batches: list[list[EventIn]], source: str = Event.Source.API) -> list[IngestResult]:
    """Store several requests' batches as one (group commit: incidents.groupcommit), each
    accounted for as if stored alone, in order: an id sent by two batches of the group is stored
    for the first and a duplicate for the second, as it would be one request after the other.
    Inside the caller's transaction (the group's)."""
    everything = [e for batch in batches for e in batch]
    stored = events_store(events=everything, source=source)
    row_of = {id(e): row for e, row in zip(stored.kept, stored.events, strict=True)}
    out = []
    for batch in batches:
        rows = [row_of[id(e)] for e in batch if id(e) in row_of]
        out.append(IngestResult(accepted=len(rows), duplicates=len(batch) - len(rows), events=rows,
                                kept=[e for e in batch if id(e) in row_of]))
    return out


COPY_FIELDS = ("id", "timestamp", "received_at", "service", "type", "severity", "message", "metric", "value", "host", "fingerprint",
               "attributes", "client_id", "source")
COPY_TYPES = ("bigint", "timestamptz", "timestamptz", "bigint", "varchar", "varchar", "text", "varchar", "float8", "varchar", "varchar",
              "jsonb", "varchar", "varchar")  # PostgreSQL's types of COPY_FIELDS, for the small batches' unnest


def ids_in(ids):
    """The right-hand side of a `pk__in` filter for many ids: on PostgreSQL one array parameter
    (`IN (SELECT unnest(%s::bigint[]))`), since Django's In lookup prepares every value through
    the field and writes a placeholder each (measured: 30-40% of loading 1,000 events by id);
    elsewhere the ids themselves."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])
    return list(ids)


def event_fingerprint(e: EventIn) -> str:
    """A stable fingerprint for events that bring none: alerts by service and normalised message."""
    if e.type == Event.Type.METRIC:
        return ""
    return f"{e.service}:{message_signature(e.message)}"[:128]
