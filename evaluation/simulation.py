"""A simulated microservice estate: a topology, its everyday telemetry, its noise and its failures.

`Simulator` produces a stream of events in the ingest format (with client ids) for the demo
topology below: metrics per service and host with a daily rhythm, benign logs, alerts that flap
or blip without meaning anything, and injected faults of the pattern library's kinds that start at
one service and spread to the services that call it, hop by hop, with delays and some randomness
(not every caller alerts; some only log errors or show it in their metrics). Every fault is kept as
ground truth: its kind, root service, affected services, start and end, and the client ids of the
events it caused, so that a replay can be scored (evaluation.scoring).

Events come out in arrival order, which is not event-time order: alerts wait in Alertmanager's
group_wait, and a small share of everything arrives minutes late. Plain module: no Django, so that
the benchmarks and tests drive it directly; `manage.py simulate` writes or streams what it makes.
"""
from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# The demo estate. "a depends on b": a calls b, and a failure of b spreads to a.
SERVICES: list[dict] = [
    {"name": "frontend", "tier": "edge", "team": "web", "hosts": 3, "depends_on": ["api-gateway"]},
    {"name": "api-gateway", "tier": "gateway", "team": "platform", "hosts": 3,
     "depends_on": ["users", "catalog", "search", "cart", "checkout", "recommendations"]},
    {"name": "users", "tier": "backend", "team": "identity", "hosts": 2, "depends_on": ["postgres", "redis"]},
    {"name": "catalog", "tier": "backend", "team": "catalog", "hosts": 2, "depends_on": ["postgres", "redis"]},
    {"name": "search", "tier": "backend", "team": "catalog", "hosts": 2, "depends_on": ["elasticsearch"]},
    {"name": "cart", "tier": "backend", "team": "checkout", "hosts": 2, "depends_on": ["redis", "catalog"]},
    {"name": "checkout", "tier": "backend", "team": "checkout", "hosts": 3,
     "depends_on": ["cart", "payments", "inventory", "orders", "shipping", "users"]},
    {"name": "orders", "tier": "backend", "team": "checkout", "hosts": 2, "depends_on": ["postgres", "kafka"]},
    {"name": "payments", "tier": "backend", "team": "payments", "hosts": 2, "depends_on": ["postgres", "payment-provider", "coredns"]},
    {"name": "inventory", "tier": "backend", "team": "fulfilment", "hosts": 2, "depends_on": ["postgres"]},
    {"name": "shipping", "tier": "backend", "team": "fulfilment", "hosts": 2, "depends_on": ["kafka", "shipping-carrier", "coredns"]},
    {"name": "notifications", "tier": "backend", "team": "growth", "hosts": 2, "depends_on": ["kafka", "email-provider", "coredns"]},
    {"name": "recommendations", "tier": "backend", "team": "growth", "hosts": 2, "depends_on": ["redis", "catalog"]},
    {"name": "postgres", "tier": "database", "team": "data", "hosts": 2, "depends_on": []},
    {"name": "redis", "tier": "cache", "team": "data", "hosts": 2, "depends_on": []},
    {"name": "kafka", "tier": "queue", "team": "data", "hosts": 3, "depends_on": []},
    {"name": "elasticsearch", "tier": "search", "team": "data", "hosts": 3, "depends_on": []},
    {"name": "coredns", "tier": "dns", "team": "platform", "hosts": 2, "depends_on": []},
    {"name": "payment-provider", "tier": "external", "team": "payments", "hosts": 1, "depends_on": []},
    {"name": "shipping-carrier", "tier": "external", "team": "fulfilment", "hosts": 1, "depends_on": []},
    {"name": "email-provider", "tier": "external", "team": "growth", "hosts": 1, "depends_on": []},
]
APP_TIERS = ("edge", "gateway", "backend")

# Baseline (typical value at mid-load) of the metrics every service reports, by tier.
BASE_METRICS = {
    "edge": {"latency_p99_ms": 260, "error_rate": 0.4, "cpu_pct": 35, "memory_pct": 55, "rps": 900},
    "gateway": {"latency_p99_ms": 210, "error_rate": 0.3, "cpu_pct": 40, "memory_pct": 50, "rps": 1200},
    "backend": {"latency_p99_ms": 140, "error_rate": 0.3, "cpu_pct": 30, "memory_pct": 55, "rps": 300},
    "database": {"latency_p99_ms": 18, "error_rate": 0.05, "cpu_pct": 35, "memory_pct": 70, "rps": 2500},
    "cache": {"latency_p99_ms": 2, "error_rate": 0.01, "cpu_pct": 20, "memory_pct": 65, "rps": 6000},
    "queue": {"latency_p99_ms": 12, "error_rate": 0.02, "cpu_pct": 30, "memory_pct": 60, "rps": 1500},
    "search": {"latency_p99_ms": 90, "error_rate": 0.1, "cpu_pct": 40, "memory_pct": 70, "rps": 400},
    "dns": {"latency_p99_ms": 4, "error_rate": 0.01, "cpu_pct": 10, "memory_pct": 30, "rps": 3000},
    "external": {"latency_p99_ms": 450, "error_rate": 0.2},
}
EXTRA_METRICS = {
    "postgres": {"db_connections": 60, "disk_used_pct": 62},
    "redis": {"cache_hit_ratio": 0.95, "evicted_keys": 2},
    "kafka": {"disk_used_pct": 55, "under_replicated_partitions": 0},
    "elasticsearch": {"disk_used_pct": 58},
    "coredns": {"dns_errors": 0.2},
    "orders": {"consumer_lag": 200},
    "shipping": {"consumer_lag": 150},
    "notifications": {"consumer_lag": 300},
    "payment-provider": {"probe_duration_seconds": 0.45},
    "shipping-carrier": {"probe_duration_seconds": 0.6},
    "email-provider": {"probe_duration_seconds": 0.3},
    "frontend": {"ssl_cert_expiry_days": 41},
    "api-gateway": {"ssl_cert_expiry_days": 41, "cpu_throttled_pct": 2},
    "search": {"cpu_throttled_pct": 3},
    "recommendations": {"cpu_throttled_pct": 3},
    "catalog": {"cpu_throttled_pct": 2},
    "checkout": {"cpu_throttled_pct": 2},
    "users": {"cpu_throttled_pct": 2},
}
LOAD_SCALED = {"rps": 1.0, "cpu_pct": 0.6, "latency_p99_ms": 0.25, "db_connections": 0.5, "consumer_lag": 0.5}


@dataclass(frozen=True)
class FaultKind:
    """A failure mode: where it starts and what it looks like there and at the callers."""

    slug: str  # the pattern library's slug
    roots: tuple[str, ...]
    alerts: tuple[tuple[str, str], ...]  # (alertname, message) at the root
    logs: tuple[str, ...]  # error logs at the root
    metrics: tuple[tuple[str, str, float], ...]  # (metric, "mul"|"add"|"set", amount) at the root
    caller_logs: tuple[str, ...]  # error logs at direct callers; {dep} is the root


KINDS: dict[str, FaultKind] = {k.slug: k for k in [
    FaultKind(
        "db-connection-pool-exhaustion", ("postgres",),
        (("PostgresTooManyConnections", "{service}: {n}% of max_connections in use"),
         ("PostgresConnectionSlotsExhausted", "{service}: remaining connection slots are reserved")),
        ("FATAL: remaining connection slots are reserved for non-replication superuser connections",
         "FATAL: sorry, too many clients already", "LOG: could not accept new connection: too many connections"),
        (("db_connections", "set", 200), ("latency_p99_ms", "mul", 4)),
        ("could not obtain connection from pool within 5000ms", "HikariPool-1 - Connection is not available, request timed out after 30000ms",
         "timeout acquiring connection to {dep}"),
    ),
    FaultKind(
        "memory-leak-oom", ("users", "catalog", "search", "cart", "checkout", "orders", "payments", "inventory",
                            "shipping", "notifications", "recommendations", "api-gateway"),
        (("KubePodOOMKilled", "{service}: container on {host} OOMKilled (exit code 137)"),
         ("ContainerMemoryHigh", "{service}: memory usage above 95% of limit on {host}")),
        ("java.lang.OutOfMemoryError: Java heap space", "memory usage at 97% of limit, GC overhead limit exceeded",
         "container killed: OOMKilled, restarting"),
        (("memory_pct", "set", 98), ("latency_p99_ms", "mul", 2.5), ("error_rate", "add", 6)),
        ("{dep} connection reset by peer", "{dep} returned 503 Service Unavailable"),
    ),
    FaultKind(
        "bad-deploy", ("users", "catalog", "search", "cart", "checkout", "orders", "payments", "inventory",
                       "shipping", "notifications", "recommendations", "api-gateway", "frontend"),
        (("HighErrorRate", "{service}: 5xx error rate above {n}% since rollout of v{version}"),
         ("DeploymentDegraded", "{service}: new revision v{version} failing readiness checks")),
        ("Unhandled exception in request handler: TypeError: cannot read properties of undefined (release v{version})",
         "NullPointerException at OrderService.submit (release v{version})", "panic: runtime error: index out of range (v{version})"),
        (("error_rate", "add", 18), ("latency_p99_ms", "mul", 1.6)),
        ("{dep} returned 500 Internal Server Error", "unexpected response from {dep}: 500"),
    ),
    FaultKind(
        "disk-full", ("postgres", "kafka", "elasticsearch"),
        (("DiskFull", "{service}: filesystem /data on {host} is 100% full"),
         ("DiskWillFillIn1h", "{service}: disk usage above 95% on {host}")),
        ("could not extend file \"base/16384/2619\": No space left on device", "ENOSPC: no space left on device, write",
         "write failed: no space left on device, entering read-only mode"),
        (("disk_used_pct", "set", 100), ("error_rate", "add", 12)),
        ("write to {dep} failed: 503", "{dep} rejected write: read-only"),
    ),
    FaultKind(
        "certificate-expiry", ("frontend", "api-gateway", "payment-provider", "shipping-carrier"),
        (("TLSCertificateExpired", "{service}: TLS certificate expired"),
         ("HTTPSProbeFailing", "{service}: HTTPS probe failing (x509: certificate has expired)")),
        ("x509: certificate has expired or is not yet valid", "TLS handshake error: certificate verify failed"),
        (("ssl_cert_expiry_days", "set", -1), ("error_rate", "add", 45)),
        ("x509: certificate has expired calling {dep}", "TLS handshake with {dep} failed: certificate verify failed"),
    ),
    FaultKind(
        "dns-failure", ("coredns",),
        (("CoreDNSErrorsHigh", "{service}: SERVFAIL responses above 20%"),
         ("CoreDNSLatencyHigh", "{service}: DNS lookup latency p99 above 2s")),
        ("[ERROR] plugin/errors: 2 api.upstream.example.com. A: read udp: i/o timeout", "[ERROR] plugin/forward: no healthy upstreams, SERVFAIL"),
        (("dns_errors", "set", 40), ("latency_p99_ms", "mul", 30)),
        ("dial tcp: lookup api.upstream.example.com: no such host", "temporary failure in name resolution"),
    ),
    FaultKind(
        "network-partition", ("kafka", "redis", "postgres", "elasticsearch"),
        (("ClusterNodeUnreachable", "{service}: node {host} unreachable, cluster lost quorum"),
         ("ReplicationBroken", "{service}: replicas out of sync after partition")),
        ("network partition detected: {host} unreachable", "heartbeat timeout from {host}, removing it from the cluster",
         "no route to host {host}"),
        (("latency_p99_ms", "mul", 6), ("error_rate", "add", 8)),
        ("dial tcp {dep}: i/o timeout", "connection to {dep} timed out after 10000ms"),
    ),
    FaultKind(
        "cache-eviction-storm", ("redis",),
        (("RedisEvictionsHigh", "{service}: evicted keys above 5000/s, maxmemory reached"),
         ("CacheHitRatioLow", "{service}: cache hit ratio below 50%")),
        ("WARNING: maxmemory reached, evicting keys (allkeys-lru)", "evicted_keys jumped to {n}213 in 60s"),
        (("cache_hit_ratio", "set", 0.35), ("evicted_keys", "set", 6000), ("latency_p99_ms", "mul", 3)),
        ("cache miss storm on {dep}: falling back to the database", "{dep} hit ratio collapsed, cache miss on hot keys"),
    ),
    FaultKind(
        "queue-backlog", ("orders", "shipping", "notifications"),
        (("KafkaConsumerLagHigh", "{service}: consumer lag above 50000 messages"),
         ("ProcessingDelayed", "{service}: events processed more than 10 min late")),
        ("consumer group {service}-group is {n}213 messages behind", "processing delayed: backlog of {n},022 events"),
        (("consumer_lag", "set", 80000), ("latency_p99_ms", "mul", 3)),
        ("{dep} did not acknowledge in time (backlog)", "request to {dep} timed out after 3000ms"),
    ),
    FaultKind(
        "cpu-throttling", ("search", "recommendations", "catalog", "checkout", "api-gateway", "users"),
        (("CPUThrottlingHigh", "{service}: CPU throttled in {n}% of periods on {host}"),
         ("HighLatency", "{service}: p99 latency above 2s")),
        ("request took 4312ms: cpu throttled by cfs quota", "worker pool saturated at cpu limit, queueing requests"),
        (("cpu_throttled_pct", "set", 80), ("cpu_pct", "set", 99), ("latency_p99_ms", "mul", 5)),
        ("request to {dep} timed out after 3000ms", "slow response from {dep}: 4.1s"),
    ),
    FaultKind(
        "slow-third-party", ("payment-provider", "shipping-carrier", "email-provider"),
        (("ExternalProbeSlow", "{service}: provider API p99 latency above 5s (blackbox probe)"),
         ("ExternalProbeErrors", "{service}: provider API answering 504 Gateway Timeout")),
        ("probe failed: context deadline exceeded (timeout 5s)", "provider status page reports degraded performance"),
        (("probe_duration_seconds", "set", 6.5), ("latency_p99_ms", "mul", 12), ("error_rate", "add", 20)),
        ("timed out calling {dep} after 10000ms", "circuit breaker OPEN for {dep} after 20 failures", "slow response from {dep}: 7.3s"),
    ),
]}

CALLER_ALERTS = (
    ("HighLatency", "{service}: p99 latency above {n}00ms"),
    ("HighErrorRate", "{service}: 5xx error rate above {n}%"),
    ("SLOBurnRateHigh", "{service}: error budget burning {n}x too fast"),
)
UPSTREAM_LOGS = (
    "upstream {dep} returned 503 Service Unavailable",
    "request to {dep} timed out after 3000ms",
    "{dep} call failed: 502 Bad Gateway",
)
BENIGN_LOGS = (
    "GET /api/v1/items/{n} 200 in {ms}ms", "POST /api/v1/events 202 in {ms}ms", "cache hit for key user:{n}",
    "health check ok", "order {n} created", "committed offset {n} for partition 3", "session refreshed for user {n}",
    "GET /healthz 200 in 1ms", "processed batch of {n} messages in {ms}ms",
)
BACKGROUND_WARNINGS = (
    "slow query took {ms}0ms: SELECT * FROM items WHERE id = $1", "retrying request (attempt 2/3)",
    "deprecated API version v1 used by client", "GC pause {ms}ms", "request body larger than 1MB",
)
BACKGROUND_ERRORS = ("request failed with 500 (request id {hex})", "unexpected EOF reading request body")
# The alerts that keep flapping without meaning anything (a threshold set too tight).
FLAPPERS = (
    ("kafka", "DiskUsageHigh", "{service}: disk usage above 80% on {host}"),
    ("search", "HighLatency", "{service}: p99 latency above 800ms"),
    ("recommendations", "PodRestarted", "{service}: container restarted on {host}"),
    ("frontend", "High4xxRate", "{service}: 4xx rate above 5%"),
)
# A failure spreads to a caller with this probability, by hop from the root, after this delay.
SPREAD = {1: 0.85, 2: 0.6, 3: 0.4}
CALLER_ALERT = {1: 0.7, 2: 0.5, 3: 0.35}
SPREAD_DELAY_MIN = (0.3, 2.5)


@dataclass
class SimConfig:
    start: datetime
    seed: int = 7
    metric_interval_s: float = 60.0
    benign_logs_per_s: float = 1.5  # the whole estate, at mid-load
    fault_every_min: float = 75.0
    fault_minutes: tuple[float, float] = (10.0, 45.0)
    first_fault_after_min: float = 20.0
    overlap_share: float = 0.12  # faults with a second, unrelated fault starting within minutes
    blips_per_hour: float = 1.5
    flap_episodes_per_day: float = 2.5  # per flapping alert
    flap_gap_min: tuple[float, float] = (6.0, 20.0)
    background_warnings_per_hour: float = 12.0
    background_errors_per_hour: float = 4.0
    late_share: float = 0.02
    max_late_s: float = 600.0
    fault_log_rate_per_min: float = 6.0  # at the root; callers log half as often, further hops less
    id_prefix: str = ""
    kinds: tuple[str, ...] = tuple(KINDS)

    @classmethod
    def live(cls, *, start: datetime, seed: int, id_prefix: str) -> SimConfig:
        """A demo pace: a fault every few minutes, short ones, everything else as usual."""
        return cls(
            start=start, seed=seed, metric_interval_s=30.0, benign_logs_per_s=2.0, fault_every_min=4.0,
            fault_minutes=(2.0, 5.0), first_fault_after_min=0.5, overlap_share=0.1, blips_per_hour=6.0,
            flap_episodes_per_day=6.0, late_share=0.01, max_late_s=60.0, id_prefix=id_prefix,
        )


@dataclass
class Effect:
    service: str
    metric: str
    mode: str
    amount: float
    start: float
    end: float
    fault: str
    host: str | None = None
    ramp_s: float = 90.0


@dataclass
class Fault:
    id: str
    kind: str
    root_service: str
    start: float
    end: float
    affected: dict[str, float] = field(default_factory=dict)  # service -> when it was hit
    alerting: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)  # alerts and logs
    alert_ids: list[str] = field(default_factory=list)
    metric_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "pattern": self.kind, "root_service": self.root_service,
            "affected_services": sorted(self.affected, key=lambda s: (self.affected[s], s)),
            "alerting_services": sorted(set(self.alerting)),
            "start": _iso(self.start), "end": _iso(self.end), "event_ids": self.event_ids, "alert_ids": self.alert_ids,
            "metric_ids": self.metric_ids,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def topology() -> dict:
    """The demo topology in the services API's shape."""
    return {"services": [
        {"name": s["name"], "tier": s["tier"], "team": s["team"], "depends_on": list(s["depends_on"])} for s in SERVICES
    ]}


class Simulator:
    """Generates the estate's events window by window; `advance` returns them in arrival order."""

    def __init__(self, config: SimConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        self.services = {s["name"]: s for s in SERVICES}
        self.callers: dict[str, list[str]] = {s["name"]: [] for s in SERVICES}
        for s in SERVICES:
            for dep in s["depends_on"]:
                self.callers[dep].append(s["name"])
        self.hosts = {
            s["name"]: [s["name"]] if s["tier"] == "external" else [f"{s['name']}-{i}" for i in range(1, s["hosts"] + 1)]
            for s in SERVICES
        }
        self.series = self._series()
        self.cursor = config.start.timestamp()
        self.seq = 0  # client ids
        self.tick = 0  # ties in the heaps
        self.planned: list[tuple[float, int, dict]] = []  # discrete events not yet due, by event time
        self.arrivals: list[tuple[float, int, dict]] = []  # generated, not yet delivered, by arrival time
        self.effects: dict[tuple[str, str], list[Effect]] = {}
        self.faults: list[Fault] = []
        self.counts = {"blips": 0, "flaps": 0}  # the noise planned (Recording counts what was delivered)
        self.next_fault = self.cursor + config.first_fault_after_min * 60
        self.next_blip = self.cursor + self.rng.expovariate(config.blips_per_hour / 3600)
        self.next_flap = {f: self.cursor + self.rng.expovariate(config.flap_episodes_per_day / 86400) for f in range(len(FLAPPERS))}
        self.new_faults: list[Fault] = []  # planned since the last look (for the live stream's printout)
        self.noise_alert_ids: list[str] = []  # blips and flaps: alerts that belong to no fault

    # -- plumbing ------------------------------------------------------------------------------

    def _series(self) -> list[tuple[str, str, str, float, float]]:
        """(service, host, metric, base, phase) for every metric series."""
        out = []
        for s in SERVICES:
            metrics = dict(BASE_METRICS[s["tier"]])
            metrics.update(EXTRA_METRICS.get(s["name"], {}))
            for host in self.hosts[s["name"]]:
                for metric, base in metrics.items():
                    out.append((s["name"], host, metric, float(base), self.rng.random()))
        return out

    def _id(self) -> str:
        self.seq += 1
        return f"{self.config.id_prefix}sim{self.config.seed}-{self.seq}"

    def _event(self, ts: float, service: str, type_: str, severity: str, message: str = "", **extra) -> dict:
        event = {"id": self._id(), "timestamp": _iso(ts), "service": service, "type": type_, "severity": severity}
        if message:
            event["message"] = message
        event.update(extra)
        return event

    def _alert(self, ts: float, service: str, host: str, name: str, severity: str, message: str, *, firing: bool) -> dict:
        status = "firing" if firing else "resolved"
        return self._event(
            ts, service, "alert", severity if firing else "info", message if firing else f"RESOLVED: {message}",
            host=host, fingerprint=f"am:{name}:{service}:{host}",
            attributes={"alert_status": status, "alertname": name, "labels": {"alertname": name, "service": service, "instance": host, "severity": severity}},
        )

    def _alert_pair(self, fired: float, resolved: float, service: str, host: str, name: str, severity: str, message: str,
                    fault: Fault | None = None) -> None:
        """An alert that fires, and its resolution (stamped with its end, as Alertmanager's endsAt)."""
        self._plan(fired, self._alert(fired, service, host, name, severity, message, firing=True), fault)
        self._plan(resolved, self._alert(resolved, service, host, name, severity, message, firing=False), fault)

    def _plan(self, ts: float, event: dict, fault: Fault | None = None) -> None:
        self.tick += 1
        heapq.heappush(self.planned, (ts, self.tick, event))
        if fault is None:
            if event["type"] == "alert":
                self.noise_alert_ids.append(event["id"])
        else:
            fault.event_ids.append(event["id"])
            if event["type"] == "alert":
                fault.alert_ids.append(event["id"])

    def _fill(self, template: str, service: str, host: str = "", dep: str = "") -> str:
        r = self.rng
        return template.format(
            service=service, host=host or self.rng.choice(self.hosts[service]), dep=dep, n=r.randint(2, 95),
            ms=r.randint(3, 900), hex=f"{r.getrandbits(48):012x}", version=f"{r.randint(1, 4)}.{r.randint(0, 30)}.{r.randint(0, 9)}",
        )

    def _arrival(self, ts: float, type_: str) -> float:
        r = self.rng
        if r.random() < self.config.late_share:
            return ts + r.uniform(30.0, self.config.max_late_s)
        if type_ == "alert":
            return ts + r.uniform(5.0, 40.0)  # Alertmanager's group_wait
        return ts + min(r.expovariate(1 / 1.5), 20.0)

    def _deliver(self, ts: float, event: dict) -> None:
        self.tick += 1
        heapq.heappush(self.arrivals, (self._arrival(ts, event["type"]), self.tick, event))

    # -- what happens --------------------------------------------------------------------------

    @staticmethod
    def load(ts: float) -> float:
        """Daily rhythm: quiet at night (about 0.25 at 03:00 UTC), busiest mid-afternoon (1.0 around 15:00)."""
        hour = (ts % 86400) / 3600
        return 0.625 + 0.375 * math.sin(2 * math.pi * (hour - 9) / 24)

    def _metric_value(self, service: str, host: str, metric: str, base: float, phase: float, ts: float) -> tuple[float, str | None]:
        r = self.rng
        load = self.load(ts)
        scale = LOAD_SCALED.get(metric, 0.0)
        value = base * (1 - scale + scale * load / 0.625)
        if metric == "memory_pct":
            value += 6 * math.sin(2 * math.pi * (ts / 5400 + phase))  # GC sawtooth-ish drift
        if metric in ("evicted_keys", "under_replicated_partitions", "dns_errors"):
            value = max(0.0, value + r.gauss(0, max(base, 0.5)))
        else:
            value *= 1 + r.gauss(0, 0.05)
        fault = None
        for effect in self.effects.get((service, metric), ()):
            if effect.start <= ts < effect.end and (effect.host is None or effect.host == host):
                ramp = min(1.0, (ts - effect.start) / effect.ramp_s) if effect.ramp_s else 1.0
                if effect.mode == "mul":
                    target = value * effect.amount
                elif effect.mode == "add":
                    target = value + effect.amount
                else:
                    target = effect.amount * (1 + r.gauss(0, 0.02))
                value = value + (target - value) * ramp
                fault = effect.fault
        if metric in ("error_rate", "cpu_pct", "memory_pct", "disk_used_pct", "cpu_throttled_pct"):
            value = min(100.0, max(0.0, value))
        elif metric == "cache_hit_ratio":
            value = min(1.0, max(0.0, value))
        return round(value, 4), fault

    def _metrics(self, a: float, b: float) -> None:
        step = self.config.metric_interval_s
        faults = {f.id: f for f in self.faults if f.end + 600 >= a}
        for service, host, metric, base, phase in self.series:
            offset = phase * step
            k = math.ceil((a - offset) / step)
            ts = k * step + offset
            while ts < b:
                value, fault_id = self._metric_value(service, host, metric, base, phase, ts)
                event = self._event(ts, service, "metric", "info", metric=metric, value=value, host=host)
                if fault_id is not None and fault_id in faults:
                    faults[fault_id].metric_ids.append(event["id"])
                self._deliver(ts, event)
                ts += step

    def _background(self, a: float, b: float) -> None:
        r, c = self.rng, self.config
        names = [s["name"] for s in SERVICES if s["tier"] != "external"]
        mean_load = self.load((a + b) / 2) / 0.625
        for _ in range(self._poisson(c.benign_logs_per_s * (b - a) * mean_load)):
            service, ts = r.choice(names), r.uniform(a, b)
            self._deliver(ts, self._event(ts, service, "log", "info", self._fill(r.choice(BENIGN_LOGS), service), host=r.choice(self.hosts[service])))
        for rate, severity, templates in ((c.background_warnings_per_hour, "warning", BACKGROUND_WARNINGS),
                                          (c.background_errors_per_hour, "critical", BACKGROUND_ERRORS)):
            for _ in range(self._poisson(rate * (b - a) / 3600)):
                service, ts = r.choice(names), r.uniform(a, b)
                self._deliver(ts, self._event(ts, service, "log", severity, self._fill(r.choice(templates), service), host=r.choice(self.hosts[service])))

    def _poisson(self, mean: float) -> int:
        if mean <= 0:
            return 0
        if mean > 50:
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        n, p, threshold = 0, 1.0, math.exp(-mean)
        while True:
            p *= self.rng.random()
            if p <= threshold:
                return n
            n += 1

    def _plan_noise(self, until: float) -> None:
        r, c = self.rng, self.config
        apps = [s["name"] for s in SERVICES if s["tier"] in APP_TIERS]
        while self.next_blip < until:
            ts = self.next_blip
            service = r.choice(apps)
            host = r.choice(self.hosts[service])
            name, template = r.choice(CALLER_ALERTS)
            message = self._fill(template, service, host)
            self._alert_pair(ts, ts + r.uniform(60, 300), service, host, name, "warning", message)
            self.counts["blips"] += 1
            self.next_blip += r.expovariate(c.blips_per_hour / 3600)
        for f, start in list(self.next_flap.items()):
            if start >= until:
                continue
            service, name, template = FLAPPERS[f]
            host = self.hosts[service][0]
            message = self._fill(template, service, host)
            ts, end = start, start + r.uniform(3600, 4 * 3600)
            while ts < end:
                self._alert_pair(ts, ts + r.uniform(60, 240), service, host, name, "warning", message)
                self.counts["flaps"] += 1
                ts += r.uniform(*c.flap_gap_min) * 60
            self.next_flap[f] = end + r.expovariate(c.flap_episodes_per_day / 86400)

    def _plan_faults(self, until: float) -> None:
        r, c = self.rng, self.config
        while self.next_fault < until:
            fault = self.inject(self.next_fault)
            if r.random() < c.overlap_share:
                # A second failure somewhere unrelated, at nearly the same time, when there is
                # somewhere unrelated: a fault that spread widely can leave no clear root.
                busy = set(fault.affected)
                second_at = self.next_fault + r.uniform(0, 240)
                if self._kinds_clear_of(busy):
                    self.inject(second_at, avoid=busy)
            self.next_fault += max(c.fault_minutes[1] * 60 + 300, r.expovariate(1 / (c.fault_every_min * 60)))

    def inject(self, t0: float, *, kind: str | None = None, root: str | None = None, avoid: set[str] = frozenset()) -> Fault:
        """Plan one fault starting at `t0` (epoch seconds) and every event it will cause."""
        r, c = self.rng, self.config
        if kind is None:
            kinds = self._kinds_clear_of(avoid)
            if not kinds:
                raise ValueError(f"no fault kind in {list(c.kinds)} has a root unrelated to {sorted(avoid)}")
            kind = r.choice(kinds)
        spec = KINDS[kind]
        if root is None:
            root = r.choice([s for s in spec.roots if self._clear_of(s, avoid)] or list(spec.roots))
        duration = r.uniform(*c.fault_minutes) * 60
        fault = Fault(id=f"F{len(self.faults) + 1:04d}", kind=kind, root_service=root, start=t0, end=t0 + duration)
        self.faults.append(fault)
        self.new_faults.append(fault)

        hops = {root: 0}
        fault.affected[root] = t0
        queue = [root]
        while queue:
            node = queue.pop(0)
            for caller in self.callers[node]:
                hop = hops[node] + 1
                if caller in hops or hop not in SPREAD or caller in avoid or r.random() >= SPREAD[hop]:
                    continue
                hops[caller] = hop
                fault.affected[caller] = fault.affected[node] + r.uniform(*SPREAD_DELAY_MIN) * 60
                queue.append(caller)

        alerts: list[tuple[float, str, str, str, str, str]] = []  # (ts, service, host, name, severity, message)
        for service, hit in fault.affected.items():
            hop = hops[service]
            end = fault.end + r.uniform(0, 120)
            host = r.choice(self.hosts[service])
            if hop == 0:
                for metric, mode, amount in spec.metrics:
                    self._effect(Effect(service, metric, mode, amount, hit, end, fault.id))
                if r.random() < 0.9:
                    for name, template in r.sample(spec.alerts, k=r.choice((1, 2))):
                        severity = "critical" if r.random() < 0.7 else "warning"
                        alerts.append((hit + r.uniform(30, 180), service, host, name, severity, self._fill(template, service, host)))
                templates, rate = spec.logs, c.fault_log_rate_per_min
            else:
                self._effect(Effect(service, "latency_p99_ms", "mul", r.uniform(2, 5), hit, end, fault.id))
                self._effect(Effect(service, "error_rate", "add", r.uniform(2, 12), hit, end, fault.id))
                if r.random() < CALLER_ALERT[hop]:
                    name, template = r.choice(CALLER_ALERTS)
                    severity = "critical" if r.random() < 0.2 else "warning"
                    alerts.append((hit + r.uniform(30, 180), service, host, name, severity, self._fill(template, service, host)))
                templates = spec.caller_logs if hop == 1 else UPSTREAM_LOGS
                rate = c.fault_log_rate_per_min / (2 * hop)
            upstream = root if hop <= 1 else min((d for d in self.services[service]["depends_on"] if d in hops), key=lambda d: hops[d], default=root)
            ts = hit + r.expovariate(rate / 60)
            while ts < end:
                self._plan(ts, self._event(ts, service, "log", "critical" if r.random() < 0.8 else "warning",
                                           self._fill(r.choice(templates), service, dep=upstream), host=r.choice(self.hosts[service])), fault)
                ts += r.expovariate(rate / 60)

        # Every fault is meant to be caught: it has a critical alert, or three alerts that pile up.
        if not any(a[4] == "critical" for a in alerts) and len({(a[1], a[3]) for a in alerts}) < 3:
            name, template = spec.alerts[0]
            host = r.choice(self.hosts[root])
            alerts.append((t0 + r.uniform(30, 180), root, host, name, "critical", self._fill(template, root, host)))
        for ts, service, host, name, severity, message in alerts:
            fault.alerting.append(service)
            # Prometheus alerts per instance: the other hosts of the service usually fire too.
            others = [h for h in self.hosts[service] if h != host and r.random() < 0.6]
            for i, instance in enumerate([host, *others]):
                fired = ts + i * r.uniform(0, 45)
                text = message.replace(host, instance) if host else message
                resolved = max(fired + 60, fault.end + r.uniform(0, 180))
                if fault.end - fired > 15 * 60 and r.random() < 0.25:
                    # It flaps once during a long fault: resolves, then fires again.
                    mid = fired + r.uniform(5, 10) * 60
                    self._alert_pair(fired, mid, service, instance, name, severity, text, fault)
                    fired = mid + r.uniform(60, 180)
                self._alert_pair(fired, resolved, service, instance, name, severity, text, fault)
        return fault

    def _kinds_clear_of(self, avoid: set[str]) -> list[str]:
        """The configured fault kinds with at least one root unrelated to `avoid`."""
        return [k for k in self.config.kinds if any(self._clear_of(s, avoid) for s in KINDS[k].roots)]

    def _clear_of(self, service: str, avoid: set[str]) -> bool:
        """Whether a fault at `service` is unrelated to the services in `avoid`: none of them calls
        it or is called by it, directly or not (a shared dependency such as DNS does not count)."""
        for edges in (self.callers, {s: self.services[s]["depends_on"] for s in self.services}):
            seen, queue = {service}, [service]
            while queue:
                for nxt in edges[queue.pop()]:
                    if nxt not in seen:
                        seen.add(nxt)
                        queue.append(nxt)
            if seen & avoid:
                return False
        return True

    def _effect(self, effect: Effect) -> None:
        self.effects.setdefault((effect.service, effect.metric), []).append(effect)

    # -- the stream ----------------------------------------------------------------------------

    def advance(self, until: datetime | float) -> list[dict]:
        """Generate everything up to `until` and return the events that have arrived by then."""
        b = until.timestamp() if isinstance(until, datetime) else float(until)
        step = 600.0
        while self.cursor < b:
            a, end = self.cursor, min(b, self.cursor + step)
            self._plan_faults(end)
            self._plan_noise(end)
            self._metrics(a, end)
            self._background(a, end)
            while self.planned and self.planned[0][0] < end:
                ts, _, event = heapq.heappop(self.planned)
                self._deliver(ts, event)
            self.cursor = end
            self._forget(a)
        out = []
        while self.arrivals and self.arrivals[0][0] <= b:
            out.append(heapq.heappop(self.arrivals)[2])
        return out

    def _forget(self, now: float) -> None:
        for key, effects in list(self.effects.items()):
            kept = [e for e in effects if e.end >= now - 60]
            if kept:
                self.effects[key] = kept
            else:
                del self.effects[key]

    def drain(self) -> list[dict]:
        """Whatever generated events have not arrived yet (the end of a recorded stream)."""
        out = [e for _, _, e in sorted(self.arrivals, key=lambda x: (x[0], x[1]))]
        self.arrivals = []
        return out

    def truth(self) -> dict:
        return {
            "seed": self.config.seed,
            "id_prefix": f"{self.config.id_prefix}sim{self.config.seed}-",
            "start": self.config.start.isoformat(),
            "end": _iso(self.cursor),
            "counts": dict(self.counts),
            "noise_alert_ids": self.noise_alert_ids,
            "faults": [f.to_json() for f in self.faults if f.start < self.cursor],
        }


class Recording:
    """A recorded stream of `days` days: iterate it for the events in arrival order, then read
    `truth` (faults cut off by the end of the recording keep only the events that made it in)."""

    def __init__(self, config: SimConfig, *, days: float):
        self.sim = Simulator(config)
        self.days = days
        self.counts = {"events": 0, "alerts": 0, "logs": 0, "metrics": 0}
        self.truth: dict | None = None

    def __iter__(self) -> Iterator[dict]:
        sim = self.sim
        end = sim.config.start + timedelta(days=self.days)
        cutoff = end.timestamp()
        t = sim.config.start
        while t < end:
            t = min(end, t + timedelta(hours=1))
            for event in sim.advance(t):
                yield self._count(event)
        missing = {e["id"] for _, _, e in sim.planned}
        for event in sim.drain():
            if datetime.fromisoformat(event["timestamp"]).timestamp() < cutoff:
                yield self._count(event)
            else:
                missing.add(event["id"])
        sim.faults = [f for f in sim.faults if f.start < cutoff]
        for f in sim.faults:
            f.event_ids = [i for i in f.event_ids if i not in missing]
            f.alert_ids = [i for i in f.alert_ids if i not in missing]
            f.metric_ids = [i for i in f.metric_ids if i not in missing]
        sim.noise_alert_ids = [i for i in sim.noise_alert_ids if i not in missing]
        self.truth = sim.truth()
        self.truth["counts"] = {**self.counts, **sim.counts}

    def _count(self, event: dict) -> dict:
        self.counts["events"] += 1
        self.counts[event["type"] + "s"] += 1
        return event


def stream_write(*, config: SimConfig, days: float, events_path: str, truth_path: str | None = None,
                 topology_path: str | None = None, progress=None) -> dict:
    """Write a recorded stream (JSON Lines), its ground truth and its topology; returns the truth."""
    recording = Recording(config, days=days)
    with open(events_path, "w") as out:
        for n, event in enumerate(recording, start=1):
            out.write(json.dumps(event, separators=(",", ":")))
            out.write("\n")
            if progress is not None and n % 10000 == 0:
                progress(10000)
    truth = recording.truth
    if truth_path:
        with open(truth_path, "w") as fh:
            json.dump(truth, fh)
    if topology_path:
        with open(topology_path, "w") as fh:
            json.dump(topology(), fh, indent=1)
    return truth


def live_run(*, config: SimConfig, ingest, say, tick_s: float = 1.0, stop=lambda: False) -> None:
    """Stream in real time: every tick, hand the events that have arrived to `ingest(list[dict])`
    and tell `say(str)` about each fault as it starts. Runs until `stop()` is true."""
    import time

    sim = Simulator(config)
    while not stop():
        now = time.time()
        events = sim.advance(now)
        for fault in sim.new_faults:
            say(f"{datetime.fromtimestamp(fault.start, tz=UTC):%H:%M:%S} injecting {fault.kind} at {fault.root_service} "
                f"for {(fault.end - fault.start) / 60:.0f} min, spreading to {', '.join(s for s in fault.affected if s != fault.root_service) or 'nobody'}")
        sim.new_faults.clear()
        # A live stream keeps no ground truth for long.
        sim.faults = [f for f in sim.faults if f.end > now - 3600]
        sim.noise_alert_ids.clear()
        if events:
            ingest(events)
        time.sleep(max(0.0, tick_s - (time.time() - now)))
