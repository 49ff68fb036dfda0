"""One fuzzed scenario: an estate, hours of its telemetry, faults on a random schedule, and the truth.

Written apart from `correlation.simulation` on purpose (one simulator must not shape both the
engine and its test). What it draws at random, per scenario:

- the estate (`bench.fuzz.estate`), and per host a clock skew (most hosts none, some up to four
  minutes either way) applied to what the host itself sends (logs, metrics), not to alerts, which
  carry Prometheus' time;
- faults (`bench.fuzz.faults`) on a schedule of episodes: a lone fault; two back to back (the
  second on an unrelated service right as the first ends); a second inside the first's cone (a
  service the first reaches, or one of its dependencies, minutes later); a neighbour (a service
  that shares a caller with the first root); a fault landing in a noise storm; and, only when the
  scenario is built `dense` (`--dense`; bench/correlation.py `--fuzz-dense`), a burst: 3-5 faults
  on roots drawn independently (related or not, never the same root twice in a burst), 20-120 s
  apart and about one in four at the same moment as the one before, each with its usual face and
  spread, as the chaos lab's run 7 showed them (a fault every minute or two, often two at once).
  A dense scenario has the same estate as the default one of its family and seed; without the
  option nothing is drawn differently (a test pins default scenarios' bytes);
- how each fault shows: the root alerts first, or its dependants alert first (the root's rule
  waits longer), or the root only logs, or says nothing at all (a third-party API, a blackholed
  service); the spread hop by hop with random delays and random gaps (not every caller alerts);
  durations with a long tail (log-normal, a few hours at most); callers that keep retrying and
  erroring after the root recovered;
- noise: background logs with stray errors, chatty warnings, flapping alerts, blips (a short
  critical one now and then), noise storms (a dozen unrelated alerts within minutes);
- delivery: alerts after Alertmanager's group wait, resolutions later, a share of everything
  minutes late, so arrival order is not event-time order.

The output is what `manage.py replay` reads (events as JSON Lines in arrival order, the topology
as `{"services": [...]}`) and a truth file in the shape `correlation.scoring` reads: per fault its
root, kind, start, end, the client ids of the alerts and logs it caused, and tags (`mode`,
`silent_root`, `dependants_first`, `quiet_root`, `skewed`, and `dense` on a burst's faults).
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.fuzz.estate import Estate, estate_random
from bench.fuzz.faults import KINDS, Face, Kind

MODES = {"single": 0.45, "back_to_back": 0.15, "in_cone": 0.17, "neighbour": 0.13, "in_storm": 0.10}
DENSE = 1.0  # a dense scenario's weight of the burst beside MODES (which sum to 1): about half its episodes are bursts
BASELINES = {
    "latency_p99": 0.25, "error_ratio": 0.004, "cpu": 0.35, "up": 1.0, "pool_in_use": 0.3, "disk_used": 0.55,
    "memory": 0.5, "lag": 50.0, "throughput": 120.0,
}
LEVELS = {"up", "disk_used", "pool_in_use", "memory", "error_ratio"}  # a fault sets these; it multiplies the others
SERIES = {
    "edge": ("latency_p99", "error_ratio"), "front": ("latency_p99", "error_ratio", "cpu"),
    "app": ("latency_p99", "error_ratio", "cpu"), "worker": ("throughput", "error_ratio", "memory"),
    "store": ("latency_p99", "cpu", "disk_used"), "cache": ("latency_p99", "memory"), "broker": ("lag", "disk_used"),
    "dns": ("error_ratio",), "mesh": ("error_ratio",), "pool": ("up",), "thirdparty": (),
}


@dataclass
class FaultTruth:
    id: str
    kind: str
    root: str
    start: float
    end: float
    tags: dict = field(default_factory=dict)
    affected: dict[str, float] = field(default_factory=dict)
    alerting: set[str] = field(default_factory=set)
    event_ids: list[str] = field(default_factory=list)
    alert_ids: list[str] = field(default_factory=list)
    metric_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        iso = _iso
        return {
            "id": self.id, "kind": self.kind, "pattern": self.kind, "root_service": self.root,
            "affected_services": sorted(self.affected, key=lambda s: (self.affected[s], s)),
            "alerting_services": sorted(self.alerting), "start": iso(self.start), "end": iso(self.end),
            "tags": self.tags, "event_ids": self.event_ids, "alert_ids": self.alert_ids, "metric_ids": self.metric_ids,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Scenario:
    def __init__(self, *, family: str, seed: int, start: datetime, hours: float, metric_interval: float = 60.0,
                 dense: bool = False):
        self.rng = random.Random(f"{family}:{seed}")
        self.family, self.seed, self.dense = family, seed, dense
        self.estate: Estate = estate_random(self.rng, family)
        self.t0 = start.timestamp()
        self.t1 = self.t0 + hours * 3600
        self.metric_interval = metric_interval
        self.prefix = f"fz-{family[:3]}{'d' if dense else ''}{seed}-"
        self.n = 0
        self.out: list[tuple[float, int, dict]] = []
        self.faults: list[FaultTruth] = []
        self.noise_alert_ids: list[str] = []
        self.firing: dict[str, list[tuple[float, float]]] = {}  # alert fingerprint -> intervals already planned
        self.effects: dict[str, list[tuple[float, float, str, float, FaultTruth]]] = {}  # service -> metric effects
        self.storms: list[tuple[float, float]] = []
        self.skew = {h: (0.0 if self.rng.random() < 0.8 else self.rng.choice((-1, 1)) * self.rng.uniform(20, 240))
                     for node in self.estate.nodes.values() for h in node.hosts}
        self.ips = {h: f"10.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(2, 254)}"
                    for node in self.estate.nodes.values() for h in node.hosts}

    # -- emitting ------------------------------------------------------------------------------

    def _id(self, kind: str) -> str:
        self.n += 1
        return f"{self.prefix}{kind}{self.n}"

    def _deliver(self, ts: float, delay: float, event: dict) -> None:
        if self.rng.random() < 0.03:  # minutes late: a stuck shipper, a retried webhook
            delay += self.rng.uniform(120, 1200)
        self.out.append((ts + delay, self.n, event))

    def _fill(self, template: str, svc: str, dep: str, host: str) -> str:
        return template.format(svc=svc, dep=dep or svc, host=host, ip=self.ips.get(host, "10.0.0.1"),
                               port=self.rng.choice((80, 8080, 5432, 6379, 9092, 443)),
                               ms=self.rng.randint(2000, 30000), n=self.rng.randint(2, 500))

    def log(self, ts: float, svc: str, severity: str, message: str, fault: FaultTruth | None, host: str | None = None) -> None:
        node = self.estate.nodes[svc]
        host = host or self.rng.choice(node.hosts)
        eid = self._id("l")
        event = {"id": eid, "timestamp": _iso(ts + self.skew.get(host, 0.0)), "service": svc, "type": "log",
                 "severity": severity, "message": message, "host": host, "attributes": {"logger": f"{svc}.app"}}
        if fault is not None and severity != "info":
            fault.event_ids.append(eid)
        self._deliver(ts, self.rng.uniform(0.5, 15), event)

    def alert(self, svc: str, host: str, name: str, severity: str, start: float, end: float, fault: FaultTruth | None, summary: str) -> bool:
        """One Alertmanager alert (firing, then resolved), as the webhook turns it into events.
        Returns False when the same alert is already firing over that time (Prometheus keeps one)."""
        labels = {"alertname": name, "service": svc, "instance": f"{host}:9100", "severity": severity, "job": svc}
        fp = hashlib.sha1(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
        planned = self.firing.setdefault(fp, [])
        if any(a <= end and start <= b for a, b in planned):
            return False
        planned.append((start, end))
        for status, ts in (("firing", start), ("resolved", end)):
            if ts >= self.t1:
                break
            eid = f"{self.prefix}am-{fp}-{status}-{int(start)}"
            event = {
                "id": eid, "timestamp": _iso(ts), "service": svc, "type": "alert",
                "severity": severity if status == "firing" else "info",
                "message": summary if status == "firing" else f"RESOLVED: {summary}",
                "host": labels["instance"], "fingerprint": f"am:{name}:{fp}",
                "attributes": {"alert_status": status, "alertname": name, "labels": labels, "annotations": {"summary": summary},
                               "starts_at": _iso(start), "ends_at": _iso(end) if status == "resolved" else None},
            }
            if fault is not None:
                fault.event_ids.append(eid)
                fault.alert_ids.append(eid)
                fault.alerting.add(svc)
            else:
                self.noise_alert_ids.append(eid)
            # Group wait on the first notification, group interval for resolutions.
            self._deliver(ts, self.rng.uniform(10, 45) if status == "firing" else self.rng.uniform(5, 300), event)
        return True

    # -- faults --------------------------------------------------------------------------------

    def _show(self, fault: FaultTruth, svc: str, face: Face, start: float, end: float, *, dep: str, rule_wait: float | None,
              alerts: bool, logs: bool, log_rate: float) -> None:
        node = self.estate.nodes[svc]
        fault.affected.setdefault(svc, start)
        if alerts:
            for name, severity, wait, per_host in face.alerts:
                hosts = node.hosts if per_host else [node.hosts[0]]
                if per_host and fault.kind not in ("process_crash", "node_pool_failure"):
                    hosts = self.rng.sample(node.hosts, k=self.rng.randint(1, len(node.hosts)))
                w = rule_wait if rule_wait is not None else wait
                for h in hosts:
                    fire = start + w + self.rng.uniform(0, 60)
                    stop = end + self.rng.uniform(30, 240)
                    if fire < stop:
                        self.alert(svc, h, name, severity, fire, stop, fault,
                                   f"{name} on {svc}" + (f" ({h})" if per_host else "") + (f": calls to {dep} failing" if dep != svc else ""))
        if logs and (face.logs or face.warn_logs):
            span = end - start
            lines = min(150, max(3, int(span / 60 * log_rate)))
            for _ in range(lines):
                ts = start + self.rng.random() * span
                if face.logs and (not face.warn_logs or self.rng.random() < 0.8):
                    self.log(ts, svc, "critical", self._fill(self.rng.choice(face.logs), svc, dep, ""), fault)
                else:
                    self.log(ts, svc, "warning", self._fill(self.rng.choice(face.warn_logs), svc, dep, ""), fault)
        for metric, level in face.metrics.items():
            self.effects.setdefault(svc, []).append((start, end, metric, level, fault))

    def inject(self, t: float, root: str, kind: Kind, mode: str) -> FaultTruth:
        rng = self.rng
        duration = min(4 * 3600, max(240, rng.lognormvariate(math.log(18 * 60), 0.8)))
        fault = FaultTruth(self._id("f"), kind.name, root, t, min(self.t1, t + duration), tags={"mode": mode})
        node = self.estate.nodes[root]
        style = rng.random()
        silent = node.silent or kind.name == "blackhole"
        fault.tags["silent_root"] = silent
        fault.tags["dependants_first"] = not silent and style < 0.25
        fault.tags["quiet_root"] = not silent and 0.25 <= style < 0.35
        fault.tags["skewed"] = any(self.skew[h] for h in node.hosts)
        if kind.name == "blackhole":
            # Prometheus cannot scrape it either: a TargetDown comes, late, half of the time.
            self._show(fault, root, kind.root, t, fault.end, dep=root, rule_wait=None, alerts=rng.random() < 0.5, logs=False, log_rate=0)
        elif not node.silent:
            wait = rng.uniform(360, 900) if fault.tags["dependants_first"] else None
            self._show(fault, root, kind.root, t, fault.end, dep=root, rule_wait=wait, alerts=not fault.tags["quiet_root"],
                       logs=True, log_rate=rng.uniform(2, 8))
        fault.affected[root] = t
        # The spread.
        if kind.spread == "broker":
            for broker in sorted(d for d in node.deps if self.estate.nodes[d].role == "broker"):
                hit = t + rng.uniform(30, 240)
                self._show(fault, broker, kind.caller, hit, fault.end + rng.uniform(60, 600), dep=root, rule_wait=None,
                           alerts=True, logs=True, log_rate=rng.uniform(0.5, 2))
            return self._done(fault)
        frontier = [(root, t, 0)]
        seen = {root}
        while frontier:
            svc, at, hops = frontier.pop(0)
            for caller in sorted(self.estate.dependants(svc)):
                if caller in seen:
                    continue
                if kind.spread == "all_dependants" and hops == 0:
                    p, delay = 0.8, rng.uniform(5, 60)
                else:
                    p = 0.85 if hops == 0 else 0.55 / hops
                    delay = rng.uniform(5, 90) if rng.random() < 0.8 else rng.uniform(90, 420)
                if rng.random() > p or hops >= 4:
                    continue
                seen.add(caller)
                hit = at + delay
                tail = rng.uniform(0, 300) + (rng.uniform(600, 2400) if rng.random() < 0.1 else 0)  # retry storms
                face = kind.caller if hops == 0 else (CALLER_FACES[0] if rng.random() < 0.5 else CALLER_FACES[1])
                self._show(fault, caller, face, hit, min(self.t1, fault.end + tail), dep=svc,
                           rule_wait=rng.uniform(20, 90) if fault.tags["dependants_first"] else None,
                           alerts=rng.random() < (0.8 if hops == 0 else 0.6), logs=rng.random() < 0.85, log_rate=rng.uniform(1, 6))
                frontier.append((caller, hit, hops + 1))
        return self._done(fault)

    def _done(self, fault: FaultTruth) -> FaultTruth:
        self.faults.append(fault)
        return fault

    def _pick(self, *, near: FaultTruth | None = None, how: str = "") -> tuple[str, Kind]:
        """A root and a kind that fits it: anywhere, or related to an earlier fault."""
        rng = self.rng
        nodes = self.estate.nodes
        candidates = [n for n in nodes if any(nodes[n].role in k.roles for k in KINDS.values())]
        if near is not None and how == "in_cone":
            # A service the first fault reaches, or a dependency of one of them (not the first root).
            cone = set(near.affected) | {d for s in near.affected for d in nodes[s].deps}
            pool = [n for n in sorted(cone - {near.root}) if n in candidates]
            candidates = pool or candidates
        elif near is not None and how == "neighbour":
            callers = self.estate.dependants(near.root)
            pool = sorted({d for c in callers for d in nodes[c].deps} - {near.root})
            candidates = [n for n in pool if n in candidates] or candidates
        elif near is not None:
            away = set(near.affected)
            candidates = [n for n in candidates if n not in away] or candidates
        # Rarely the shared layers: they take down a lot.
        weights = [0.35 if nodes[n].role in ("dns", "mesh", "pool") else 1.0 for n in candidates]
        root = rng.choices(candidates, weights=weights)[0]
        kinds = [k for k in KINDS.values() if nodes[root].role in k.roles]
        if nodes[root].role == "worker" and not any(nodes[d].role == "broker" for d in nodes[root].deps):
            kinds = [k for k in kinds if k.spread != "broker"] or kinds
        return root, rng.choice(kinds)

    # -- noise ---------------------------------------------------------------------------------

    def noise(self) -> None:
        rng = self.rng
        nodes = [n for n in self.estate.nodes.values() if not n.silent]
        hours = (self.t1 - self.t0) / 3600
        for node in nodes:
            t = self.t0 + rng.uniform(0, 300)
            while t < self.t1:  # everyday logs
                self.log(t, node.name, "info", rng.choice(("GET /healthz 200", "request completed in 12ms", "cache hit ratio 0.93",
                                                           "flushed 128 records", "config reloaded")), None)
                t += rng.uniform(60, 400)
            for _ in range(rng.randint(0, int(hours))):  # stray errors
                self.log(rng.uniform(self.t0, self.t1), node.name, "critical",
                         rng.choice(("unexpected EOF from client", "request aborted by client", "json: cannot unmarshal string into Go value",
                                     "NullPointerException in ReportFormatter.format")), None)
            if rng.random() < 0.2:  # a chatty warning
                t = self.t0 + rng.uniform(0, 3600)
                while t < self.t1:
                    self.log(t, node.name, "warning", "DeprecationWarning: datetime.utcnow() is deprecated", None)
                    t += rng.uniform(120, 900)
        for _ in range(rng.randint(1, 3)):  # flapping alerts
            node = rng.choice(nodes)
            name = rng.choice(("DiskUsageAbove80", "MemoryUsageHigh", "CertificateExpiresSoon", "HighGCPause"))
            t = rng.uniform(self.t0, self.t1 - 3600)
            stop = t + rng.uniform(2, 8) * 3600
            host = rng.choice(node.hosts)
            while t < min(stop, self.t1):
                length = rng.uniform(120, 480)
                self.alert(node.name, host, name, "warning", t, t + length, None, f"{name} on {node.name} ({host})")
                t += length + rng.uniform(600, 2400)
        t = self.t0
        while True:  # blips
            t += rng.expovariate(1.5 / 3600)
            if t >= self.t1:
                break
            node = rng.choice(nodes)
            name = rng.choice(("HighRequestLatency", "HTTP5xxRateHigh", "PodRestarted", "SlowQueries", "ErrorBudgetBurn"))
            self.alert(node.name, rng.choice(node.hosts), name, "critical" if rng.random() < 0.15 else "warning",
                       t, t + rng.uniform(60, 300), None, f"{name} on {node.name}")
        for _ in range(rng.randint(0, 2)):  # noise storms
            s = rng.uniform(self.t0 + 1800, self.t1 - 1800)
            self.storms.append((s, s + 600))
            for node in rng.sample(nodes, k=min(len(nodes), rng.randint(6, 16))):
                a = s + rng.uniform(0, 180)
                self.alert(node.name, rng.choice(node.hosts), rng.choice(("ScrapeTimeout", "HighRequestLatency", "KubePodNotReady")),
                           "warning", a, a + rng.uniform(120, 600), None, f"storm on {node.name}")
                for _ in range(rng.randint(0, 4)):
                    self.log(a + rng.uniform(0, 120), node.name, "warning", "slow scrape: context deadline exceeded", None)

    # -- schedule ------------------------------------------------------------------------------

    def schedule(self) -> None:
        rng = self.rng
        modes = {**MODES, "dense": DENSE} if self.dense else MODES
        t = self.t0 + rng.uniform(600, 2400)
        while t < self.t1 - 1800:
            mode = rng.choices(list(modes), weights=list(modes.values()))[0]
            if mode == "dense":
                t = max(f.end for f in self.burst(t)) + max(300, rng.expovariate(1 / 1800))
                continue
            if mode == "in_storm" and self.storms:
                t = max(t, rng.choice(self.storms)[0] + rng.uniform(-120, 300))
            root, kind = self._pick()
            first = self.inject(t, root, kind, mode if mode in ("single", "in_storm") else f"{mode}:first")
            ends = [first.end]
            if mode == "back_to_back":
                root, kind = self._pick(near=first)
                ends.append(self.inject(first.end + rng.uniform(0, 180), root, kind, "back_to_back").end)
            elif mode in ("in_cone", "neighbour"):
                root, kind = self._pick(near=first, how=mode)
                ends.append(self.inject(t + rng.uniform(60, 900) if mode == "in_cone" else t + rng.uniform(0, 300), root, kind, mode).end)
            t = max(ends) + max(300, rng.expovariate(1 / 1800))

    def burst(self, t: float) -> list[FaultTruth]:
        """3-5 faults on roots drawn independently, 20-120 s apart, about one in four at the same moment."""
        rng = self.rng
        faults: list[FaultTruth] = []
        for n in range(rng.randint(3, 5)):
            if n:
                t += 0.0 if rng.random() < 0.25 else rng.uniform(20, 120)
            for _ in range(10):  # another root than the burst's others, when the estate has one
                root, kind = self._pick()
                if root not in {f.root for f in faults}:
                    break
            fault = self.inject(t, root, kind, "dense")
            fault.tags["dense"] = True
            faults.append(fault)
        return faults

    def metrics(self) -> None:
        rng = self.rng
        step = self.metric_interval
        for node in self.estate.nodes.values():
            effects = self.effects.get(node.name, [])
            for metric in SERIES.get(node.role, ()):
                base = BASELINES[metric]
                phase = rng.uniform(0, 2 * math.pi)
                host = node.hosts[0]
                t = self.t0 + rng.uniform(0, step)
                while t < self.t1:
                    day = 1 + 0.3 * math.sin(2 * math.pi * (t - self.t0) / 86400 + phase)
                    value = base * day * rng.lognormvariate(0, 0.08)
                    owner = None
                    for a, b, m, level, fault in effects:
                        if m == metric and a <= t <= b:
                            value = level * rng.uniform(0.9, 1.0) if metric in LEVELS else value * level
                            owner = fault
                    eid = self._id("m")
                    if owner is not None:
                        owner.metric_ids.append(eid)
                    self._deliver(t, rng.uniform(1, 30), {
                        "id": eid, "timestamp": _iso(t + self.skew.get(host, 0.0)), "service": node.name, "type": "metric",
                        "metric": metric, "value": round(value, 5), "host": host,
                    })
                    t += step

    # -- output --------------------------------------------------------------------------------

    def build(self) -> dict:
        self.noise()
        self.schedule()
        self.metrics()
        self.out.sort(key=lambda x: (x[0], x[1]))
        kept = {e["id"] for _, _, e in self.out if datetime.fromisoformat(e["timestamp"]).timestamp() < self.t1}
        self.out = [x for x in self.out if x[2]["id"] in kept]
        counts = {"events": len(self.out), "alerts": 0, "logs": 0, "metrics": 0}
        for _, _, e in self.out:
            counts[e["type"] + "s"] += 1
        faults = []
        for f in self.faults:
            if f.start >= self.t1:
                continue
            f.event_ids = [i for i in f.event_ids if i in kept]
            f.alert_ids = [i for i in f.alert_ids if i in kept]
            f.metric_ids = [i for i in f.metric_ids if i in kept]
            faults.append(f.to_json())
        return {
            "generator": "bench.fuzz", "family": self.family, "seed": self.seed, "id_prefix": self.prefix,
            **({"dense": True} if self.dense else {}),
            "start": _iso(self.t0), "end": _iso(self.t1), "counts": counts,
            "noise_alert_ids": [i for i in self.noise_alert_ids if i in kept], "faults": faults,
        }

    def write(self, directory: Path) -> tuple[Path, Path, dict]:
        """Write events.jsonl, topology.json and truth.json under `directory`; returns (events, topology, truth)."""
        truth = self.build()
        directory.mkdir(parents=True, exist_ok=True)
        events = directory / "events.jsonl"
        with events.open("w") as fh:
            for _, _, e in self.out:
                fh.write(json.dumps(e, separators=(",", ":")) + "\n")
        topology = directory / "topology.json"
        topology.write_text(json.dumps(self.estate.to_topology(), indent=1))
        (directory / "truth.json").write_text(json.dumps(truth))
        return events, topology, truth


CALLER_FACES = (KINDS["latency_injection"].caller, KINDS["process_crash"].caller)


def scenario_write(*, family: str, seed: int, directory: Path, hours: float = 12.0, metric_interval: float = 60.0,
                   start: datetime | None = None, dense: bool = False) -> tuple[Path, Path, dict]:
    start = start or datetime(2026, 9, 7, tzinfo=UTC) + timedelta(days=seed % 50)
    return Scenario(family=family, seed=seed, start=start, hours=hours, metric_interval=metric_interval,
                    dense=dense).write(directory)
