"""Correlation quality: simulate days of an estate with injected faults, replay them into a fresh
database through `manage.py replay` (the same ingest and correlation code as live traffic), and score
the incidents against the ground truth (evaluation.scoring).

    .venv/bin/python bench/correlation.py [--days 3] [--seeds 7,11,23] [--metric-interval 60] [--no-anomalies]

On PostgreSQL when DATABASE_URL names one (a database `cleara_bench_corr_<pid>` is created next to
it and dropped afterwards), otherwise on a temporary SQLite file. Prints the figures per seed and
over all seeds; exits 1 when the pooled figures miss a target.
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
from evaluation import scoring, simulation  # noqa: E402


def run_seed(*, seed: int, days: float, metric_interval: float, workdir: Path, anomalies: bool, keep: bool) -> tuple[dict, dict]:
    events, truth_path, topo, out = (workdir / f"{name}-{seed}.json{'l' if name == 'events' else ''}" for name in ("events", "truth", "topology", "incidents"))
    t0 = time.perf_counter()
    config = simulation.SimConfig(start=datetime(2026, 11, 2, tzinfo=UTC), seed=seed, metric_interval_s=metric_interval)
    truth = simulation.stream_write(config=config, days=days, events_path=str(events), truth_path=str(truth_path), topology_path=str(topo))
    simulated = time.perf_counter() - t0
    with bench_database(f"corr_{seed}", keep=keep) as env:
        env["ANOMALY_DETECTION"] = "1" if anomalies else "0"
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [sys.executable, "manage.py", "replay", str(events), "--topology", str(topo), "--output", str(out), "--no-progress"],
            cwd=ROOT, env=env, check=True,
        )
    replayed = json.loads(out.read_text())
    replayed["replay"]["simulate_seconds"] = round(simulated, 1)
    return truth, replayed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--seeds", default="7,11,23")
    parser.add_argument("--metric-interval", type=float, default=60.0, help="seconds between a series' points")
    parser.add_argument("--no-anomalies", action="store_true", help="replay with ANOMALY_DETECTION=0")
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument("--faults", action="store_true", help="print every fault's row")
    args = parser.parse_args()

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    pooled_truth = {"faults": [], "counts": {"alerts": 0}, "noise_alert_ids": [], "id_prefix": "sim"}
    pooled_incidents: list[dict] = []
    workdir = Path(tempfile.mkdtemp(prefix="cleara_bench_corr_"))
    print(f"correlation bench: {args.days:g} simulated day(s) per seed, seeds {seeds}, metric points every {args.metric_interval:g} s, "
          f"anomaly detection {'off' if args.no_anomalies else 'on'}, database {'PostgreSQL' if os.environ.get('DATABASE_URL', '').startswith('postgres') else 'SQLite'}")
    for seed in seeds:
        truth, replayed = run_seed(seed=seed, days=args.days, metric_interval=args.metric_interval, workdir=workdir,
                                   anomalies=not args.no_anomalies, keep=args.keep)
        result = scoring.score(truth=truth, incidents=replayed["incidents"])
        r = replayed["replay"]
        print(f"\n== seed {seed}: {r['events']} events replayed in {r['seconds']} s ({r['events_per_second']:.0f} events/s), "
              f"{r['anomalies']} anomalies found")
        print(scoring.report(result))
        if args.faults or result.top1 < 1:
            for row in result.per_fault:
                if args.faults or not row.top1:
                    print(f"   {row.fault} {row.kind:30} root {row.root:16} -> {row.predicted_root} {row.candidates[:3]} "
                          f"conf {row.confidence} {'' if row.top1 else 'WRONG'}")
        # Pool: prefix every id with the seed so faults and incidents of different seeds stay apart.
        for f in truth["faults"]:
            pooled_truth["faults"].append({**f, "id": f"{seed}:{f['id']}"})
        pooled_truth["counts"]["alerts"] += truth["counts"]["alerts"]
        pooled_truth["noise_alert_ids"] += truth["noise_alert_ids"]
        pooled_incidents += [{**i, "id": seed * 1_000_000 + i["id"]} for i in replayed["incidents"]]
    if not args.keep:
        for p in workdir.iterdir():
            p.unlink()
        workdir.rmdir()

    pooled = scoring.score(truth=pooled_truth, incidents=pooled_incidents)
    print(f"\n== all seeds ({len(seeds)} x {args.days:g} days)")
    print(scoring.report(pooled))
    print("by kind: " + ", ".join(f"{k} {v['top1']}/{v['faults']}" for k, v in pooled.by_kind.items()))
    targets = pooled.meets_targets()
    print("targets: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in targets.items()))
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
