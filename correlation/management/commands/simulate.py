"""Simulate the demo estate: write a recorded stream with its ground truth, or stream live into the database."""
from __future__ import annotations

import secrets
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evaluation import simulation
from incidents.ingest import batch_validate, services_ensure
from incidents.models import Event
from incidents.pipeline import events_ingest
from incidents.topology import topology_apply

DEFAULT_START = "2026-11-02T00:00:00Z"


class Command(BaseCommand):
    help = "Write a simulated event stream (--output) with its ground truth, or stream one live (--live)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, default=1.0, help="how much time to record (default 1 day)")
        parser.add_argument("--seed", type=int, default=None, help="random seed (default 7 for a recording, random live)")
        parser.add_argument("--start", default=DEFAULT_START, help=f"event time of the recording's start (default {DEFAULT_START})")
        parser.add_argument("--output", help="events, JSON Lines in arrival order")
        parser.add_argument("--truth", help="ground truth: the injected faults and their events")
        parser.add_argument("--topology-out", help="the topology as {\"services\": [...]}")
        parser.add_argument("--metric-interval", type=float, default=60.0, help="seconds between a series' points (recording)")
        parser.add_argument("--fault-every", type=float, default=75.0, help="mean minutes between faults (recording)")
        parser.add_argument("--live", action="store_true", help="stream in real time into the database, forever")
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **o):
        if o["live"]:
            return self._live(o)
        if not o["output"]:
            raise CommandError("give --output EVENTS.jsonl (a recording) or --live")
        if o["days"] <= 0:
            raise CommandError("--days must be positive")
        try:
            start = datetime.fromisoformat(o["start"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise CommandError(f"--start: {exc}") from exc
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        config = simulation.SimConfig(
            start=start, seed=7 if o["seed"] is None else o["seed"], metric_interval_s=o["metric_interval"], fault_every_min=o["fault_every"],
        )
        with tqdm(unit="ev", unit_scale=True, disable=o["quiet"], desc="simulate") as bar:
            truth = simulation.stream_write(
                config=config, days=o["days"], events_path=o["output"], truth_path=o["truth"], topology_path=o["topology_out"], progress=bar.update,
            )
        counts = truth["counts"]
        self.stderr.write(
            f"{counts['events']} events ({counts['alerts']} alerts, {counts['logs']} logs, {counts['metrics']} metric points), "
            f"{len(truth['faults'])} faults -> {o['output']}"
        )

    def _live(self, o):
        topology_apply(services=simulation.topology()["services"])
        seed = o["seed"] if o["seed"] is not None else secrets.randbelow(1_000_000)
        config = simulation.SimConfig.live(start=datetime.now(UTC), seed=seed, id_prefix=f"live{secrets.token_hex(3)}-")
        services_ensure({s["name"] for s in simulation.SERVICES})

        def ingest(events: list[dict]) -> None:
            for start in range(0, len(events), 5000):
                result = events_ingest(events=batch_validate(events[start : start + 5000]), source=Event.Source.SIMULATOR)
                if result.incident_ids and not o["quiet"]:
                    self.stdout.write(f"  incidents changed: {', '.join(map(str, sorted(result.incident_ids)))}")

        def say(text: str) -> None:
            if not o["quiet"]:
                self.stdout.write(text)
                self.stdout.flush()

        say(f"live simulation (seed {seed}): a fault every ~{config.fault_every_min:.0f} min; Ctrl-C stops")
        try:
            simulation.live_run(config=config, ingest=ingest, say=say)
        except KeyboardInterrupt:
            say("stopped")
