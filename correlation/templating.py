"""The ingest stage that gives every stored log event its template and parameters.

Registered first among correlation's stages (correlation.apps), so grouping and pattern matching
see templates. One miner (correlation.logtemplates) serves the whole installation: its state is
one row (`TemplateMinerState`), locked for the batch, so two processes never hand out the same
template id twice. Each process keeps the miner it last used and reloads it only when the row's
stamp shows another process has mined since. Templates are rows of `incidents.LogTemplate`
(their ids are the miner's); a template that merges into another points at it (`merged_into`).
A log event keeps the id of the template it was given and its parameters; `LogTemplate.live()`
follows merges.
"""
from __future__ import annotations

import json
import threading

from django.db import connection, transaction
from django.utils import timezone

from correlation.logtemplates import TemplateMiner
from correlation.models import TemplateMinerState
from incidents.models import Event, LogTemplate
from incidents.pipeline import StageResult

MAX_PARAMETERS = 20  # per event; the rest are dropped
MAX_PARAMETER_CHARS = 200

_cache = threading.local()


def _miner(row: TemplateMinerState) -> TemplateMiner:
    cached = getattr(_cache, "miner", None)
    if cached is not None and getattr(_cache, "stamp", None) == row.stamp:
        return cached
    miner = TemplateMiner.from_dict(row.state) if row.state else TemplateMiner()
    _cache.miner, _cache.stamp = miner, row.stamp
    return miner


def miner_current() -> TemplateMiner:
    """The installation's miner as last stored (read-only use: matching a posted text)."""
    row = TemplateMinerState.objects.filter(pk=1).first()
    return _miner(row) if row is not None else TemplateMiner()


def events_template(events: list[Event]) -> StageResult:
    """Mine the batch's log messages; store each log event's template id and parameters."""
    logs = [e for e in events if e.type == Event.Type.LOG and e.template_id is None]
    if not logs:
        return StageResult()
    now = timezone.now()
    with transaction.atomic():
        row, _ = TemplateMinerState.objects.select_for_update().get_or_create(pk=1)
        miner = _miner(row)
        merged_before = len(miner.merged)
        touched: set[int] = set()
        try:
            for event in logs:
                match = miner.add(event.message)
                event.template_id = match.template_id
                event.template_params = [p[:MAX_PARAMETER_CHARS] for p in match.parameters[:MAX_PARAMETERS]]
                touched.add(match.template_id)
        except Exception:
            _cache.miner = None  # half-applied: reload from the row next time
            raise
        merges = list(miner.merged.items())[merged_before:]
        touched |= {a for a, _ in merges} | {b for _, b in merges}
        rows = []
        for tid in touched:
            live = miner.templates.get(tid)
            merged_into = miner.resolve(tid) if live is None else None
            text = live.text if live is not None else miner.templates[merged_into].text
            rows.append(LogTemplate(pk=tid, text=text[:4000], size=live.size if live else 0, merged_into_id=merged_into,
                                    first_seen=now, last_seen=now))
        # Merged-into targets first: the foreign key must find its row.
        rows.sort(key=lambda r: r.merged_into_id is not None)
        LogTemplate.objects.bulk_create(rows, update_conflicts=True, unique_fields=["id"],
                                        update_fields=["text", "size", "merged_into", "last_seen"])
        events_template_save(logs)
        row.state = miner.to_dict()
        row.stamp += 1
        row.save(update_fields=["state", "stamp", "updated_at"])
        _cache.stamp = row.stamp
    return StageResult()


def events_template_save(events: list[Event]) -> None:
    """Store the events' template ids and parameters. On PostgreSQL one UPDATE joined to the values
    as arrays: Django's bulk_update writes a CASE with a branch per event, which took 80% of the
    stage's time (bench/templating.py)."""
    if connection.vendor != "postgresql":
        Event.objects.bulk_update(events, ["template", "template_params"], batch_size=1000)
        return
    table = connection.ops.quote_name(Event._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS e SET template_id = v.template_id, template_params = v.params "
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[], %s::jsonb[]) AS v(id, ts, template_id, params) "
            "WHERE e.id = v.id AND e.timestamp = v.ts",  # the time prunes the partitions (events are partitioned by time)
            [[e.pk for e in events], [e.timestamp for e in events], [e.template_id for e in events],
             [json.dumps(e.template_params) for e in events]],
        )
