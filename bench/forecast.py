"""How well the per-service risk forecast predicts simulated faults, against naive baselines.

    .venv/bin/python bench/forecast.py [--days 8] [--train-days 5] [--seed 11] [--k 3] [--horizon 2]

A simulated estate (evaluation.simulation, 21 services, a fault every ~75 minutes spreading to its
callers) runs for --days; its alerts and error logs are counted per service and hour
(correlation.forecast.ServiceHistory), and the ground-truth faults give, per service and hour,
whether a fault touching it started then. The forecaster trains on the hours of the first
--train-days and is scored on every later hour: at hour t it ranks the services by risk of a fault
starting in [t, t + horizon), and precision / recall at the top k count the services in the top
k that were indeed hit (precision = hits / (k x hours), recall = hits / services hit), against
two baselines: "frequent victims" (the services hit most often so far) and "loud now" (the most
firing alerts in the last hour).

Caveat worth knowing before reading the figures: the simulator starts its faults at random, with
no precursor, so what a forecaster can learn here is where faults land (the topology makes
callers of shared dependencies frequent victims) and that a service in trouble now is often still
in trouble in the next hours; a real estate's trends and deploys are not in this data.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from correlation import forecast  # noqa: E402
from evaluation import simulation  # noqa: E402


def simulate(days: float, seed: int) -> tuple[dict[str, forecast.ServiceHistory], int]:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    config = simulation.SimConfig(start=start, seed=seed, metric_interval_s=6 * 3600.0, benign_logs_per_s=0.02)
    sim = simulation.Simulator(config)
    hours = int(days * 24)
    names = [s["name"] for s in simulation.SERVICES]
    hist = {n: forecast.ServiceHistory(*([0] * hours for _ in range(5))) for n in names}
    t0 = start.timestamp()
    events = sim.advance(start + timedelta(days=days)) + sim.drain()
    for e in events:
        h = int((datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp() - t0) // 3600)
        if not 0 <= h < hours:
            continue
        if e["type"] == "alert" and e.get("attributes", {}).get("alert_status") == "firing":
            hist[e["service"]].alerts[h] += 1
        elif e["type"] == "log" and e["severity"] in ("critical", "warning"):
            hist[e["service"]].errors[h] += 1
    for fault in sim.faults:
        h = int((fault.start - t0) // 3600)
        if 0 <= h < hours:
            for service in fault.affected:
                hist[service].incidents[h] += 1
    return hist, hours


def count(rank, hist, hours: range, k: int, horizon: int) -> tuple[int, int, int]:
    """(hits in the top k, services hit, forecasts made) over the hours."""
    hits = positives = 0
    for t in hours:
        hit_now = {n for n, h in hist.items() if forecast.label(h, t, horizon)}
        positives += len(hit_now)
        hits += len(set(forecast.top_k(rank(t), k)) & hit_now)
    return hits, positives, len(hours)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=float, default=8.0)
    ap.add_argument("--train-days", type=float, default=5.0)
    # Seed 13 is left out: the simulator fails on it (an overlapping fault finds no kind whose root
    # is clear of the first one's services: evaluation/simulation.py, Simulator.inject).
    ap.add_argument("--seeds", default="11,12,14,15", help="one estate per seed, counts pooled")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--horizon", type=int, default=forecast.HORIZON_HOURS)
    args = ap.parse_args(argv)
    started = time.process_time()
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    names = ("forecaster (logistic regression)", "baseline: frequent victims", "baseline: loud now (alerts last hour)")
    totals = {n: [0, 0, 0] for n in names}
    faults = 0
    for seed in seeds:
        hist, hours = simulate(args.days, seed)
        split = int(args.train_days * 24)
        train, test = range(24, split), range(split, hours - args.horizon)
        model = forecast.RiskForecaster(horizon=args.horizon).fit(hist, train)
        rankings = (lambda t: model.predict(hist, t), lambda t: forecast.naive_scores(hist, t),
                    lambda t: {n: float(h.alerts[t - 1]) for n, h in hist.items()})
        for name, rank in zip(names, rankings):
            totals[name] = [x + y for x, y in zip(totals[name], count(rank, hist, test, args.k, args.horizon))]
        faults += sum(sum(h.incidents) for h in hist.values())
        print(f"seed {seed} weights:", {f: round(w, 2) for f, w in model.explain().items()})
    print(f"simulated estates, seeds {seeds}: {args.days:g} days each, {len(hist)} services, {faults} service-hits by faults; "
          f"trained on hours 24-{split} of each, scored on hours {split}-{hours - args.horizon}; horizon {args.horizon} h, top {args.k}")
    print(f"{'ranking':40s} {'precision@k':>11s} {'recall@k':>9s}")
    for name, (hits, positives, n) in totals.items():
        print(f"{name:40s} {hits / (args.k * n):11.4f} {hits / positives if positives else math.nan:9.4f}")
    print(f"{time.process_time() - started:.0f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
