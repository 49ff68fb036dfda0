"""How ingest scales with ingest workers and web processes: bench/ingest.py's run, once per
configuration, on the same simulated stream (a fresh database each time).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python bench/scale.py [--workers 1,2,4] [--servers 1,2] [--hours 2] [--batch 1000] [--clients 4] \
        [--chart bench/out/scale-lag.png]

Prints, per configuration, the events/s accepted by the web processes, the events/s processed
(first request -> queue drained) and arrival -> incident updated p95, and draws the queue lag over
time of every configuration in one chart (matplotlib, PNG).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import Config, lag_chart, run, simulated  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="ingest worker counts")
    parser.add_argument("--servers", default="1,2", help="web process counts (the ingest tier, bench/ingest.py --server)")
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chart", type=Path, default=ROOT / "bench" / "out" / "scale-lag.png")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        print("bench/scale.py measures the production setup: set DATABASE_URL (PostgreSQL) and REDIS_URL.", file=sys.stderr)
        return 2
    events = simulated(hours=args.hours, seed=args.seed)
    print(f"scale bench: {len(events):,} simulated events ({args.hours:g} h) per run, batches of {args.batch}, {args.clients} clients, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    rows, outcomes = [], []
    for servers in [int(s) for s in args.servers.split(",")]:
        for workers in [int(w) for w in args.workers.split(",")]:
            config = Config(servers=servers, workers=workers, clients=args.clients, batch=args.batch, label=f"{servers} web, {workers} workers")
            o = run(config, events)
            outcomes.append(o)
            lag_max = max((s[1] for s in o.lag), default=0.0)
            rows.append((servers, workers, o.accepted_per_s, o.processed_per_s, o.incident_p95, lag_max, len(o.errors)))
            print(f"  {servers} web, {workers} workers: accepted {o.accepted_per_s:,.0f} events/s, processed {o.processed_per_s:,.0f} events/s, "
                  f"arrival -> incident p95 {o.incident_p95:.2f} s, lag max {lag_max:.1f} s, errors {len(o.errors)}; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    print("\n web  workers  accepted/s  processed/s  incident p95 s  lag max s  errors")
    for servers, workers, acc, proc, p95, lag, errs in rows:
        print(f"{servers:>4} {workers:>8} {acc:>11,.0f} {proc:>12,.0f} {p95:>15.2f} {lag:>10.1f} {errs:>7}")
    lag_chart(outcomes, args.chart, f"ingest queue lag per configuration ({len(events):,} events, batches of {args.batch})")
    print(f"chart: {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
