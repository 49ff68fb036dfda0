"""Realistic console data without the correlation engine: a topology, patterns, incidents with
hypotheses and evidence, events of every type, notes and an audit trail.

Used by the console's tests, the end-to-end walk and its screenshots. Everything is placed
relative to `now`, so the dashboard's default range shows it. Deterministic (seeded random).

    from incidents.tests.seed import seed_console
    data = seed_console()          # data.main is the open critical incident
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from incidents.analysis import Evidence, Hypothesis, analysis_to_json
from incidents import rollups
from incidents.fingerprints import message_signature
from incidents.models import Event, Incident, Note, Pattern, Service, TimelineEvent
from incidents.services import incident_number_next

RUNBOOKS = "https://runbooks.example.com"

TOPOLOGY = {
    # name: (tier, team, depends_on)
    "web-frontend": ("edge", "web", ["api-gateway"]),
    "mobile-bff": ("edge", "mobile", ["api-gateway"]),
    "api-gateway": ("edge", "platform", ["checkout", "catalog", "auth", "search"]),
    "checkout": ("backend", "payments", ["payments", "cart", "orders", "inventory"]),
    "payments": ("backend", "payments", ["payments-db", "fraud-check", "stripe-proxy"]),
    "fraud-check": ("backend", "risk", ["redis-cache"]),
    "stripe-proxy": ("backend", "payments", []),
    "cart": ("backend", "shop", ["redis-cache"]),
    "orders": ("backend", "shop", ["orders-db", "kafka"]),
    "inventory": ("backend", "shop", ["orders-db"]),
    "catalog": ("backend", "shop", ["catalog-db", "redis-cache"]),
    "search": ("backend", "discovery", ["elasticsearch"]),
    "auth": ("backend", "identity", ["users-db", "redis-cache"]),
    "notifications": ("backend", "platform", ["kafka"]),
    "payments-db": ("data", "dba", []),
    "orders-db": ("data", "dba", []),
    "catalog-db": ("data", "dba", []),
    "users-db": ("data", "dba", []),
    "redis-cache": ("data", "platform", []),
    "kafka": ("data", "platform", []),
    "elasticsearch": ("data", "discovery", []),
}

PATTERNS = [
    {
        "slug": "db-connection-pool-exhaustion",
        "name": "Database connection pool exhaustion",
        "incident_type": "database",
        "description": "Every connection of a database's pool is in use, so callers queue, time out and fail upward.",
        "signals": {"keywords": ["connection pool", "too many clients", "could not acquire connection"], "metrics": ["db_connections_active", "latency_p99_ms"], "min_score": 0.5},
        "remediation": [
            {"action": "Find and stop what holds the connections", "detail": "pg_stat_activity: long transactions, idle in transaction, a runaway batch job."},
            {"action": "Shed load on the callers", "detail": "Turn on the payments circuit breaker; pause non-urgent jobs."},
            {"action": "Raise the pool size only if the database has headroom", "detail": "max_connections and CPU first."},
            {"action": "Add a pool-saturation alert at 80%", "detail": "So the next one pages before customers notice."},
        ],
        "runbook_url": f"{RUNBOOKS}/patterns/db-connection-pool-exhaustion",
        "origin": Pattern.Origin.BUILTIN,
    },
    {
        "slug": "memory-leak-oom",
        "name": "Memory leak and OOM kills",
        "incident_type": "memory",
        "description": "Memory grows steadily until the kernel or the orchestrator kills the process.",
        "signals": {"keywords": ["OOMKilled", "out of memory"], "metrics": ["memory_rss_mb"]},
        "remediation": ["Restart the affected pods in a rolling fashion", "Roll back the last deploy if memory growth started with it", "Take a heap profile before the next restart"],
        "runbook_url": f"{RUNBOOKS}/patterns/memory-leak",
        "origin": Pattern.Origin.BUILTIN,
    },
    {
        "slug": "bad-deploy",
        "name": "Bad deploy",
        "incident_type": "deploy",
        "description": "Errors start within minutes of a deploy of the failing service.",
        "signals": {"keywords": ["deploy", "version"], "metrics": ["error_rate"]},
        "remediation": ["Roll back to the previous version", "Freeze deploys of the service", "Write a regression test for the failure"],
        "runbook_url": f"{RUNBOOKS}/patterns/bad-deploy",
        "origin": Pattern.Origin.BUILTIN,
    },
]


@dataclass
class SeedResult:
    now: datetime
    main: Incident
    memory: Incident
    quiet: Incident
    history: list[Incident]
    false_positive: Incident
    users: dict = field(default_factory=dict)
    services: dict = field(default_factory=dict)
    patterns: dict = field(default_factory=dict)


def _fingerprint(service: str, kind: str, message: str) -> str:
    return "" if kind == Event.Type.METRIC else f"{service}:{message_signature(message)}"[:128]


class _Events:
    """Collects events, then stores them in one bulk insert."""

    def __init__(self, services: dict[str, Service]):
        self.services = services
        self.rows: list[Event] = []

    def add(self, ts, service, kind, severity="info", message="", *, metric="", value=None, incident=None, host="", attributes=None) -> Event:
        event = Event(
            timestamp=ts, received_at=ts + timedelta(seconds=1), service=self.services[service], type=kind, severity=severity,
            message=message, metric=metric, value=value, host=host or f"{service}-{1 + len(self.rows) % 3}",
            fingerprint=_fingerprint(service, kind, message), attributes=attributes or {},
            source=Event.Source.DETECTOR if kind == Event.Type.ANOMALY else Event.Source.SIMULATOR, incident=incident,
        )
        self.rows.append(event)
        return event

    def save(self) -> None:
        # As ingest stores them: with their hours' counts (incidents.rollups), which the stats read.
        Event.objects.bulk_create(self.rows, batch_size=1000)
        rollups.rollups_add(self.rows)


def seed_topology() -> dict[str, Service]:
    services = {}
    for name, (tier, team, _) in TOPOLOGY.items():
        svc, _ = Service.objects.update_or_create(
            name=name, defaults={"tier": tier, "team": team, "runbook_url": f"{RUNBOOKS}/services/{name}", "description": f"The {name} service."}
        )
        services[name] = svc
    for name, (_, _, deps) in TOPOLOGY.items():
        services[name].depends_on.set([services[d] for d in deps])
    return services


def seed_patterns() -> dict[str, Pattern]:
    patterns = {}
    for spec in PATTERNS:
        pattern, _ = Pattern.objects.get_or_create(slug=spec["slug"], defaults={k: v for k, v in spec.items() if k != "slug"})
        patterns[spec["slug"]] = pattern
    return patterns


@functools.cache
def _password_hash(raw: str) -> str:
    # Hashing is deliberately slow (~0.4 s); every test seeds the same three users.
    return make_password(raw)


def seed_users() -> dict:
    """alice (staff), bob and carol; each logs in with the password pw-<name>-123."""
    User = get_user_model()
    users = {}
    for username, first, last, staff in [("alice", "Alice", "Okafor", True), ("bob", "Bob", "Lindqvist", False), ("carol", "Carol", "Nakamura", False)]:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create(username=username, password=_password_hash(f"pw-{username}-123"), first_name=first, last_name=last,
                                       email=f"{username}@example.com", is_staff=staff, is_superuser=staff)
        users[username] = user
    # alice is a superuser (an admin); bob and carol respond (the e2e tests have both write).
    from access.roles import Role, assign_role

    assign_role(users["bob"], Role.RESPONDER)
    assign_role(users["carol"], Role.RESPONDER)
    return users


def _incident(**kwargs) -> Incident:
    services = kwargs.pop("services")
    incident = Incident.objects.create(number=incident_number_next(), **kwargs)
    incident.services.set(services)
    return incident


def _metric_series(ev: _Events, rng: random.Random, *, service: str, metric: str, start: datetime, end: datetime, base: float,
                   spike: tuple[datetime, datetime, float] | None, incident: Incident | None, step: int = 60) -> list[Event]:
    """A metric every `step` seconds: noise around `base`, multiplied by the spike's factor inside it."""
    points = []
    ts = start
    while ts <= end:
        value = base * (1 + rng.gauss(0, 0.05))
        inside = spike is not None and spike[0] <= ts <= spike[1]
        if inside:
            ramp = min(1.0, (ts - spike[0]).total_seconds() / 240)
            value = base * (1 + (spike[2] - 1) * ramp) * (1 + rng.gauss(0, 0.03))
        points.append(ev.add(ts, service, Event.Type.METRIC, metric=metric, value=round(value, 3), incident=incident if inside else None))
        ts += timedelta(seconds=step)
    return points


def seed_console(*, now: datetime | None = None) -> SeedResult:
    """Seed the console's demo data; returns the incidents and users it made."""
    now = (now or timezone.now()).replace(microsecond=0)
    rng = random.Random(7)
    services = seed_topology()
    patterns = seed_patterns()
    users = seed_users()
    ev = _Events(services)
    S = services

    # --- The main incident: payments-db's pool is exhausted; payments, checkout and the edge fail.
    t0 = now - timedelta(minutes=42)
    main = _incident(
        title="Checkout failing: payments-db connection pool exhausted",
        status=Incident.Status.INVESTIGATING, severity="critical", grouping_key="seed:payments-db:pool",
        started_at=t0, last_event_at=now - timedelta(minutes=3), root_cause_service=S["payments-db"],
        pattern=patterns["db-connection-pool-exhaustion"], confidence=0.72, assignee=users["alice"],
        summary="payments-db ran out of connections at 200/200; payments timed out acquiring connections and checkout returned 503s to the gateway.",
        services=[S["payments-db"], S["payments"], S["checkout"], S["api-gateway"], S["web-frontend"]],
    )
    cascade = [("payments-db", 0), ("payments", 94), ("checkout", 150), ("api-gateway", 210), ("web-frontend", 262)]
    alerts = {
        "payments-db": ("critical", "Connection pool exhausted: 200/200 connections active"),
        "payments": ("critical", "p99 latency above 2000ms (now 4870ms)"),
        "checkout": ("critical", "Error rate 12.4% above 5% for 2m"),
        "api-gateway": ("warning", "5xx rate above 2% on /api/checkout"),
        "web-frontend": ("warning", "Apdex below 0.7 on the checkout page"),
    }
    evidence: dict[str, list[Event]] = {name: [] for name, _ in cascade}
    for name, delay in cascade:
        severity, message = alerts[name]
        for k in range(4 if name in ("payments-db", "payments", "checkout") else 2):
            e = ev.add(t0 + timedelta(seconds=delay + k * 540), name, Event.Type.ALERT, severity, message, incident=main)
            evidence[name].append(e)
    log_lines = [
        ("payments-db", "critical", "FATAL: sorry, too many clients already (max_connections=200)"),
        ("payments", "critical", "ERROR could not acquire connection from pool within 5000ms (pool=payments-db, active=200, idle=0)"),
        ("payments", "warning", "WARN retrying payment authorisation attempt=2 order={order}"),
        ("checkout", "critical", "ERROR upstream payments returned 503 Service Unavailable order={order}"),
        ("checkout", "warning", "WARN circuit breaker payments half-open"),
        ("api-gateway", "warning", "upstream timeout after 10s POST /api/checkout status=504"),
        ("payments-db", "warning", "LOG: duration: 183000 ms statement: SELECT * FROM ledger_entries WHERE batch_id = {order}"),
    ]
    for i in range(70):
        svc, severity, text = log_lines[i % len(log_lines)]
        delay = dict(cascade)[svc] + 20 + i * 30
        e = ev.add(t0 + timedelta(seconds=delay), svc, Event.Type.LOG, severity, text.format(order=4000 + i), incident=main)
        if svc == "payments-db" and len(evidence["payments-db"]) < 8:
            evidence["payments-db"].append(e)
    # Background logs of the same services, outside the incident: "beyond the incident" finds them.
    for i in range(30):
        svc = ["payments", "checkout", "payments-db"][i % 3]
        ev.add(t0 - timedelta(minutes=25) + timedelta(seconds=40 * i), svc, Event.Type.LOG, "info", f"GET /healthz 200 in {rng.randint(2, 9)}ms")
    ev.add(t0 - timedelta(minutes=6), "payments", Event.Type.LOG, "info", "deploy payments v3.8.1 finished (batch settlement job enabled)")
    spike_end = now - timedelta(minutes=2)
    for name, metric, base, factor in [
        ("payments-db", "db_connections_active", 80, 2.5), ("payments-db", "cpu_percent", 35, 2.2),
        ("payments", "latency_p99_ms", 180, 24), ("payments", "error_rate", 0.4, 20),
        ("checkout", "error_rate", 0.5, 24), ("checkout", "latency_p99_ms", 240, 9),
        ("api-gateway", "latency_p99_ms", 90, 6),
    ]:
        delay = dict(cascade)[name]
        _metric_series(ev, rng, service=name, metric=metric, start=t0 - timedelta(minutes=30), end=now,
                       base=base, spike=(t0 + timedelta(seconds=delay - 60), spike_end, factor), incident=main)
    for name, metric, value, delay in [
        ("payments-db", "db_connections_active", 200, 30), ("payments", "latency_p99_ms", 4320, 150),
        ("checkout", "error_rate", 12.0, 200), ("payments-db", "cpu_percent", 77, 60),
    ]:
        e = ev.add(t0 + timedelta(seconds=delay), name, Event.Type.ANOMALY, "critical" if name != "payments-db" or metric != "cpu_percent" else "warning",
                   f"{metric} = {value} is far outside its usual range", metric=metric, value=value, incident=main,
                   attributes={"detector": "isolation_forest", "score": 0.93})
        evidence.setdefault(name, []).append(e)

    # --- A memory leak in catalog, confident, being investigated by bob.
    m0 = now - timedelta(hours=3)
    memory = _incident(
        title="catalog pods OOMKilled: memory leak after v5.2.0",
        status=Incident.Status.INVESTIGATING, severity="warning", grouping_key="seed:catalog:oom",
        started_at=m0, last_event_at=m0 + timedelta(minutes=35), root_cause_service=S["catalog"], pattern=patterns["memory-leak-oom"],
        confidence=0.91, assignee=users["bob"], summary="catalog RSS grows ~40 MB/min since v5.2.0; pods are OOMKilled every ~25 minutes.",
        services=[S["catalog"], S["api-gateway"]],
    )
    mem_events = [ev.add(m0 + timedelta(minutes=25 * k), "catalog", Event.Type.ALERT, "warning", "Pod catalog-7d9f OOMKilled (limit 2Gi)", incident=memory) for k in range(2)]
    mem_events += [ev.add(m0 + timedelta(minutes=2 + 3 * k), "catalog", Event.Type.LOG, "warning", "java.lang.OutOfMemoryError: Java heap space", incident=memory) for k in range(8)]
    _metric_series(ev, rng, service="catalog", metric="memory_rss_mb", start=m0 - timedelta(minutes=30), end=m0 + timedelta(minutes=40),
                   base=900, spike=(m0 - timedelta(minutes=10), m0 + timedelta(minutes=35), 2.2), incident=memory)
    mem_events.append(ev.add(m0 + timedelta(minutes=1), "catalog", Event.Type.ANOMALY, "warning", "memory_rss_mb trending up 40 MB/min", metric="memory_rss_mb", value=1900, incident=memory))

    # --- An open incident nobody has a cause for yet (the empty states).
    quiet = _incident(
        title="Kafka consumer lag growing on orders", status=Incident.Status.OPEN, severity="warning", grouping_key="seed:kafka:lag",
        started_at=now - timedelta(minutes=18), last_event_at=now - timedelta(minutes=15), confidence=0.0, services=[S["orders"], S["kafka"]],
    )
    ev.add(now - timedelta(minutes=18), "orders", Event.Type.ALERT, "warning", "Consumer group orders-writer lag above 10000", incident=quiet)

    # --- History: resolved pool exhaustions (similar incidents and the time-to-resolve estimate).
    history = []
    for days, minutes, note in [
        (3, 35, "Killed a runaway `ledger_entries` batch query holding 150 connections; pool recovered in 2 minutes."),
        (9, 50, "Raised the pgbouncer pool from 100 to 200 after checking headroom, then moved the settlement job to the replica."),
        (20, 80, "A retry storm from checkout kept the pool full. Enabled the circuit breaker and backoff; see the postmortem."),
    ]:
        h0 = now - timedelta(days=days)
        past = _incident(
            title="payments-db connection pool exhausted", status=Incident.Status.RESOLVED, severity="critical",
            grouping_key=f"seed:payments-db:pool:{days}", started_at=h0, last_event_at=h0 + timedelta(minutes=minutes - 5),
            resolved_at=h0 + timedelta(minutes=minutes), root_cause_service=S["payments-db"], pattern=patterns["db-connection-pool-exhaustion"],
            confidence=0.88, resolution_notes=note, tags=["database", "capacity"], incident_type="database",
            services=[S["payments-db"], S["payments"], S["checkout"]],
        )
        ev.add(h0, "payments-db", Event.Type.ALERT, "critical", f"Connection pool exhausted: {180 + days}/{180 + days} connections active", incident=past)
        ev.add(h0 + timedelta(minutes=2), "payments", Event.Type.ALERT, "critical", "p99 latency above 2000ms (now 3900ms)", incident=past)
        history.append(past)
    deploy = _incident(
        title="checkout 5xx after deploy v2.14.0", status=Incident.Status.RESOLVED, severity="critical", grouping_key="seed:checkout:deploy",
        started_at=now - timedelta(days=2), last_event_at=now - timedelta(days=2) + timedelta(minutes=20),
        resolved_at=now - timedelta(days=2) + timedelta(minutes=25), root_cause_service=S["checkout"], pattern=patterns["bad-deploy"],
        confidence=0.95, resolution_notes="Rolled back to v2.13.4.", tags=["deploy"], incident_type="deploy",
        services=[S["checkout"], S["api-gateway"]],
    )
    ev.add(deploy.started_at, "checkout", Event.Type.ALERT, "critical", "Error rate 31.0% above 5% for 2m", incident=deploy)
    history.append(deploy)
    false_positive = _incident(
        title="Disk usage flapping on elasticsearch-2", status=Incident.Status.FALSE_POSITIVE, severity="info", grouping_key="seed:es:disk",
        started_at=now - timedelta(days=1, hours=2), last_event_at=now - timedelta(days=1, hours=1), resolved_at=now - timedelta(days=1),
        root_cause_service=S["elasticsearch"], confidence=0.41, services=[S["elasticsearch"], S["search"]],
        resolution_notes="The alert threshold counted snapshot files; not a real problem.",
    )
    ev.add(false_positive.started_at, "elasticsearch", Event.Type.ALERT, "info", "Disk usage above 80% on elasticsearch-2", incident=false_positive)

    ev.save()

    # Hypotheses name the stored events as their evidence, in the one shape (incidents.analysis).
    def ids(events: list[Event], n: int) -> tuple[Evidence, ...]:
        return tuple(Evidence(event=e.pk, client_id=e.client_id) for e in events[:n])

    main.hypotheses = analysis_to_json([
        Hypothesis("payments-db", 0.72, "db-connection-pool-exhaustion", evidence=ids(evidence["payments-db"], 10), reasons=(
            "payments-db alerted first, 94 s before payments and 150 s before checkout",
            "its own dependencies are healthy while every service that calls it is failing",
            "its logs match the pattern's signals: “too many clients”, “could not acquire connection”",
            "db_connections_active reached 200, its max_connections, at the start of the incident",
        )),
        Hypothesis("payments", 0.19, "bad-deploy", evidence=ids(evidence["payments"], 4),
                   reasons=("payments was deployed (v3.8.1) 6 minutes before the first alert", "its p99 latency rose 24-fold")),
        Hypothesis("checkout", 0.06, None, evidence=ids(evidence["checkout"], 3), reasons=("checkout's error rate crossed 5%",)),
        Hypothesis("stripe-proxy", 0.03, None, reasons=("a dependency of payments; no signal of its own",)),
    ])
    memory.hypotheses = analysis_to_json([
        Hypothesis("catalog", 0.91, "memory-leak-oom", evidence=ids(mem_events, 6),
                   reasons=("catalog pods were OOMKilled twice", "memory_rss_mb grows linearly since the v5.2.0 deploy")),
        Hypothesis("redis-cache", 0.06, None, reasons=("a dependency with a brief latency blip",)),
    ])
    for incident in (main, memory, quiet, *history, false_positive):
        incident.event_count = incident.events.count()
        incident.alert_count = incident.events.filter(type=Event.Type.ALERT).count()
        incident.save(update_fields=["hypotheses", "event_count", "alert_count"])

    # --- The audit trail and notes of the main incident.
    TimelineEvent.objects.bulk_create([
        TimelineEvent(incident=main, kind=TimelineEvent.Kind.OPENED, created_at=t0 + timedelta(seconds=40), to_value="open", message="Opened from 3 correlated alerts"),
        TimelineEvent(incident=main, kind=TimelineEvent.Kind.STATUS, actor=users["alice"], origin=TimelineEvent.Origin.CONSOLE, created_at=t0 + timedelta(minutes=4), from_value="open", to_value="investigating"),
        TimelineEvent(incident=main, kind=TimelineEvent.Kind.ASSIGNED, actor=users["alice"], origin=TimelineEvent.Origin.CONSOLE, created_at=t0 + timedelta(minutes=4, seconds=10), to_value="alice"),
        TimelineEvent(incident=main, kind=TimelineEvent.Kind.NOTE, actor=users["bob"], origin=TimelineEvent.Origin.SLACK, created_at=t0 + timedelta(minutes=9), message="Settlement job…"),
        TimelineEvent(incident=memory, kind=TimelineEvent.Kind.OPENED, created_at=m0, to_value="open"),
    ])
    Note.objects.bulk_create([
        Note(incident=main, author=users["alice"], author_name="alice", created_at=t0 + timedelta(minutes=6),
             body="Pool is pinned at **200/200**. `pg_stat_activity` shows ~150 sessions from `settlement-batch` running\n\n```sql\nSELECT * FROM ledger_entries WHERE batch_id = $1\n```"),
        Note(incident=main, author=users["bob"], author_name="bob", origin=Note.Origin.SLACK, created_at=t0 + timedelta(minutes=9),
             body="Settlement job was enabled by the payments v3.8.1 deploy. Pausing it now:\n\n- [x] paused cron\n- [ ] kill running queries"),
    ])
    return SeedResult(now=now, main=main, memory=memory, quiet=quiet, history=history, false_positive=false_positive,
                      users=users, services=services, patterns=patterns)
