"""Replay a recorded event stream through exactly the ingest and correlation code live traffic takes,
and write every incident it created or changed in the API's shape."""
from __future__ import annotations

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from incidents.errors import IngestValidationError
from incidents.ingest import batch_validate
from incidents.models import Incident
from incidents.pipeline import events_ingest
from incidents.selectors import incident_to_api
from incidents.topology import topology_apply, topology_validate


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


class Command(BaseCommand):
    help = "Feed a recorded JSON Lines event stream through ingest and correlation; write the incidents."

    def add_arguments(self, parser):
        parser.add_argument("events", help="events, one JSON object per line, in arrival order")
        parser.add_argument("--topology", help="the topology as {\"services\": [...]} (as GET /api/v1/services)")
        parser.add_argument("--output", help="where to write the incidents (JSON); default: standard output")
        parser.add_argument("--batch", type=int, default=5000, help="events per ingest batch (default 5000)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, events: str, topology: str | None, output: str | None, batch: int, no_progress: bool, **options):
        path = Path(events)
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        if not 1 <= batch <= 50_000:
            raise CommandError("--batch must be between 1 and 50000")
        if topology:
            try:
                data = json.loads(Path(topology).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise CommandError(f"{topology}: {exc}") from exc
            try:
                topology_apply(services=topology_validate(data))
            except IngestValidationError as exc:
                raise CommandError(f"{topology}: {exc.message}: " + "; ".join(f"service {e['index']}: {e['field']}: {e['reason']}" for e in exc.errors)) from exc

        started = time.perf_counter()
        totals = {"events": 0, "accepted": 0, "duplicates": 0, "anomalies": 0}
        incident_ids: set[int] = set()
        items: list = []
        lines: list[int] = []

        def flush() -> None:
            try:
                validated = batch_validate(items)
            except IngestValidationError as exc:
                problems = "; ".join(f"line {lines[e['index']]}: {e['field'] or 'event'}: {e['reason']}" for e in exc.errors[:20])
                raise CommandError(
                    f"{path}: invalid event(s), the batch holding them was not stored ({totals['events']} events before it were): {problems}"
                ) from exc
            result = events_ingest(events=validated, correlate=True)
            totals["events"] += len(items)
            totals["accepted"] += result.accepted
            totals["duplicates"] += result.duplicates
            totals["anomalies"] += result.anomalies
            incident_ids.update(result.incident_ids)
            progress.update(len(items))
            items.clear()
            lines.clear()

        total = None if no_progress else _count_lines(path)
        with path.open(encoding="utf-8") as fh, tqdm(total=total, unit="ev", unit_scale=True, disable=no_progress, desc="replay") as progress:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise CommandError(f"{path}:{lineno}: invalid JSON at column {exc.colno}: {exc.msg} ({totals['events']} events before it were stored)") from exc
                lines.append(lineno)
                if len(items) >= batch:
                    flush()
            if items:
                flush()
        seconds = time.perf_counter() - started

        incidents = (
            Incident.objects.filter(pk__in=incident_ids)
            .select_related("root_cause_service", "pattern", "assignee")
            .prefetch_related("services")
            .order_by("number")
        )
        report = {
            "replay": {**totals, "seconds": round(seconds, 2), "events_per_second": round(totals["events"] / seconds, 1) if seconds else None},
            "incidents": [incident_to_api(i) for i in incidents],
        }
        text = json.dumps(report, indent=1)
        if output:
            Path(output).write_text(text)
        else:
            self.stdout.write(text)
        self.stderr.write(
            f"replayed {totals['events']} events ({totals['accepted']} new, {totals['duplicates']} duplicates, "
            f"{totals['anomalies']} anomalies found) in {seconds:.1f} s: {totals['events'] / max(seconds, 1e-9):.0f} events/s; "
            f"{len(report['incidents'])} incidents"
        )
