"""Ingest throughput through the real HTTP API with anomaly detection and correlation on, and the
latency from an event's arrival to its incident's update.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python bench/ingest.py [--servers 2] [--server ingest-web|web] [--workers 2] [--clients 4] [--hours 6] [--batch 1000] \
        [--inline] [--no-anomalies] [--chart bench/out/ingest-lag.png]

Creates a fresh PostgreSQL database (`cleara_bench_ingest_<pid>`, dropped afterwards), loads the
simulation's topology, starts `--servers` web processes on loopback (`--server ingest-web`, the
default: the ingest tier that the proxy sends POST /api/v1/events to, uvicorn; `--server web`:
daphne, which serves the console), each with `scripts/entrypoint` as production starts it, and, with the queue (the
production configuration when Redis is set: INGEST_ASYNC), `--workers` `manage.py ingest_worker`
processes on streams of a prefix of its own; `--clients` threads post a simulated stream (alerts,
logs, metrics, injected faults; bodies encoded before the clock starts) as fast as the servers take
it, spread over the servers, with keep-alive connections. `--batch 1` posts one event per request.

Figures:
* accepted: events/s the web processes stored and acknowledged (202), after `--warmup` requests;
* processed: events/s from the first request to the last message a worker committed (the queue
  drained): what the whole system sustains;
* arrival -> incident updated: for every message whose batch changed an incident, the worker's
  commit time minus the time its request arrived (the worker records both, incidents.queue
  `done_record`; an anomaly's message carries the arrival of the points it came from), p50/p95;
* the queue's lag (oldest unprocessed message, messages waiting) sampled every 0.5 s from the
  `IngestMessage` rows, printed as a summary and drawn with `--chart`.
`--inline` measures the former way (CORRELATION_INLINE, no queue): each request detects and
correlates before answering, and a request whose answer names incidents measures arrival ->
incident updated itself.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.client import post_all  # noqa: E402
from bench.db import bench_database  # noqa: E402
from cleara.tests.outage import free_port, port_range  # noqa: E402
from evaluation import simulation  # noqa: E402


SERVERS = {"ingest-web": "ingest-web (uvicorn)", "web": "web (daphne)"}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


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


def trivial_rate(ports: list[int], *, clients: int, requests: int) -> tuple[float, float]:
    """What the server costs without ingest: GET /healthz (the middleware stack, a view, one
    `SELECT 1`) from `clients` keep-alive clients spread over the servers; (requests/s, p50 s)."""
    answers, began, ended = post_all(ports, [None] * requests, "", clients=clients, path="/healthz", timeout=60, method="GET")
    return requests / (ended - began), percentile([a.seconds for a in answers], 50)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used (Linux /proc; the entrypoint
    execs the server, so the pid started is the server's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sim_start(hours: float, *, now: datetime | None = None) -> datetime:
    """The simulated stream's start: midnight UTC far enough back that `hours` of it end before now.
    A fixed date stops working a month later (the API refuses timestamps older than
    INGEST_MAX_PAST_DAYS), and recent days have time partitions of their own, as in production."""
    midnight = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=math.ceil(hours / 24))


def simulated(*, hours: float, seed: int) -> list[dict]:
    config = simulation.SimConfig(start=sim_start(hours), seed=seed)
    return list(simulation.Recording(config, days=hours / 24))


def bodies(events: list[dict], batch: int) -> list[bytes]:
    return [json.dumps(events[i : i + batch]).encode() for i in range(0, len(events), batch)]


@dataclass
class Config:
    servers: int = 2
    server: str = "ingest-web"  # scripts/entrypoint's command for the web processes: ingest-web (uvicorn) or web (daphne)
    workers: int = 2
    clients: int = 4
    batch: int = 1000
    inline: bool = False
    anomalies: bool = True
    warmup: int = 4
    label: str = ""
    profile: Path | None = None  # run the workers under cProfile, writing <dir>/worker-<i>.prof
    rate: float = 0.0  # events/s to offer (requests spaced evenly); 0: as fast as the servers take them


@dataclass
class Outcome:
    config: Config
    events: int
    requests: int
    accepted_per_s: float
    processed_per_s: float
    request_p50: float
    request_p95: float
    incident_p50: float
    incident_p95: float
    incident_samples: int
    alert_p50: float  # the same, for the messages holding alerts only (not anomalies found in metric points)
    alert_p95: float
    alert_samples: int
    alert_wait_p95: float  # of those, arrival -> a worker started on it (the request and the queue), p95
    alert_split_p95: tuple[float, float, float]  # of those, p95 of arrival -> published (the request), published -> started, started -> committed
    cpu_us: dict[str, float]  # the workers' own CPU per event, by kind of partition (microseconds)
    batches: dict[str, tuple[int, float, float, float]]  # per kind: batches, their events p95, their wall p95 s, the busiest worker's share of the run in them
    drain_seconds: float  # after the last answer, until the queue was empty
    lag: list[tuple[float, float, int]] = field(default_factory=list)  # (seconds since start, oldest age s, messages waiting)
    trivial: tuple[float, float] | None = None  # GET /healthz before the run (--batch 1): requests/s, p50 s
    server_cpu_ms: float = float("nan")  # the web processes' CPU (all threads) per request while the clients posted
    errors: list[str] = field(default_factory=list)
    done: list[dict] = field(default_factory=list)  # the workers' records (incidents.queue.done_record)


class LagSampler(threading.Thread):
    """Samples the queue's rows every `every` seconds on a connection of its own."""

    def __init__(self, url: str, every: float = 0.5):
        super().__init__(daemon=True)
        self.url, self.every = url, every
        self.samples: list[tuple[float, float, int]] = []
        self.stop = threading.Event()
        self.t0 = time.time()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                n, oldest = conn.execute("SELECT count(*), min(arrived_at) FROM incidents_ingestmessage").fetchone()
                now = time.time()
                self.samples.append((now - self.t0, now - oldest if oldest else 0.0, n))
                self.stop.wait(self.every)

    def empty_since(self) -> bool:
        return bool(self.samples) and self.samples[-1][2] == 0


def run(config: Config, events: list[dict], *, quiet: bool = False) -> Outcome:
    """One measured run on a fresh database (see the module docstring)."""
    payloads = bodies(events, config.batch)
    prefix = f"bench-ingest:{uuid.uuid4().hex[:8]}"
    with bench_database("ingest") as env:
        env.update(CORRELATION_INLINE="1", ANOMALY_DETECTION="1" if config.anomalies else "0", LOG_LEVEL="WARNING", DJANGO_DEBUG="0",
                   INGEST_ASYNC="0" if config.inline else "1", INGEST_STREAM_PREFIX=prefix, LOG_FORMAT="plain")
        if not config.inline and not env.get("REDIS_URL"):
            raise SystemExit("the queue needs REDIS_URL (or pass --inline)")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        token = subprocess.run([sys.executable, "manage.py", "create_api_token", "bench", "--scope", "ingest", "--scope", "admin"], cwd=ROOT,
                               env=env, check=True, capture_output=True, text=True).stdout.strip()
        topology = json.dumps(simulation.topology())
        subprocess.run([sys.executable, "-c", (
            "import django, json, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'cleara.settings'); django.setup(); "
            "from incidents.topology import topology_apply; topology_apply(services=json.loads(os.environ['TOPOLOGY'])['services']); "
            # The stream's days get time partitions, as recent days have in production (migrate makes the current period's only).
            "from datetime import date; from django.utils import timezone; from incidents import retention; "
            "retention.partitioned() and retention.partitions_ensure(now=timezone.now(), since=date.fromisoformat(os.environ['SINCE']))"
        )], cwd=ROOT, env={**env, "TOPOLOGY": topology, "SINCE": min(e["timestamp"] for e in events)[:10]}, check=True)

        ports: list[int] = []
        for _ in range(config.servers):
            ports.append(free_port(port_range(os.environ.get("BENCH_PORT")), ports))  # BENCH_PORT: LO or LO-HI (a machine whose sessions share ports out)
        procs = [
            subprocess.Popen([str(ROOT / "scripts" / "entrypoint"), config.server], cwd=ROOT,
                             env={**env, "HOST": "127.0.0.1", "PORT": str(p), "PYTHON": sys.executable},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            for p in ports
        ]
        def profiled(i: int) -> list[str]:
            if config.profile is None:
                return []
            config.profile.mkdir(parents=True, exist_ok=True)
            return ["-m", "cProfile", "-o", str(config.profile / f"worker-{i}.prof")]

        workers = [] if config.inline else [
            subprocess.Popen([sys.executable, *profiled(i), "manage.py", "ingest_worker", "--name", f"bench-{i}"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            for i in range(config.workers)
        ]
        sampler = LagSampler(env["DATABASE_URL"])
        redis_client = None
        try:
            for p in ports:
                wait_up(p)
            if not config.inline:
                import redis

                redis_client = redis.Redis.from_url(env["REDIS_URL"])  # also removes the run's keys at the end
            if workers:
                every = int(env.get("INGEST_SERIES_PARTITIONS", 4)) + int(env.get("INGEST_COMPONENT_PARTITIONS", 4))
                deadline = time.time() + 60
                while sum(1 for _ in redis_client.scan_iter(f"{prefix}:lease:*")) < every and time.time() < deadline:
                    time.sleep(0.2)  # every partition taken
            trivial = trivial_rate(ports, clients=config.clients, requests=min(3000, len(payloads))) if config.batch == 1 else None
            wall0 = time.time()
            sampler.t0 = wall0  # the chart's time axis starts at the first request
            sampler.start()
            pace = config.batch / config.rate if config.rate else 0.0
            cpu_before = sum(process_cpu(proc.pid) for proc in procs)
            answers, began, ended = post_all(ports, payloads, token, clients=config.clients, pace=pace)
            server_cpu_ms = 1000 * (sum(process_cpu(proc.pid) for proc in procs) - cpu_before) / len(payloads)
            wall_answered = wall0 + (ended - began)
            if workers:
                deadline = time.time() + 900
                time.sleep(0.6)
                while not sampler.empty_since() and time.time() < deadline:
                    time.sleep(0.2)
            sampler.stop.set()
            sampler.join()
            done = [json.loads(raw) for raw in redis_client.lrange(f"{prefix}:done", 0, -1)] if redis_client else []
        finally:
            sampler.stop.set()
            for proc in workers + procs:
                os.killpg(proc.pid, signal.SIGTERM)
            for proc in workers + procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            if redis_client is not None:
                keys = list(redis_client.scan_iter(f"{prefix}:*"))
                if keys:
                    redis_client.delete(*keys)

    errors = [f"request {a.index}: {a.status} {a.body[:200]!r}" for a in answers if a.status != 202]
    ok = [a for a in answers if a.status == 202]
    counted = [a for a in ok if a.index >= config.warmup] or ok
    first = min(a.start for a in counted)
    n_counted = sum(json.loads(a.body)["accepted"] + json.loads(a.body)["duplicates"] for a in counted)
    latencies = [a.seconds for a in counted]
    if config.inline:
        incident = [a.seconds for a in counted if json.loads(a.body)["incidents"]]
        alert, alert_wait = [], []
        alert_split = (float("nan"),) * 3
        processed = n_counted / (ended - first)
        drain = 0.0
    else:
        incident = [d["d"] - d["a"] for d in done if d["k"] == "component" and d["i"]]
        alert = [d["d"] - d["a"] for d in done if d["k"] == "component" and d["i"] and d.get("al")]
        alert_wait = [d["s"] - d["a"] for d in done if d["k"] == "component" and d["i"] and d.get("al") and "s" in d]
        held = [d for d in done if d["k"] == "component" and d["i"] and d.get("al") and "p" in d]
        alert_split = (percentile([d["p"] - d["a"] for d in held], 95), percentile([d["s"] - d["p"] for d in held], 95),
                       percentile([d["d"] - d["s"] for d in held], 95))
        last = max((d["d"] for d in done), default=wall_answered)
        processed = len(events) / (last - wall0)
        drain = max(0.0, last - wall_answered)
    return Outcome(
        config=config, events=len(events), requests=len(payloads), accepted_per_s=n_counted / (ended - first), processed_per_s=processed,
        request_p50=percentile(latencies, 50), request_p95=percentile(latencies, 95), incident_p50=percentile(incident, 50),
        incident_p95=percentile(incident, 95), incident_samples=len(incident), alert_p50=percentile(alert, 50),
        alert_p95=percentile(alert, 95), alert_samples=len(alert), alert_wait_p95=percentile(alert_wait, 95), alert_split_p95=alert_split, cpu_us={
            k: 1e6 * sum(d.get("c", 0) for d in done if d["k"] == k) / max(1, sum(d["n"] for d in done if d["k"] == k))
            for k in ("series", "component")}, drain_seconds=drain, lag=sampler.samples, errors=errors,
        trivial=trivial, server_cpu_ms=server_cpu_ms, done=done, batches={k: batch_figures(done, k) for k in ("series", "component")},
    )


def batch_figures(done: list[dict], kind: str) -> tuple[int, float, float, float]:
    """The workers' batches of one kind from their records (a batch is a worker's start time):
    how many, their events and wall at p95, and the share of the run the busiest worker spent in
    them (near 1: that lane is saturated, and what reaches it waits for its backlog)."""
    batches = {(d.get("w"), d["s"]): (d.get("b", 0), d["d"] - d["s"]) for d in done if d["k"] == kind}
    if not batches:
        return 0, float("nan"), float("nan"), float("nan")
    span = max(d["d"] for d in done) - min(d["s"] for d in done)
    busy: dict[str, float] = {}
    for (worker, _), (_, wall) in batches.items():
        busy[worker] = busy.get(worker, 0.0) + wall
    return (len(batches), percentile([b for b, _ in batches.values()], 95), percentile([w for _, w in batches.values()], 95),
            max(busy.values()) / span if span > 0 else float("nan"))


def describe(o: Outcome) -> str:
    c = o.config
    mode = "inline (detect and correlate in the request)" if c.inline else f"queue, {c.workers} ingest worker(s)"
    lag_max = max((s[1] for s in o.lag), default=0.0)
    waiting_max = max((s[2] for s in o.lag), default=0)
    return "\n".join([
        f"{c.servers} {SERVERS[c.server]}, {mode}, {c.clients} clients, batches of {c.batch}, anomaly detection {'on' if c.anomalies else 'off'}: "
        f"{o.events:,} events in {o.requests:,} requests",
        f"  accepted (202): {o.accepted_per_s:,.0f} events/s; request p50 {o.request_p50 * 1000:.0f} ms, p95 {o.request_p95 * 1000:.0f} ms; "
        f"the web processes' CPU {o.server_cpu_ms:.2f} ms a request",
        f"  processed (first request -> queue drained): {o.processed_per_s:,.0f} events/s" + (
            f"; drained {o.drain_seconds:.1f} s after the last answer" if not c.inline else ""),
        f"  arrival -> incident updated ({o.incident_samples} samples): p50 {o.incident_p50:.2f} s, p95 {o.incident_p95:.2f} s",
        f"  of which messages holding alerts ({o.alert_samples} samples): p50 {o.alert_p50:.2f} s, p95 {o.alert_p95:.2f} s"
        f" (of it before a worker started on them: p95 {o.alert_wait_p95:.2f} s)"
        if not c.inline else "",
        f"    p95 of each step: the request (arrival -> published) {o.alert_split_p95[0]:.2f} s, the queue (published -> a worker "
        f"started) {o.alert_split_p95[1]:.2f} s, the batch (started -> committed) {o.alert_split_p95[2]:.2f} s" if not c.inline else "",
        f"  workers' own CPU per event: series partitions {o.cpu_us.get('series', 0):.0f} us, "
        f"component partitions {o.cpu_us.get('component', 0):.0f} us" if not c.inline else "",
        *[f"  {k} batches: {n:,}, p95 {ev:,.0f} events and {wall:.2f} s; the busiest worker spent {busy:.0%} of the run in them"
          for k, (n, ev, wall, busy) in o.batches.items() if n and not c.inline],
        f"  queue lag: oldest message at most {lag_max:.1f} s, at most {waiting_max} messages waiting" if not c.inline else "",
        f"  the servers alone (GET /healthz, same clients, before the run): {o.trivial[0]:,.0f} requests/s, p50 {o.trivial[1] * 1000:.0f} ms"
        if o.trivial else "",
    ]).rstrip()


def lag_chart(outcomes: list[Outcome], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for o in outcomes:
        if not o.lag:
            continue
        xs = [s[0] for s in o.lag]
        label = o.config.label or f"{o.config.servers} web, {o.config.workers} workers"
        ax1.plot(xs, [s[1] for s in o.lag], label=label)
        ax2.plot(xs, [s[2] for s in o.lag], label=label)
    ax1.set_ylabel("oldest unprocessed (s)")
    ax2.set_ylabel("messages waiting")
    ax2.set_xlabel("seconds since the first request")
    ax1.set_title(title)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=2, help="web processes")
    parser.add_argument("--server", choices=sorted(SERVERS), default="ingest-web",
                        help="scripts/entrypoint's command for them: ingest-web (uvicorn, the ingest tier) or web (daphne)")
    parser.add_argument("--workers", type=int, default=2, help="ingest worker processes (the queue; 0: the web processes alone, nothing processed)")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--hours", type=float, default=6.0, help="simulated hours to send (about 21,000 events an hour)")
    parser.add_argument("--batch", type=int, default=1000, help="events per request (1: one event per request)")
    parser.add_argument("--limit", type=int, default=0, help="send at most this many events (0: all)")
    parser.add_argument("--warmup", type=int, default=4, help="requests not counted in the accepted rate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--inline", action="store_true", help="no queue: detect and correlate in the request (the former way)")
    parser.add_argument("--no-anomalies", action="store_true", help="serve with ANOMALY_DETECTION=0")
    parser.add_argument("--chart", type=Path, help="draw the queue lag over time to this PNG")
    parser.add_argument("--rate", type=float, default=0.0, help="offer this many events/s (requests spaced evenly; 0: flat out)")
    parser.add_argument("--records", type=Path, help="write the workers' records (one JSON object a line) to this file")
    parser.add_argument("--profile", type=Path, help="run the workers under cProfile, one worker-<i>.prof per worker in this directory")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("bench/ingest.py measures the production setup: set DATABASE_URL to a PostgreSQL server.", file=sys.stderr)
        return 2
    events = simulated(hours=args.hours, seed=args.seed)
    if args.limit:
        events = events[: args.limit]
    config = Config(servers=args.servers, server=args.server, workers=args.workers, clients=args.clients, batch=args.batch, inline=args.inline,
                    anomalies=not args.no_anomalies, warmup=args.warmup, profile=args.profile, rate=args.rate)
    print(f"ingest bench: {len(events):,} simulated events ({args.hours:g} h), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    outcome = run(config, events)
    print(describe(outcome))
    if args.records:
        args.records.parent.mkdir(parents=True, exist_ok=True)
        args.records.write_text("".join(json.dumps(d) + "\n" for d in outcome.done))
    if outcome.errors:
        print(f"{len(outcome.errors)} failed request(s), e.g. {outcome.errors[0]}")
        return 1
    if args.chart:
        lag_chart([outcome], args.chart, f"ingest queue lag, batches of {args.batch}")
        print(f"chart: {args.chart}")
    rate = outcome.processed_per_s
    if args.batch == 1:
        print(f"target: one event per request >= 1,000 events/s {'met' if outcome.accepted_per_s >= 1000 else 'MISSED'}")
        return 0 if outcome.accepted_per_s >= 1000 else 1
    met = rate >= 10_000 and outcome.incident_p95 < 1.0
    print(f"targets: >= 10,000 events/s processed {'met' if rate >= 10_000 else 'MISSED'}, "
          f"arrival -> incident p95 < 1 s {'met' if outcome.incident_p95 < 1.0 else 'MISSED'}; load after {os.getloadavg()[0]:.1f}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
