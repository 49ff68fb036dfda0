"""Replay speed: `manage.py replay` of a simulated stream into a fresh database, in events/s.

    .venv/bin/python bench/replay.py [--days 1] [--batch 5000] [--no-anomalies]

On PostgreSQL when DATABASE_URL names one (database `cleara_bench_replay_<pid>`, dropped
afterwards), otherwise on a temporary SQLite file. The stream is the correlation bench's (metrics
every 60 s for 259 series, logs, alerts, faults); the time counted is replay's own (validation,
storage, anomaly detection, correlation), not the simulation's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.db import bench_database  # noqa: E402
from evaluation import simulation  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--no-anomalies", action="store_true", help="replay with ANOMALY_DETECTION=0")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cleara_bench_replay_") as tmp:
        events, topology, out = Path(tmp, "events.jsonl"), Path(tmp, "topology.json"), Path(tmp, "incidents.json")
        t0 = time.perf_counter()
        truth = simulation.stream_write(
            config=simulation.SimConfig(start=datetime(2026, 11, 2, tzinfo=UTC), seed=args.seed), days=args.days,
            events_path=str(events), topology_path=str(topology),
        )
        counts = truth["counts"]
        print(f"replay bench: {counts['events']} events ({counts['metrics']} metric points, {counts['logs']} logs, {counts['alerts']} alerts; "
              f"{len(truth['faults'])} faults) simulated in {time.perf_counter() - t0:.0f} s; batches of {args.batch}; "
              f"anomaly detection {'off' if args.no_anomalies else 'on'}; "
              f"{'PostgreSQL' if os.environ.get('DATABASE_URL', '').startswith('postgres') else 'SQLite'}")
        with bench_database("replay") as env:
            env["ANOMALY_DETECTION"] = "0" if args.no_anomalies else "1"
            subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
            subprocess.run(
                [sys.executable, "manage.py", "replay", str(events), "--topology", str(topology), "--output", str(out),
                 "--batch", str(args.batch), "--no-progress"],
                cwd=ROOT, env=env, check=True,
            )
        result = json.loads(out.read_text())
    report = result["replay"]
    print(f"replayed {report['events']} events in {report['seconds']} s: {report['events_per_second']:,.0f} events/s "
          f"({report['anomalies']} anomalies found, {len(result['incidents'])} incidents)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
