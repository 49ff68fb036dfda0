"""Ingest throughput through the real HTTP API with correlation on, and the latency from an event's
arrival to its incident's update.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/ingest.py \
        [--servers 2] [--clients 4] [--hours 12] [--batch 5000] [--no-anomalies]

Creates a fresh PostgreSQL database (`cleara_bench_ingest_<pid>`, dropped afterwards), starts
`--servers` daphne processes on loopback (CORRELATION_INLINE=1: each request stores its batch,
runs anomaly detection and correlation, and answers 202 only then), and has `--clients` threads post
a simulated stream (alerts, logs, metrics, injected faults; bodies encoded before the clock starts)
as fast as the servers take it, spread over the servers. Prints the sustained events/s and the
request latency; because correlation runs inside the request, the latency of a request whose answer
names incidents is the time from its events' arrival to their incidents' update.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.client import post_all  # noqa: E402
from bench.db import bench_database  # noqa: E402
from evaluation import simulation  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"server on port {port} did not come up")


def bodies(*, hours: float, batch: int, seed: int) -> tuple[list[bytes], int]:
    config = simulation.SimConfig(start=datetime(2026, 11, 2, tzinfo=UTC), seed=seed)
    events = list(simulation.Recording(config, days=hours / 24))
    out = [json.dumps(events[i : i + batch]).encode() for i in range(0, len(events), batch)]
    return out, len(events)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=2, help="daphne processes")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--hours", type=float, default=12.0, help="simulated hours to send (about 21,000 events an hour)")
    parser.add_argument("--batch", type=int, default=5000, help="events per request")
    parser.add_argument("--warmup", type=int, default=4, help="requests not counted at the start")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-anomalies", action="store_true", help="serve with ANOMALY_DETECTION=0")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("bench/ingest.py measures the production setup: set DATABASE_URL to a PostgreSQL server.", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    payloads, n_events = bodies(hours=args.hours, batch=args.batch, seed=args.seed)
    print(f"ingest bench: {n_events} simulated events in {len(payloads)} requests of {args.batch} "
          f"({sum(map(len, payloads)) / 1e6:.0f} MB, encoded in {time.perf_counter() - t0:.0f} s); "
          f"{args.servers} daphne process(es), {args.clients} client threads, correlation inline, "
          f"anomaly detection {'off' if args.no_anomalies else 'on'}, {os.cpu_count()} CPUs")

    with bench_database("ingest") as env:
        env.update(CORRELATION_INLINE="1", ANOMALY_DETECTION="0" if args.no_anomalies else "1", LOG_LEVEL="WARNING", DJANGO_DEBUG="0")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        token = subprocess.run([sys.executable, "manage.py", "create_api_token", "bench", "--scope", "ingest", "--scope", "admin"], cwd=ROOT, env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        topology = json.dumps(simulation.topology())
        subprocess.run([sys.executable, "-c", (
            "import django, json, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'cleara.settings'); django.setup(); "
            "from incidents.topology import topology_apply; topology_apply(services=json.loads(os.environ['TOPOLOGY'])['services'])"
        )], cwd=ROOT, env={**env, "TOPOLOGY": topology}, check=True)

        ports = [free_port() for _ in range(args.servers)]
        servers = [
            subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(p), "cleara.asgi:application"],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            for p in ports
        ]
        try:
            for p in ports:
                wait_up(p)
            answers, began, ended = post_all(ports, payloads, token, clients=args.clients)
            errors = [f"request {a.index}: {a.status} {a.body[:200]!r}" for a in answers if a.status != 202]
            results = []  # (index, start, seconds, events, incidents named)
            for a in answers:
                if a.status == 202:
                    answer = json.loads(a.body)
                    results.append((a.index, a.start, a.seconds, answer["accepted"] + answer["duplicates"], bool(answer["incidents"])))
        finally:
            for proc in servers:
                os.killpg(proc.pid, signal.SIGINT)
            for proc in servers:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)

    if errors:
        print(f"{len(errors)} failed request(s), e.g. {errors[0]}")
        return 1
    results.sort()
    counted = [r for r in results if r[0] >= args.warmup]
    first_start = min(r[1] for r in counted)
    events = sum(r[3] for r in counted)
    wall = ended - first_start
    latencies = [r[2] for r in counted]
    incident_latencies = [r[2] for r in counted if r[4]]
    print(f"sustained: {events} events in {wall:.1f} s = {events / wall:,.0f} events/s "
          f"(all {n_events} in {ended - began:.1f} s = {n_events / (ended - began):,.0f} events/s, warm-up included)")
    print(f"request latency ({len(latencies)} requests of {args.batch}): p50 {percentile(latencies, 50):.2f} s, "
          f"p95 {percentile(latencies, 95):.2f} s, max {max(latencies):.2f} s")
    print(f"arrival -> incident updated ({len(incident_latencies)} requests that changed incidents): "
          f"p50 {percentile(incident_latencies, 50):.2f} s, p95 {percentile(incident_latencies, 95):.2f} s")
    ok = events / wall >= 10_000 and percentile(incident_latencies, 95) < 1.0
    print(f"targets: >= 10,000 events/s {'met' if events / wall >= 10_000 else 'MISSED'}, "
          f"p95 < 1 s {'met' if percentile(incident_latencies, 95) < 1.0 else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
