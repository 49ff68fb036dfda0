"""The demo's anomalies by the minute it starts: how many it raises and what share of them sit on
a service a fault was hurting then (the precision an on-call engineer sees), per start and seed.

    .venv/bin/python bench/demo_anomalies.py [--starts 05:00,05:17,05:38,11:43] [--seeds 4,5,6] [--warm-hours 26]

Each run is `demo_setup`'s history (incidents.management.commands.demo_setup.demo_history: the
warm-up learnt by the anomaly baselines, then HISTORY through the real ingest, correlated) for a
demo started at that minute of yesterday (UTC), in a fresh PostgreSQL database copied from a
migrated template beside DATABASE_URL's, in a process of its own, judged by
`demo_anomalies_judged` (the test's rule). --warm-hours replaces the warm-up length (to compare).
Prints one row per run (anomalies, in faults, strays, faults seen of faults, seconds), the share
over all runs and the worst run's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))
from bench.db import _admin_connect, named_database  # noqa: E402

TEMPLATE = os.environ.get("BENCH_DEMO_DB", "cleara_bench_demo") + "_tpl"


def child(now: datetime, seed: int, warm_hours: float | None) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cleara.settings")
    import django

    django.setup()
    from evaluation import simulation
    from incidents.catalogue import builtin_patterns_install
    from incidents.management.commands import demo_setup
    from incidents.topology import topology_apply

    topology_apply(services=simulation.topology()["services"])
    builtin_patterns_install()
    warm = timedelta(hours=warm_hours) if warm_hours is not None else demo_setup.WARM
    started = time.monotonic()
    history = demo_setup.demo_history(now=now, seed=seed, warm=warm)
    seconds = time.monotonic() - started
    judged = demo_setup.demo_anomalies_judged(history)
    strays = [f"{a.timestamp:%H:%M} {a.service.name} {a.message[:60]}" for a in judged.anomalies if a not in judged.in_fault]
    return {"anomalies": len(judged.anomalies), "in_fault": len(judged.in_fault), "faults": len(history.faults), "seen": judged.faults_seen,
            "seconds": round(seconds, 1), "strays": strays, "kinds": sorted({f["kind"] for f in history.faults})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", default="05:00,05:17,05:38,11:43", help="UTC start minutes (HH:MM), yesterday")
    parser.add_argument("--seeds", default="4,5,6")
    parser.add_argument("--warm-hours", type=float, default=None, help="warm-up length (default: demo_setup.WARM)")
    parser.add_argument("--verbose", action="store_true", help="list each run's strays")
    parser.add_argument("--child", nargs=2, metavar=("NOW", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(datetime.fromisoformat(args.child[0]), int(args.child[1]), args.warm_hours)))
        return

    base = named_database(TEMPLATE, recreate=True)
    env = {**os.environ, "DATABASE_URL": base, "DJANGO_SETTINGS_MODULE": "cleara.settings"}
    env.pop("REDIS_URL", None)  # no pushes: nobody watches these databases
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True)
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    rows = []
    print(f"warm-up {args.warm_hours if args.warm_hours is not None else 'demo_setup.WARM'} h; demo started yesterday ({day}) at each minute, UTC")
    print(f"{'start':>5} {'seed':>4} {'anom':>5} {'in':>4} {'stray':>5} {'share':>6} {'faults seen':>11} {'s':>6}")
    for start in args.starts.split(","):
        hour, minute = (int(x) for x in start.split(":"))
        now = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        for seed in (int(s) for s in args.seeds.split(",")):
            db = f"{TEMPLATE[:-4]}_run"
            with _admin_connect(base) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{db}" TEMPLATE "{TEMPLATE}"')
            run_env = {**env, "DATABASE_URL": urlunsplit(urlsplit(base)._replace(path=f"/{db}"))}
            cmd = [sys.executable, __file__, "--child", now.isoformat(), str(seed)]
            if args.warm_hours is not None:
                cmd += ["--warm-hours", str(args.warm_hours)]
            out = subprocess.run(cmd, cwd=BASE_DIR, env=run_env, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rows.append(r)
            share = r["in_fault"] / r["anomalies"] if r["anomalies"] else float("nan")
            print(f"{start:>5} {seed:>4} {r['anomalies']:>5} {r['in_fault']:>4} {r['anomalies'] - r['in_fault']:>5} {share:>6.0%} {r['seen']:>5} of {r['faults']:<3} {r['seconds']:>6.1f}",
                  flush=True)
            if args.verbose:
                for line in r["strays"]:
                    print(f"      stray {line}")
            with _admin_connect(base) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    with _admin_connect(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    total, inside = sum(r["anomalies"] for r in rows), sum(r["in_fault"] for r in rows)
    worst = min((r["in_fault"] / r["anomalies"] for r in rows if r["anomalies"]), default=float("nan"))
    print(f"all runs: {inside} of {total} anomalies in a fault ({inside / max(1, total):.1%}); worst run {worst:.0%}; "
          f"demo history {min(r['seconds'] for r in rows):.0f}-{max(r['seconds'] for r in rows):.0f} s")


if __name__ == "__main__":
    main()
