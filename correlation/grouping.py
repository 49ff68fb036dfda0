"""Online correlation: each arriving alert (or anomaly) joins the open incident it belongs to, or opens one.

The decisions of the engine, on plain values: `Correlator` takes one batch (alerts, logs,
anomalies) and a store to read from (correlation.loading.Store: the open incidents and the pending,
not yet correlated, signals around the batch's event time, each read once in a bounded query), and
returns a `Decision` per incident to open or update (its events and its analysis, ranked by
correlation.rca). It writes nothing: correlation.writing runs it under the lock and writes the
decisions through incidents.services.

The rules, all by event time (events arrive late and out of order); a batch is decided as if its
alerts came one by one, in event-time order:

- An alert joins the open incident it is most related to: a fingerprint still firing there, a
  service still alerting there, or a service a few hops from it in the incident's cone, within the
  incident's window. Boundaries come from evidence, not only time: the cone is the services that
  call where the incident started (its origins: the deepest clearly unwell services, a critical
  alert or alerts of two fingerprints, or a dependency logging errors right now, since a root may
  not alert), where a failure spreads, even late; and the dependencies of an origin still in
  trouble, where a deeper cause may show. A service with healthy dependencies that only shares a
  caller with the origin (a front door that alerts in every fault), or a dependency of an origin
  that has recovered, is a new origin: it opens its own incident, even inside another's window;
  unless its alert names the dependency that the incident's origins name (a silent root, a
  blackholed store or a third party, seen only through its callers: `OpenIncident.named_roots`). An
  incident whose alerts have all resolved takes no new trouble; a service that alerted and
  recovered joins again only by where it sits. Two more boundaries hold with no time rule, for
  faults that start together: an alert whose trouble, followed down what it names ("calls to
  redis-sessions failing", then what that service's errors name), ends at a service that neither
  calls nor is called by the service this incident's own trouble points to, is another origin's
  (`_unrelated_origin`: a shared caller's alert goes with the origin that explains it); and a
  caller two hops or more above the origins whose dependencies on the way there were all fine
  until it alerted, and whose alert names none of them, went wrong on its own (`_own_onset`).
  A third holds for an incident that noise opened (warnings alone, none naming what it calls, no
  error lines behind them: a storm of scrape timeouts): a service not alerting there yet whose
  alert is clear trouble (critical, naming a dependency, or after error lines of its own) more
  than DEEPER_LAG later is a fault of its own, not the noise's to root (`_noise_opened`).
  All three open an incident of their own, recorded as a split in both timelines. The window opens `EARLY` before the incident's first
  alert and closes `QUIET` after its last activity: a new fingerprint, or a critical alert at one
  of its origins (a caller's repeated critical firings do not keep an incident open across faults).
- An alert that joins nothing stays pending. An incident opens when a critical alert arrives, or
  an alert of a service that logged LOG_UNWELL error lines in the CLUSTER_WINDOW before it (a
  latency warning with its service's errors behind it is a fault, not a blip), or
  when pending signals that one failure explains (a root and its callers) pile up to
  `OPEN_WEIGHT` within `CLUSTER_WINDOW`: an alert fingerprint counts 1, an anomalous series 0.5 (1
  if critical), and alerts of two fingerprints at least are needed. An isolated blip, a warning
  flapping on its own or anomalies alone never open one. A fingerprint that fired `FLAP_COUNT`
  times within `FLAP_HISTORY` is flapping: it neither opens nor spreads incidents, and it weighs
  little in the ranking. Resolved alerts never open incidents; they rejoin the incident that holds
  their firing alert.
- Evidence: warning and error logs of an incident's services and of their direct neighbours (a
  dependency, where a deeper cause shows first; a caller, where the failure spreads) within its
  window join it too, and so do anomalies of the services it already sees in trouble (detectors
  flag odd points every day: anomalies corroborate alerts, they do not stretch or steer
  incidents), so that an incident's events are what supports it, not everything that happened
  meanwhile. Raw metric points do not: their anomalies do.

Every rule reads only what a live engine could have seen when it took the decision: the log
lines timestamped up to the alert being placed. A replay stores a whole batch (hours of event time)
before correlating it; live, an alert is correlated within seconds of arriving, before the lines
logged after it.

After the assignments, the root cause of every changed incident is ranked again (correlation.rca,
with the learned ranker of correlation.ranker when one is live), with hysteresis: the root shown
changes only when the new one leads it by ROOT_HYSTERESIS; incidents.services writes a changed top
hypothesis or a higher severity to the timeline and tells incidents.hooks.
"""
from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from correlation import rca
from correlation.patterns import PatternSpec
from correlation.ranker import Ranker
from incidents.analysis import Evidence, Hypothesis, IncidentAnalysis
from incidents.fingerprints import message_signature
from incidents.models import SEVERITY_RANK, Event, Incident, Severity

EARLY = timedelta(minutes=10)
QUIET = timedelta(minutes=15)
CLUSTER_WINDOW = timedelta(minutes=10)
# An incident whose alerts have all resolved this long is over (OpenIncident.over). Was 1 min: in the
# chaos lab faults come 45-90 s apart and every next fault's front-door alerts came 36-56 s after the
# last resolution, so one incident took four faults; checked on the fuzzer before it was kept.
RESOLVED_BEFORE = timedelta(seconds=20)
FLAP_HISTORY = timedelta(hours=1)
FLAP_COUNT = 3
RESOLVE_GRACE = timedelta(hours=3)
EVIDENCE_GAP = timedelta(minutes=5)
EVIDENCE_MAX = timedelta(hours=3)
JOIN_HOPS = {0: 0.9, 1: 0.7, 2: 0.5, 3: 0.3}
CONE_HOPS = 4
JOIN_THRESHOLD = 0.2
ORIGIN_BONUS = 0.05
OPEN_WEIGHT = 3.0
LOG_UNWELL = 10  # error log lines that make a service clearly unwell, within CLUSTER_WINDOW (and let its warning open an incident)
ANOMALY_LOGS = 3  # error log lines of a service in an incident that let its anomalies join
# Hysteresis: a new ranking takes the root cause from the one shown only when its top hypothesis
# leads the shown root's by this much probability, so that a balanced incident does not flip.
ROOT_HYSTERESIS = 0.1
# A dependency of an incident's origins whose trouble starts this long after the incident's first
# signal, with nothing in the incident naming it before then, is a second fault inside the cone
# (it opens its own incident), not the deeper cause of the first (whose callers name it from the start).
DEEPER_LAG = timedelta(minutes=2)
DEEPER_ERRORS = 3  # error log lines of its own around its alert that make it clearly unwell (not a blip)
# The timeline's words for a split whose origin is unrelated to the incident it left (Correlator._unrelated_origin).
UNRELATED_REASON = "was named in the trouble of a service this incident had reached, and neither calls nor is called by its origins"
NOISE_REASON = "came while that incident held only warnings that no error line or message corroborated (noise)"
OWN_ONSET_REASON = "went wrong on its own: none of its dependencies on the way to this incident's origins was in trouble"
# An incident opened as a split (a new origin inside another's cone) takes evidence from this long
# before its origin's own errors began (host clocks and log shippers are seconds apart).
ORIGIN_SLACK = timedelta(minutes=1)

SIGNAL_TYPES = (Event.Type.ALERT, Event.Type.ANOMALY)
EVIDENCE_SEVERITIES = (Severity.WARNING, Severity.CRITICAL)
OPEN = Incident.OPEN_STATUSES


@dataclass
class Item:
    """One event as the engine sees it (a light copy, so the decisions need no model instances)."""

    pk: int
    ts: datetime
    service: str
    type: str
    severity: str
    fingerprint: str
    firing: bool
    client_id: str | None
    message: str = ""
    metric: str = ""
    attached: bool = False

    @property
    def is_signal(self) -> bool:
        return self.type in SIGNAL_TYPES

    @property
    def live(self) -> bool:
        """A firing signal of warning or critical severity: the kind that opens and extends incidents."""
        return self.is_signal and self.firing and self.severity != Severity.INFO

    @property
    def weight_key(self) -> tuple[str, float]:
        """What this signal adds to a pile-up: an alert fingerprint 1, an anomalous series 0.5 (1 if
        critical); repeats of the same fingerprint or series add nothing."""
        if self.type == Event.Type.ANOMALY:
            return f"{self.service}:{self.metric or self.fingerprint}", 1.0 if self.severity == Severity.CRITICAL else 0.5
        return self.fingerprint, 1.0


@dataclass
class Group:
    """The events of one incident that share service, type, severity, fingerprint, metric and firing state."""

    n: int
    first: datetime
    last: datetime
    pk: int  # the evidence event shown for the group
    client_id: str | None
    message: str


GroupKey = tuple  # (service, type, severity, fingerprint, metric, firing)


@dataclass
class OpenIncident:
    incident: Incident | None
    groups: dict[GroupKey, Group] = field(default_factory=dict)
    first: datetime | None = None  # first live signal
    activity: datetime | None = None  # last activity (a new fingerprint or a critical signal)
    last_event: datetime | None = None
    signal_services: set[str] = field(default_factory=set)
    fingerprints: set[str] = field(default_factory=set)
    new: list[Item] = field(default_factory=list)
    scope: set[str] = field(default_factory=set)
    known_services: set[str] = field(default_factory=set)
    live: dict[str, tuple[set[str], bool]] = field(default_factory=dict)  # service -> (fingerprints, any critical)
    unresolved: dict[str, int] = field(default_factory=dict)  # fingerprint -> firings not yet resolved
    error_logs: dict[str, int] = field(default_factory=dict)  # service -> error log lines
    fp_service: dict[str, tuple[str, bool]] = field(default_factory=dict)  # live fingerprint -> (service, critical)
    resolved_at: datetime | None = None  # the latest resolution of one of its alerts
    seed: Item | None = None
    # Open in its window, but explaining none of it (written before this one, so numbered by then).
    apart_from: list[OpenIncident] = field(default_factory=list)
    # Opened as a split (Correlator._new_origin): the new origin, and when its own errors began.
    # Evidence from before then is the other incident's; its own error lines from then on are this one's.
    origin: tuple[str, datetime] | None = None
    # Why it was split (the timeline says it); empty: the origin logged errors of its own (_new_origin).
    split_reason: str = ""

    @classmethod
    def from_groups(cls, incident: Incident, groups: dict[GroupKey, Group], topology: rca.Topology) -> OpenIncident:
        state = cls(incident=incident, groups=groups, known_services={k[0] for k in groups})
        criticals: list[tuple[str, datetime]] = []
        for (service, type_, severity, fingerprint, _metric, firing), g in groups.items():
            state.last_event = max(state.last_event or g.last, g.last)
            if type_ == Event.Type.LOG and severity == Severity.CRITICAL:
                state.error_logs[service] = state.error_logs.get(service, 0) + g.n
            if type_ != Event.Type.ALERT:
                continue
            state.signal_services.add(service)
            state.fingerprints.add(fingerprint)
            state.unresolved[fingerprint] = state.unresolved.get(fingerprint, 0) + (g.n if firing else -g.n)
            if not firing:
                state.resolved_at = max(state.resolved_at or g.last, g.last)
            if firing and severity != Severity.INFO:
                state._live(service, fingerprint, severity)
                state.first = min(state.first or g.first, g.first)
                state.activity = max(state.activity or g.first, g.first)
                if severity == Severity.CRITICAL:
                    criticals.append((service, g.last))
        # Repeated critical firings keep an incident going only where it started: a shared front
        # door that alerts critical in every fault must not keep one incident open across faults.
        origins = state.roots(topology)
        for service, last in criticals:
            if service in origins:
                state.activity = max(state.activity or last, last)
        state.first = state.first or incident.started_at
        state.activity = state.activity or incident.last_event_at
        state.last_event = state.last_event or incident.last_event_at
        if not state.signal_services and incident.root_cause_service_id:
            state.signal_services.add(incident.root_cause_service.name)
        return state

    def add(self, item: Item, *, origin: bool = True) -> None:
        """Attach `item`. A live alert extends the incident's activity when it is of a fingerprint new
        here, or critical and `origin` (at a service where the incident could have started)."""
        item.attached = True
        self.new.append(item)
        key = (item.service, item.type, item.severity, item.fingerprint, item.metric, item.firing)
        g = self.groups.get(key)
        if g is None:
            self.groups[key] = Group(1, item.ts, item.ts, item.pk, item.client_id, item.message)
        else:
            g.n += 1
            if item.ts < g.first:
                g.first, g.pk, g.client_id = item.ts, item.pk, item.client_id
            g.last = max(g.last, item.ts)
        self.last_event = max(self.last_event or item.ts, item.ts)
        if item.type != Event.Type.ALERT:
            if item.type == Event.Type.LOG and item.severity == Severity.CRITICAL:
                self.error_logs[item.service] = self.error_logs.get(item.service, 0) + 1
            return
        self.signal_services.add(item.service)
        self.unresolved[item.fingerprint] = self.unresolved.get(item.fingerprint, 0) + (1 if item.firing else -1)
        if not item.firing:
            self.resolved_at = max(self.resolved_at or item.ts, item.ts)
        if item.live:
            self._live(item.service, item.fingerprint, item.severity)
            self.first = min(self.first or item.ts, item.ts)
            if item.fingerprint not in self.fingerprints or (item.severity == Severity.CRITICAL and origin):
                self.activity = max(self.activity or item.ts, item.ts)
        self.fingerprints.add(item.fingerprint)

    def _live(self, service: str, fingerprint: str, severity: str) -> None:
        fps, critical = self.live.get(service, (set(), False))
        fps.add(fingerprint)
        self.live[service] = (fps, critical or severity == Severity.CRITICAL)
        was = self.fp_service.get(fingerprint, (service, False))[1]
        self.fp_service[fingerprint] = (service, was or severity == Severity.CRITICAL)

    def active(self) -> dict[str, tuple[set[str], bool]]:
        """The live signals still firing (not resolved), per service: (fingerprints, any critical)."""
        out: dict[str, tuple[set[str], bool]] = {}
        for fp, (service, critical) in self.fp_service.items():
            if self.unresolved.get(fp, 0) > 0:
                fps, crit = out.get(service, (set(), False))
                out[service] = (fps | {fp}, crit or critical)
        return out

    def over(self, at: datetime) -> bool:
        """Whether every alert of this incident had resolved (RESOLVED_BEFORE or more) before `at`:
        its signals are over, it takes no new trouble (a later fault opens its own incident)."""
        if not self.fp_service or self.resolved_at is None or at < self.resolved_at + RESOLVED_BEFORE:
            return False
        return all(self.unresolved.get(fp, 0) <= 0 for fp in self.fp_service)

    def noise_only(self, topology: rca.Topology) -> bool:
        """Whether nothing here says a fault is under way: warnings alone (no critical alert), no
        service with DEEPER_ERRORS error lines here, and no alert naming a service it calls (a noise
        storm's "ScrapeTimeout on api", chatty warnings that happened to pile up)."""
        if any(critical for _service, critical in self.fp_service.values()) or not self.fp_service:
            return False
        if any(n >= DEEPER_ERRORS for n in self.error_logs.values()):
            return False
        for (service, type_, _sev, _fp, _metric, _firing), g in self.groups.items():
            if type_ == Event.Type.ALERT and any(rca.names(g.message.lower(), d) for d in topology.deps.get(service, ())):
                return False
        return True

    def alerting_roots(self, topology: rca.Topology) -> set[str]:
        """The deepest of its clearly unwell services (else of its live ones, else of every one
        with a signal here): where its alerts alone say it started (`roots` adds the dependencies
        logging errors)."""
        return roots(topology, strong(self.live) or set(self.live) or self.signal_services)

    def roots(self, topology: rca.Topology, logging: set[str] = frozenset()) -> set[str]:
        """Where this incident could have started: the deepest of its clearly unwell services (a
        critical signal, several fingerprints), or a dependency of those logging errors right now (a
        root may not alert: `logging` names the services logging errors, whose logs may not be here
        yet). Error logs attached as evidence do not count: a neighbour's errors are evidence, not
        a place where this incident started."""
        unwell = strong(self.live)
        base = self.alerting_roots(topology)
        below = {d for s in base for d, hops in topology.downstream(s).items() if 0 < hops <= CONE_HOPS}
        return roots(topology, (unwell | (logging & below)) or set(self.live) or self.signal_services)

    def named_roots(self, topology: rca.Topology) -> set[str]:
        """The dependencies that the alerts of its origins (`alerting_roots`) name, still firing:
        where its trouble points when that service does not alert or log (a blackholed store, a
        third party: "calls to cassandra-events failing")."""
        origins = self.alerting_roots(topology)
        named: set[str] = set()
        for (service, type_, _sev, fp, _metric, firing), g in self.groups.items():
            if service in origins and type_ == Event.Type.ALERT and firing and g.message and self.unresolved.get(fp, 0) > 0:
                text = g.message.lower()
                named.update(d for d in topology.deps.get(service, ()) if rca.names(text, d))
        return named

    def explains(self, service: str, topology: rca.Topology, logging: set[str] = frozenset(),
                 names: set[str] = frozenset()) -> tuple[bool, set[str]]:
        """Whether trouble at `service` belongs to this incident by where it sits, and the origins
        it was measured from. It does when it calls one of the incident's origins (the failure
        spread to it, even late), or when it is a dependency of an origin still in trouble (a deeper
        cause). A dependency of an origin that has recovered, or a sibling that only shares a
        caller with it (a front door that alerts in every fault), is a new origin of its own;
        unless what its alert `names` is what this incident's origins name (`named_roots`): the
        callers of one silent dependency are one fault, whichever of them alerted first."""
        origins = self.roots(topology, logging)
        if self.origin is not None:  # a split's origin, silent maybe: its callers join it
            origins = origins | {self.origin[0]}
        silent = names & self.named_roots(topology) if names else set()
        origins = origins | silent
        active = self.active()
        current = {r for r in origins if r in active or r in logging or r in silent or (self.origin is not None and r == self.origin[0])}
        for r in origins:
            hops = topology.upstream(r).get(service)
            if hops is not None and hops <= CONE_HOPS:
                return True, origins
        return in_cone(topology, service, current), origins

    def late_dependency(self, item: Item, topology: rca.Topology) -> datetime | None:
        """When `item` is an alert of a dependency of this incident's origins (below them, not a
        caller), new here, that went wrong more than DEEPER_LAG after the incident's first signal:
        the deadline (first + DEEPER_LAG) by which something here must have named it for it to be
        the deeper cause. None otherwise (it joins, or not, by where it sits)."""
        if item.type != Event.Type.ALERT or item.service in self.signal_services or self.first is None:
            return None
        deadline = self.first + DEEPER_LAG
        if item.ts <= deadline:
            return None
        origins = self.alerting_roots(topology)
        if item.service in origins or any(item.service in topology.upstream(o) for o in origins):
            return None
        if not any(topology.downstream(o).get(item.service) for o in origins):
            return None
        return deadline

    def late_caller(self, item: Item, topology: rca.Topology) -> bool:
        """Whether `item` is an alert of a caller of this incident's origins (where its failure
        spreads), new here, that went wrong more than DEEPER_LAG after the incident's first signal:
        a service that may be a new origin of its own (Correlator._new_origin weighs its evidence)."""
        if item.type != Event.Type.ALERT or self.unresolved.get(item.fingerprint, 0) > 0 or self.first is None:
            return False
        if item.ts <= self.first + DEEPER_LAG:
            return False
        origins = self.alerting_roots(topology)
        return item.service not in origins and any(0 < topology.upstream(o).get(item.service, CONE_HOPS + 1) <= CONE_HOPS for o in origins)

    def affinity(self, item: Item, topology: rca.Topology, *, chronic: bool, logging: set[str] = frozenset()) -> float:
        """How strongly a signal belongs here (0: not at all)."""
        if item.ts < self.first - EARLY:
            return 0.0
        if not item.live:
            # A resolution only rejoins the incident that holds its firing alert, still unresolved
            # (an info alert, only the incident that holds its fingerprint).
            if item.fingerprint in self.fingerprints and item.ts <= self.activity + RESOLVE_GRACE:
                if item.firing or self.unresolved.get(item.fingerprint, 0) > 0:
                    return 1.0
            return 0.0
        if item.ts > self.activity + QUIET or self.over(item.ts):
            return 0.0
        active = self.active()
        if self.unresolved.get(item.fingerprint, 0) > 0 or (chronic and item.fingerprint in self.fingerprints):
            relation = 1.0
        elif item.service in active:
            relation = JOIN_HOPS[0]
        elif chronic or not (explained := self.explains(item.service, topology, logging, named_in(item, topology)))[0]:
            return 0.0
        else:
            origins = explained[1]
            # Hops to the nearest service still in trouble, its origin included (a silent dependency
            # logging errors, which its other callers reach through it). A service that alerted
            # here before and recovered is a new episode: it joins by where it sits, like any other.
            to_origin = [h for h in (topology.distance(item.service, r) for r in origins) if h is not None]
            hops = [h for h in (topology.distance(item.service, s) for s in active) if h is not None] + to_origin
            relation = JOIN_HOPS.get(min(hops), 0.0) if hops else 0.0
            # Between two incidents as near, the one whose origin is nearer wins (a gateway that
            # calls two failing branches goes with the branch that fails closer to it).
            relation += ORIGIN_BONUS * JOIN_HOPS.get(min(to_origin), 0.0) if to_origin else 0.0
        gap = max(0.0, (item.ts - self.activity).total_seconds(), (self.first - item.ts).total_seconds())
        return relation * (0.5 + 0.5 * math.exp(-gap / QUIET.total_seconds()))

    def _origin_evidence(self, item: Item, topology: rca.Topology) -> bool:
        """Whether an incident opened as a split takes this as evidence: nothing from before its
        origin's own errors began, and none of its origin's lines that name what it calls (the
        trouble it was already in, the other incident's)."""
        service, onset = self.origin
        if item.ts < onset - ORIGIN_SLACK:
            return False
        return item.service != service or not any(rca.names(item.message.lower(), d) for d in topology.deps.get(service, ()))

    def evidence_end(self) -> datetime:
        """Evidence is accepted up to QUIET after the last activity, and further while it keeps coming."""
        return max(self.activity + QUIET, min(self.last_event + EVIDENCE_GAP, self.activity + EVIDENCE_MAX))

    def accepts_evidence(self, item: Item, topology: rca.Topology) -> bool:
        if self.origin is not None and not self._origin_evidence(item, topology):
            return False
        if item.type == Event.Type.ANOMALY:
            # Detectors flag odd points every day: an anomaly counts only where the incident
            # already sees trouble (an alert, error logs), while it is active.
            unwell = item.service in self.signal_services or self.error_logs.get(item.service, 0) >= ANOMALY_LOGS
            return unwell and self.first - EARLY <= item.ts <= self.activity + QUIET
        return item.service in self.scope and self.first - EARLY <= item.ts <= self.evidence_end()


def roots(topology: rca.Topology, services: set[str]) -> set[str]:
    """The services of a group that depend on no other service of the group: where it could have started."""
    found = {s for s in services if not (topology.downstream(s).keys() - {s}) & services}
    return found or set(services)  # a dependency cycle: every member is a candidate


def named_in(item: Item, topology: rca.Topology) -> set[str]:
    """The dependencies of its service that an alert's message names."""
    text = item.message.lower() if item.message else ""
    return {d for d in topology.deps.get(item.service, ()) if rca.names(text, d)} if text else set()


def strong(signals: dict[str, tuple[set[str], bool]]) -> set[str]:
    """The services whose trouble is clear: a critical signal, or signals of two fingerprints or more.
    A lone warning (the first flaps of a flapping alert, a blip) does not decide where a cone starts."""
    return {s for s, (fps, critical) in signals.items() if critical or len(fps) >= 2}


def in_cone(topology: rca.Topology, service: str, candidates: set[str]) -> bool:
    """Whether a failure starting at one of `candidates` explains trouble at `service`: it calls the
    candidate (the failure spread to it) or the candidate calls it (a deeper cause), within CONE_HOPS."""
    for r in candidates:
        hops = topology.upstream(r).get(service)
        if hops is None:
            hops = topology.downstream(r).get(service)
        if hops is not None and hops <= CONE_HOPS:
            return True
    return False


@dataclass
class Decision:
    """What to write for one incident: open it (state.incident is None) or update its analysis;
    the new events (state.new) are attached, and their services not yet in it (new_services)."""

    state: OpenIncident
    analysis: IncidentAnalysis
    new_services: list[int]


def is_candidate(e: Event) -> bool:
    """The events the engine places: unattached alerts and anomalies, warning and error logs."""
    return e.incident_id is None and (e.type in SIGNAL_TYPES or (e.type == Event.Type.LOG and e.severity in EVIDENCE_SEVERITIES))


def item_of(e: Event, service: str) -> Item:
    return Item(
        pk=e.pk, ts=e.timestamp, service=service, type=e.type, severity=e.severity,
        fingerprint=e.fingerprint, firing=(e.attributes or {}).get("alert_status") != "resolved",
        client_id=e.client_id, message=e.message, metric=e.metric,
    )


class Correlator:
    """The decisions for one batch. Reads through `store` (correlation.loading.Store, or an
    in-memory one in tests) and returns what to write; it writes nothing itself."""

    def __init__(self, batch: list[Item], store):
        self.batch = batch
        self.store = store
        self.topology = store.topology
        self.opens: list[OpenIncident] = []
        self.pool: list[Item] = []  # pending signals around the batch, by time
        self.pool_ts: list[datetime] = []
        self.firing_by_fp: dict[str, list[datetime]] = defaultdict(list)
        self.resolved_by_fp: dict[str, list[datetime]] = defaultdict(list)
        self.flapping: set[str] = set()  # fingerprints that fired FLAP_COUNT times within FLAP_HISTORY
        self.error_log_times: dict[str, list[datetime]] | None = None  # loaded when a cluster needs them
        self.error_lines: dict[str, list[tuple[datetime, str]]] | None = None  # loaded when a new origin is weighed
        self.error_lines_since: datetime | None = None
        self.span: tuple[datetime, datetime] | None = None
        self._patterns: list[PatternSpec] | None = None
        self._priors: dict[str, float] | None = None
        self._corrections: list[rca.Correction] | None = None
        self._ranker: tuple[Ranker | None] | None = None

    # -- loading (through the store) ----------------------------------------------------------

    def _load_open(self, lo: datetime, hi: datetime, *, resolutions: bool) -> None:
        # A resolution can rejoin an incident long quiet; anything else only one within QUIET.
        since = lo - (RESOLVE_GRACE if resolutions else QUIET)
        self.opens = [
            OpenIncident.from_groups(
                incident, {key: Group(r["n"], r["first"], r["last"], r["pk"], None, r["message"]) for key, r in groups}, self.topology
            )
            for incident, groups in self.store.open_incidents(since=since, started_before=hi + EARLY)
        ]

    def _load_pool(self, lo: datetime, hi: datetime) -> None:
        """The signals around the batch: the pending ones (the pool), and the firing and resolving
        history of every fingerprint, attached or not, to tell flapping alerts and resolved ones."""
        for pk, ts, service, type_, sev, fp, firing, cid, msg, metric, incident_id in self.store.signals(
            since=lo - FLAP_HISTORY, until=hi + CLUSTER_WINDOW
        ):
            item = Item(pk, ts, service, type_, sev, fp, firing, cid, msg, metric)
            if item.live:
                self.firing_by_fp[fp].append(ts)
            elif not item.firing:
                self.resolved_by_fp[fp].append(ts)
            if incident_id is None:
                self.pool.append(item)
        self.pool_ts = [i.ts for i in self.pool]
        for fp, times in self.firing_by_fp.items():
            if any(times[i + FLAP_COUNT - 1] - times[i] <= FLAP_HISTORY for i in range(len(times) - FLAP_COUNT + 1)):
                self.flapping.add(fp)

    @property
    def patterns(self) -> list[PatternSpec]:
        if self._patterns is None:
            self._patterns = self.store.patterns()
        return self._patterns

    @property
    def priors(self) -> dict[str, float]:
        if self._priors is None:
            self._priors = self.store.priors()
        return self._priors

    @property
    def corrections(self) -> list[rca.Correction]:
        if self._corrections is None:
            self._corrections = self.store.corrections()
        return self._corrections

    @property
    def ranker(self) -> Ranker | None:
        if self._ranker is None:
            self._ranker = (self.store.ranker(),)
        return self._ranker[0]

    # -- deciding ------------------------------------------------------------------------------

    def _chronic(self, item: Item) -> bool:
        """Whether the alert fired FLAP_COUNT times in the hour up to this firing: it is flapping."""
        times = self.firing_by_fp.get(item.fingerprint, [])
        return bisect.bisect_right(times, item.ts) - bisect.bisect_left(times, item.ts - FLAP_HISTORY) >= FLAP_COUNT

    def _cluster(self, seed: Item) -> list[Item]:
        """The pending live signals shortly before `seed` that one failure explains together with it.

        A failure spreads upwards, to the services that call the failing one: the cluster is a
        root (`seed`'s service or a service it depends on) and the pending signals of the services
        that call it, directly or not. Roots that are clearly unwell themselves (see `strong`, or
        logging errors) come first; a silent shared dependency is tried only for weak signals when
        nothing else opens an incident (three callers of the database warning at once), because
        below every service sits a hub (DNS, the database) that would otherwise chain unrelated
        failures together, as an API gateway would from above if signals were linked pairwise.
        An alert already resolved before `seed` fired is over: it is not part of this."""
        # What is pending up to `seed`: later signals of the batch are placed in their turn, among
        # every incident open by then (as they would be, had they arrived in a later batch).
        lo = bisect.bisect_left(self.pool_ts, seed.ts - CLUSTER_WINDOW)
        hi = bisect.bisect_right(self.pool_ts, seed.ts)
        nearby = [
            i for i in self.pool[lo:hi]
            if i is not seed and not i.attached and i.live and not self._chronic(i) and not self._over(i, seed.ts)
        ]
        pending: dict[str, tuple[set[str], bool]] = {}
        for i in nearby:
            if i.type != Event.Type.ALERT:
                continue
            fps, critical = pending.get(i.service, (set(), False))
            pending[i.service] = (fps | {i.fingerprint}, critical or i.severity == Severity.CRITICAL)
        candidates = [r for r, hops in self.topology.downstream(seed.service).items() if hops <= CONE_HOPS]
        unwell = strong(pending) | {seed.service} | self._logging_errors(seed.ts)
        cluster = self._best_cluster(seed, nearby, [r for r in candidates if r in unwell])
        if self._opens(cluster):
            return cluster
        # Weak signals only: one that is clear on its own will open its own incident.
        weak = [i for i in nearby if i.service not in strong(pending)]
        return self._best_cluster(seed, weak, candidates)

    def _late_unnamed(self, state: OpenIncident, item: Item) -> bool:
        """A second fault inside an incident's cone: `item` is an alert of a dependency of its origins
        that went wrong well after it started (OpenIncident.late_dependency), is clearly unwell on its
        own now (error logs of its own up to the alert: a lone blip is no new fault), and by then
        had neither logged errors itself nor been named in its callers' messages. A deeper cause
        shows from the start, in its own lines or its callers' errors ("timeout calling payments");
        a fault that starts there later does not."""
        deadline = state.late_dependency(item, self.topology)
        if deadline is None or self._errors_before(item.service, item.ts - CLUSTER_WINDOW, item.ts) < DEEPER_ERRORS:
            return False
        callers = set(self.topology.dependants.get(item.service, ())) & (state.known_services | state.signal_services | {i.service for i in state.new})
        if self._errors_before(item.service, state.first - EARLY, deadline) >= DEEPER_ERRORS:
            return False  # it was logging errors itself from the start
        for (service, _type, _sev, _fp, _metric, _firing), g in state.groups.items():
            if service in callers and g.first <= deadline and rca.names(g.message.lower(), item.service):
                return False
        for _pk, _ts, _service, _sev, _fp, _cid, msg in self.store.pending_logs(services=callers, since=state.first - EARLY, until=deadline):
            if rca.names(msg.lower(), item.service):
                return False
        return True

    def _new_origin(self, state: OpenIncident, item: Item) -> tuple[str, datetime] | None:
        """A new origin inside an incident's cone and when its own errors began, or None. `item` is an alert of a caller of the
        incident's origins that went wrong well after it started (OpenIncident.late_caller). A
        caller that the incident's failure reached logs that failure's errors: it names the
        dependency it calls ("timeout calling payments"), or logs what other services log then ("no
        healthy upstream" through a broken mesh). Follow what its errors name, down the chain, to a
        service whose errors are its own (naming nothing it calls: a bad deploy, its pool, its
        heap) and began only after the incident's first signal: that service is a second fault's
        origin, and the alert opens an incident of its own. A chain that ends at the incident's
        origins, or at a service whose own errors were there from the start, is this incident's."""
        if not state.late_caller(item, self.topology):
            return None
        lo, hi = min(state.first - EARLY, item.ts - CLUSTER_WINDOW), item.ts  # what had arrived by the alert
        service, seen = item.service, set()
        while service not in seen:
            seen.add(service)
            own = self._own_errors(service, lo, hi)
            before = bisect.bisect_right(own, state.first + DEEPER_LAG)
            if len(own) - before >= DEEPER_ERRORS:
                return (service, own[before]) if before < DEEPER_ERRORS else None
            service = self._named_dependency(service, lo, hi)
            if service is None:
                return None
        return None

    def _late_deeper(self, state: OpenIncident, item: Item) -> tuple[str, datetime] | None:
        """A second fault deeper down, seen through its callers: `item` is a late alert (more than
        DEEPER_LAG after the incident's first signal, not already firing there) whose errors,
        followed down what they name, end at a dependency of the incident's origins, not in it yet,
        that nothing named and that logged no errors of its own until then: it went wrong after
        the incident began (a deeper cause is named from the start). That dependency is a new origin
        (a silent one, often: a blackholed store, a third party), and the alert opens its own
        incident. The mirror of _new_origin; _late_unnamed is the same test on the dependency's own alert."""
        if item.type != Event.Type.ALERT or state.first is None or item.ts <= state.first + DEEPER_LAG:
            return None
        if state.unresolved.get(item.fingerprint, 0) > 0:
            return None
        lo, hi = min(state.first - EARLY, item.ts - CLUSTER_WINDOW), item.ts  # what had arrived by the alert
        end = self._named_chain(item.service, lo, hi, {item.service})
        if end == item.service or end in state.signal_services:
            return None
        origins = state.alerting_roots(self.topology)
        if end in origins or not any(self.topology.downstream(o).get(end) for o in origins):
            return None
        deadline = state.first + DEEPER_LAG
        since = state.first - EARLY
        if sum(1 for ts in self._own_errors(end, since, deadline)) >= DEEPER_ERRORS:
            return None  # it was in trouble from the start: the deeper cause
        naming = sorted(ts for other, lines in self.error_lines.items() if other != end
                        for ts, message in lines if since <= ts <= hi and rca.names(message.lower(), end))
        if not naming or naming[0] <= deadline:
            return None  # named from the start: the deeper cause
        return end, naming[0]

    def _unrelated_origin(self, state: OpenIncident, item: Item) -> tuple[str, datetime] | None:
        """Trouble that another origin explains: `item` is a new alert (not one already firing
        here) that would join this incident by where it sits (a caller of its origins, or a service
        already alerting here for them), but what it names, followed down the chain (its own message
        first, "calls to redis-sessions failing", then the dependency most of its error lines name),
        ends at a service that neither calls this incident's origins nor is called by them, and is
        not in it: a second fault that shares only a caller with this one. That service is a new
        origin (silent, maybe) from when it was first named or logged errors of its own, and the
        alert opens an incident of its own. No time rule: topology alone says the two are unrelated."""
        if item.type != Event.Type.ALERT or not item.live or state.first is None or state.unresolved.get(item.fingerprint, 0) > 0:
            return None
        # What it logged up to its alert (from DEEPER_LAG before): in dense trouble, lines from
        # further back are other faults'; later ones had not arrived.
        lo, hi = item.ts - DEEPER_LAG, item.ts
        end = self._chain_end(item.service, lo, hi, [item.message])
        if end == item.service or end in state.signal_services or end in state.live:
            return None
        # Where this incident's own trouble points: what its origins name, down the chain.
        origins = state.alerting_roots(self.topology)
        messages = defaultdict(list)
        for (service, type_, _sev, _fp, _metric, _firing), g in state.groups.items():
            if service in origins and type_ == Event.Type.ALERT and g.message:
                messages[service].append(g.message)
        ends = {self._chain_end(o, state.first - DEEPER_LAG, hi, messages[o]) for o in origins}
        if state.origin is not None:
            ends.add(state.origin[0])
        if end in ends or in_cone(self.topology, end, ends):
            return None  # its spread, or a deeper cause (_late_deeper weighs that by time)
        since = [item.ts, *self._own_errors(end, lo, hi)]
        since += [ts for other, lines in self.error_lines.items() if other != end
                  for ts, message in lines if lo <= ts <= hi and rca.names(message.lower(), end)]
        return end, min(since)

    def _own_onset(self, state: OpenIncident, item: Item) -> tuple[str, datetime] | None:
        """A caller that went wrong on its own: `item` is an alert of a service new here that calls
        this incident's origins only through other services (two hops or more), names none of its
        dependencies, and none of its dependencies on the way to those origins is in trouble (in
        this incident, logging errors, or named in its own lines) between the incident's first
        signal and the alert: a failure spreads hop by hop, so trouble that reached it from the
        origins would be seen on the way. It is an origin of its own (healthy dependencies, its own
        onset), and the alert opens an incident of its own, however early it comes."""
        if item.type != Event.Type.ALERT or not item.live or state.first is None or item.service in state.signal_services:
            return None
        origins = state.alerting_roots(self.topology)
        hops = [h for o in origins if (h := self.topology.upstream(o).get(item.service)) is not None]
        if not hops or min(hops) < 2 or min(hops) > CONE_HOPS:
            return None
        deps = self.topology.deps.get(item.service, ())
        text = item.message.lower()
        if any(rca.names(text, d) for d in deps):
            return None
        on_way = {d for d in deps if any(0 < self.topology.upstream(o).get(d, CONE_HOPS + 1) <= CONE_HOPS for o in origins)}
        lo, hi = state.first - EARLY, item.ts
        own = self._own_errors(item.service, lo, hi)  # (loads error_lines)
        for d in on_way:
            if d in state.signal_services or d in state.live:
                return None
            if sum(1 for ts, _m in self.error_lines.get(d, ()) if lo <= ts <= hi) >= DEEPER_ERRORS:
                return None
            if any(lo <= ts <= hi and rca.names(m.lower(), d) for ts, m in self.error_lines.get(item.service, ())):
                return None
        if not on_way:
            return None
        return item.service, min([item.ts, *own])

    def _noise_opened(self, state: OpenIncident, item: Item) -> tuple[str, datetime] | None:
        """A fault arriving in an incident that noise opened: `item` is an alert of a service not
        alerting here yet (a service's own warnings turning critical are one trouble), more than
        DEEPER_LAG after the incident's first signal, that is clear trouble
        (critical, naming a service it calls, or after DEEPER_ERRORS error lines of its service),
        while nothing in the incident is (OpenIncident.noise_only). Joining would leave the
        incident rooted where the noise pointed (its onsets come first); the fault is an origin of
        its own, where what it names ends, and the alert opens an incident of its own. Only what
        had arrived by the alert is read."""
        if item.type != Event.Type.ALERT or not item.live or state.first is None or item.service in state.signal_services:
            return None
        if item.ts <= state.first + DEEPER_LAG or not state.noise_only(self.topology):
            return None
        # Its services' error lines, attached here or not yet (evidence is placed after the signals).
        if any(self._errors_before(s, state.first - EARLY, item.ts) >= DEEPER_ERRORS for s in state.signal_services - {item.service}):
            return None
        erring = self._errors_before(item.service, item.ts - CLUSTER_WINDOW, item.ts) >= DEEPER_ERRORS
        if not (item.severity == Severity.CRITICAL or erring or named_in(item, self.topology)):
            return None
        lo, hi = item.ts - DEEPER_LAG, item.ts
        end = self._chain_end(item.service, lo, hi, [item.message])
        return end, min([item.ts, *self._own_errors(end, lo, hi)])

    def _chain_end(self, service: str, lo: datetime, hi: datetime, messages: list[str] = ()) -> str:
        """Where `service`'s trouble points: the one dependency its alerts' `messages` name (else,
        unless it logs errors of its own, the one most of its error lines name), followed down what
        each next one's error lines name; `service` itself when it names nothing."""
        deps = self.topology.deps.get(service, ())
        named = {d for m in messages for d in deps if rca.names(m.lower(), d)}
        if len(named) != 1 and len(self._own_errors(service, lo, hi)) >= DEEPER_ERRORS:
            return service  # its alerts name nothing, and it logs errors of its own: its trouble is its own
        end = next(iter(named)) if len(named) == 1 else self._named_dependency(service, lo, hi)
        if end is None:
            return service
        return self._named_chain(end, lo, hi, {service, end})

    def _named_chain(self, service: str, lo: datetime, hi: datetime, seen: set[str]) -> str:
        """Follow what error lines name (`_named_dependency`) down from `service`, never back to
        a service in `seen`; the last one reached."""
        end = service
        while (nxt := self._named_dependency(end, lo, hi)) is not None and nxt not in seen:
            end = nxt
            seen.add(end)
        return end

    def _named_dependency(self, service: str, lo: datetime, hi: datetime) -> str | None:
        """The dependency of `service` that most of its error lines between `lo` and `hi` name
        (DEEPER_ERRORS of them at least), or None."""
        self._own_errors(service, lo, hi)  # loads error_lines
        counts: dict[str, int] = defaultdict(int)
        deps = self.topology.deps.get(service, ())
        for ts, message in self.error_lines.get(service, ()):
            if lo <= ts <= hi:
                text = message.lower()
                for d in deps:
                    if rca.names(text, d):
                        counts[d] += 1
        best = max(counts, key=lambda d: (counts[d], d), default=None)
        return best if best is not None and counts[best] >= DEEPER_ERRORS else None

    def _own_errors(self, service: str, lo: datetime, hi: datetime) -> list[datetime]:
        """The times of `service`'s error lines between `lo` and `hi` that name none of its
        dependencies and whose kind (the message without its numbers) no other service logged then."""
        if self.error_lines is None or lo < self.error_lines_since:
            self.error_lines_since = min(lo, self.span[0] - 2 * CLUSTER_WINDOW)
            self.error_lines = self.store.error_log_lines(since=self.error_lines_since, until=self.span[1] + 2 * CLUSTER_WINDOW)
        kinds: dict[str, set[str]] = defaultdict(set)
        for other, lines in self.error_lines.items():
            for ts, message in lines:
                if lo <= ts <= hi:
                    kinds[message_signature(message)].add(other)
        deps = self.topology.deps.get(service, ())
        return [
            ts for ts, message in self.error_lines.get(service, ())
            if lo <= ts <= hi and kinds[message_signature(message)] == {service} and not any(rca.names(message.lower(), d) for d in deps)
        ]

    def _erring(self, item: Item) -> bool:
        """Whether `item`'s service logged LOG_UNWELL error lines or more in the CLUSTER_WINDOW up to
        it: its alert is corroborated, not a blip."""
        return self._errors_before(item.service, item.ts - CLUSTER_WINDOW, item.ts) >= LOG_UNWELL

    def _errors_before(self, service: str, lo: datetime, at: datetime) -> int:
        """How many error lines `service` logged from `lo` up to `at`. Only lines from before the
        decision at `at` count: a replay holds later ones too; live, they would not have come yet."""
        times = self._error_times().get(service, [])
        return bisect.bisect_right(times, at) - bisect.bisect_left(times, lo)

    def _error_times(self) -> dict[str, list[datetime]]:
        """Every service's error log lines' times around the batch's span, sorted (loaded once)."""
        if self.error_log_times is None:
            lo, hi = self.span
            self.error_log_times = self.store.error_log_times(since=lo - 2 * CLUSTER_WINDOW, until=hi + CLUSTER_WINDOW)
        return self.error_log_times

    def _logging_errors(self, at: datetime) -> set[str]:
        """The services with LOG_UNWELL error log lines or more in the CLUSTER_WINDOW up to `at`
        (a decision at `at` sees only what had arrived by then)."""
        return {service for service in self._error_times() if self._errors_before(service, at - CLUSTER_WINDOW, at) >= LOG_UNWELL}

    def _best_cluster(self, seed: Item, nearby: list[Item], candidates: list[str]) -> list[Item]:
        best, best_weight = [seed], self._weight([seed])
        for root in candidates:
            up = self.topology.upstream(root)
            members = [seed, *(i for i in nearby if up.get(i.service, CONE_HOPS + 1) <= CONE_HOPS)]
            weight = self._weight(members)
            if weight > best_weight:
                best, best_weight = members, weight
        return best

    def _over(self, item: Item, at: datetime) -> bool:
        """Whether a firing alert was resolved (as far as we know yet) a minute or more before `at`."""
        times = self.resolved_by_fp.get(item.fingerprint)
        if not times:
            return False
        i = bisect.bisect_left(times, item.ts)
        return i < len(times) and times[i] <= at - RESOLVED_BEFORE

    @staticmethod
    def _weight(items: list[Item], *, alerts_only: bool = False) -> float:
        weights: dict[str, float] = {}
        for i in items:
            if alerts_only and i.type != Event.Type.ALERT:
                continue
            key, w = i.weight_key
            weights[key] = w
        return sum(weights.values())

    def _opens(self, cluster: list[Item]) -> bool:
        """A critical alert opens an incident, and so does an alert its service's errors
        corroborate (`_erring`); otherwise the pile-up must weigh OPEN_WEIGHT, with
        alerts of two fingerprints at least: anomalies corroborate, but detectors flag odd points
        every day, so anomalies and a blip do not make an incident."""
        if any(i.severity == Severity.CRITICAL and i.type == Event.Type.ALERT for i in cluster):
            return True
        if any(i.type == Event.Type.ALERT and self._erring(i) for i in cluster):
            return True
        return self._weight(cluster, alerts_only=True) >= 2 and self._weight(cluster) >= OPEN_WEIGHT

    def _place_signal(self, item: Item) -> None:
        """An alert joins the incident it belongs to, or opens one with the pending signals around
        it, or waits. (Anomalies are placed as evidence, and counted in the alerts' pile-ups.)"""
        if item.type != Event.Type.ALERT:
            return
        chronic = item.live and self._chronic(item)
        logging = self._logging_errors(item.ts) if self.opens and item.live else set()
        best, best_score = None, JOIN_THRESHOLD
        origin_of, split_from, reason = None, [], ""  # a new origin inside incidents' cones: it opens its own on that evidence
        for state in self.opens:
            score = state.affinity(item, self.topology, chronic=chronic, logging=logging)
            if score <= best_score or self._late_unnamed(state, item):
                continue
            if (found := self._noise_opened(state, item)) is not None:
                origin_of, reason = found, NOISE_REASON
                split_from.append(state)
                continue
            if (found := self._new_origin(state, item) or self._late_deeper(state, item)) is not None:
                origin_of, reason = found, ""
                split_from.append(state)
                continue
            if (found := self._unrelated_origin(state, item)) is not None:
                origin_of, reason = found, UNRELATED_REASON
                split_from.append(state)
                continue
            if (found := self._own_onset(state, item)) is not None:
                origin_of, reason = found, OWN_ONSET_REASON
                split_from.append(state)
                continue
            best, best_score = state, score
        if best is not None:
            best.add(item, origin=False)
            if item.live and item.severity == Severity.CRITICAL and item.service in best.roots(self.topology, logging):
                best.activity = max(best.activity, item.ts)
            return
        if not item.live or chronic:
            return  # stays pending
        cluster = self._cluster(item)
        if origin_of is not None or self._opens(cluster):
            # A split by evidence: incidents open at that time that this trouble did not join.
            apart = split_from or [s for s in self.opens if s.incident is not None and s.first - EARLY <= item.ts <= s.activity + QUIET]
            state = OpenIncident(incident=None, seed=min(cluster, key=lambda i: (i.ts, i.pk)), apart_from=apart, origin=origin_of,
                                 split_reason=reason if origin_of is not None else "")
            for member in sorted(cluster, key=lambda i: i.ts):
                state.add(member)
            self.opens.append(state)
            self._sweep(state, until=item.ts)

    def _sweep(self, state: OpenIncident, *, until: datetime) -> None:
        """Pending signals around a new incident that belong to it join it (a deeper cause's lone
        warning that came first; the resolutions of its alerts that arrived with them). Only up to
        the alert that opened it: later ones are placed in their turn, among every incident open
        by then."""
        lo = bisect.bisect_left(self.pool_ts, state.first - EARLY)
        hi = bisect.bisect_right(self.pool_ts, until)
        for item in self.pool[lo:hi]:
            if item.attached or item.type != Event.Type.ALERT or (item.live and self._over(item, state.first)):
                continue
            if state.affinity(item, self.topology, chronic=item.live and self._chronic(item)) > JOIN_THRESHOLD:
                state.add(item)

    def _scopes(self) -> None:
        """Where an incident takes evidence from: its signalling services and their direct neighbours
        (a dependency, where a deeper cause shows first; a caller, where the failure spreads)."""
        deps, callers = self.topology.deps, self.topology.dependants
        for state in self.opens:
            state.scope = set(state.signal_services)
            if state.origin is not None:  # a split's origin (silent, maybe) and the callers naming it
                state.scope.update({state.origin[0]}, callers.get(state.origin[0], ()))
            for s in state.signal_services:
                state.scope.update(deps.get(s, ()), callers.get(s, ()))

    def _place_evidence(self, items: list[Item]) -> None:
        for item in sorted(items, key=lambda i: i.ts):
            if item.attached:
                continue
            fits = [s for s in self.opens if s.accepts_evidence(item, self.topology)]
            if fits:
                # The incident whose trouble is at that service and already under way at that time
                # (not one that starts minutes later and only reaches back to it).
                # A split's origin's lines from its own onset on go with the split.
                # A line from before every such incident goes to the one that began soonest after it.
                max(fits, key=lambda s: (s.origin is not None and (item.service == s.origin[0] or rca.names(item.message.lower(), s.origin[0])),
                                         item.service in s.signal_services,
                                         s.first <= item.ts, s.activity if s.first <= item.ts else item.ts - s.first)).add(item)

    def _backfill(self, touched: list[OpenIncident], exclude: set[int]) -> list[Item]:
        """Earlier evidence of the incidents this batch opened or grew: logs stored before they opened."""
        services = {s for st in touched for s in st.scope}
        lo = min(st.first for st in touched) - EARLY
        hi = max(st.activity for st in touched) + EVIDENCE_MAX
        return [
            Item(pk, ts, service, Event.Type.LOG, sev, fp, True, cid, msg)
            for pk, ts, service, sev, fp, cid, msg in self.store.pending_logs(services=services, since=lo, until=hi)
            if pk not in exclude
        ]

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> list[Decision]:
        """What this batch changes: one Decision per incident to open or update."""
        items = self.batch
        lo, hi = min(i.ts for i in items), max(i.ts for i in items)
        self.span = (lo, hi)
        self._load_open(lo, hi, resolutions=any(i.is_signal and not i.live for i in items))
        batch_signals = {i.pk for i in items if i.is_signal}
        if not batch_signals and not self.opens:
            return []
        if batch_signals:
            self._load_pool(lo, hi)
            # The pool holds only what is still pending: a concurrent request may have taken some.
            for item in [i for i in self.pool if i.pk in batch_signals]:
                if not item.attached:
                    self._place_signal(item)
        self._scopes()
        in_scope = set().union(*(s.scope for s in self.opens)) if self.opens else set()
        logs = [i for i in items if not i.is_signal and i.service in in_scope]
        if logs:
            taken = self.store.attached([i.pk for i in logs])
            logs = [i for i in logs if i.pk not in taken]
        self._place_evidence(logs + [i for i in self.pool if i.type == Event.Type.ANOMALY and not i.attached])
        touched = [s for s in self.opens if s.incident is None or any(i.is_signal for i in s.new)]
        if touched:
            self._place_evidence(self._backfill(touched, exclude={i.pk for i in items}))
        changed = [s for s in self.opens if s.new]
        if changed and not batch_signals:
            self._load_pool(lo, hi)  # which alerts flap: the ranking needs it, whatever the batch held
        return self._decide(changed)

    # -- the outcome ---------------------------------------------------------------------------

    def _signals_of(self, state: OpenIncident) -> dict[str, rca.ServiceSignals]:
        by_service: dict[str, rca.ServiceSignals] = {}
        texts: dict[str, set[str]] = defaultdict(set)
        for (service, type_, severity, fp, metric, firing), g in state.groups.items():
            sig = by_service.get(service)
            if sig is None:
                sig = by_service[service] = rca.ServiceSignals(service=service, tier=self.topology.tier(service))
            if g.message:
                texts[service].add(g.message.lower()[:300])
            onset = None
            if type_ in SIGNAL_TYPES and firing and (fp in self.flapping or g.n >= FLAP_COUNT):
                # A flapping alert says little about where this started: weak evidence, no onset.
                sig.warning_logs += g.n
                weight = 0.1
            elif type_ in SIGNAL_TYPES and firing and severity != Severity.INFO:
                if type_ == Event.Type.ALERT:
                    onset = g.first
                    sig.alerts += g.n
                    if severity == Severity.CRITICAL:
                        sig.critical += g.n
                else:
                    onset = g.first if g.n >= 2 else None  # a series that stays odd, not one point
                    sig.anomalies += g.n
                if sig.max_severity is None or SEVERITY_RANK[severity] > SEVERITY_RANK[sig.max_severity]:
                    sig.max_severity = severity
                if metric:
                    sig.metrics.add(metric)
                weight = 1.0 if severity == Severity.CRITICAL else 0.7
                if type_ == Event.Type.ANOMALY:
                    weight *= 0.8
            elif type_ == Event.Type.LOG:
                if severity == Severity.CRITICAL:
                    sig.error_logs += g.n
                    if g.n >= 3:  # a repeated error, not a stray line
                        onset = g.first
                else:
                    sig.warning_logs += g.n
                weight = (0.4 if severity == Severity.CRITICAL else 0.2) * min(1.0, 0.5 + g.n / 10)
            else:
                weight = 0.1
            if onset is not None and (sig.onset is None or onset < sig.onset):
                sig.onset = onset
            sig.evidence.append((weight, g.pk, g.client_id))
        for service, sig in by_service.items():
            sig.text = "\n".join(sorted(texts[service]))
        self._new_templates(state, by_service)
        return by_service

    def _new_templates(self, state: OpenIncident, by_service: dict[str, rca.ServiceSignals]) -> None:
        """Log templates as evidence: the kinds of warning and error line each service logged in the
        incident's window (from EARLY before its first signal) that it never logged the day before."""
        if not state.groups:
            return
        lo = (state.first or min(g.first for g in state.groups.values())) - EARLY
        hi = max(state.last_event or lo, max(g.last for g in state.groups.values()))
        for service, rows in self.store.log_templates(services=set(by_service), since=lo, until=hi).items():
            new = [r for r in rows if r[5]]
            if not new:
                continue
            sig = by_service[service]
            sig.new_templates = len(new)
            sig.new_template_lines = sum(r[3] for r in new)
            sig.new_templates_onset = min(r[2] for r in new)
            # Its messages, not the templates' texts: a dependency's name may be a template's parameter.
            sig.new_templates_text = "\n".join(sorted({m.lower()[:300] for r in new for m in r[6]}))
            shown = {pk for _, pk, _ in sig.evidence}
            for _tid, _text, _first, n, pk, _new, _messages in sorted(new, key=lambda r: (-r[3], r[4]))[:2]:
                if pk not in shown:
                    sig.evidence.append((0.3 * min(1.0, 0.5 + n / 10), pk, None))

    def _decide(self, changed: list[OpenIncident]) -> list[Decision]:
        if not changed:
            return []
        results = [
            (state, hold_root(state.incident, rca.rank(
                signals=self._signals_of(state), topology=self.topology, patterns=self.patterns, priors=self.priors, ranker=self.ranker,
                corrections=self.corrections,
            )))
            for state in changed
        ]
        self._fill_client_ids(results)
        return [Decision(state=state, analysis=self._analysis(state, result), new_services=self._new_services(state)) for state, result in results]

    def _fill_client_ids(self, results: list[tuple[OpenIncident, rca.RcaResult]]) -> None:
        """Evidence names events by client id too: look up the ones the aggregate did not carry."""
        missing = {pk for _, r in results for h in r.hypotheses for _, pk, cid in h.evidence if cid is None}
        if not missing:
            return
        found = self.store.client_ids(missing)
        for _, r in results:
            for h in r.hypotheses:
                h.evidence = [(w, pk, cid if cid is not None else found.get(pk)) for w, pk, cid in h.evidence]

    def _analysis(self, state: OpenIncident, result: rca.RcaResult) -> IncidentAnalysis:
        severity = Severity.WARNING
        events = alerts = 0
        started = None
        for (service, type_, sev, _fp, _metric, firing), g in state.groups.items():
            events += g.n
            if type_ == Event.Type.ALERT:
                alerts += g.n
            if type_ in SIGNAL_TYPES and firing and SEVERITY_RANK.get(sev, 0) > SEVERITY_RANK[severity]:
                severity = sev
            started = min(started or g.first, g.first)
        root = result.root
        pattern = result.pattern
        title = f"{pattern.name} on {root}" if pattern else f"{root} degraded"
        others = len(state.signal_services - {root})
        if others:
            title += f" ({others} more service{'s' if others > 1 else ''} alerting)"
        return IncidentAnalysis(
            title=title[:300],
            severity=severity,
            started_at=started,
            last_event_at=state.last_event,
            root_cause_service_id=self.store.ids.get(root) if root else None,
            pattern_id=pattern.pk if pattern else None,
            incident_type=pattern.incident_type if pattern else "",
            confidence=result.confidence,
            hypotheses=[hypothesis_of(h) for h in result.hypotheses],
            summary=result.summary,
            event_count=events,
            alert_count=alerts,
        )

    def _new_services(self, state: OpenIncident) -> list[int]:
        return [self.store.ids[s] for s in sorted({i.service for i in state.new} - state.known_services)]


def hold_root(incident: Incident | None, result: rca.RcaResult) -> rca.RcaResult:
    """Hysteresis: the root cause shown stays first unless the new top hypothesis leads it by
    ROOT_HYSTERESIS of probability (the confidence is then the shown root's)."""
    before = incident.root_cause_service.name if incident is not None and incident.root_cause_service_id else None
    if not before or not result.hypotheses or result.root == before:
        return result
    top = result.hypotheses[0]
    held = next((h for h in result.hypotheses if h.service == before), None)
    if held is None or top.score - held.score >= ROOT_HYSTERESIS:
        return result
    result.hypotheses = [held, *(h for h in result.hypotheses if h is not held)]
    result.confidence = round(result.confidence * held.score / top.score, 4) if top.score else result.confidence
    result.pattern = held.pattern.pattern if held.pattern else result.pattern
    return result


def hypothesis_of(h: rca.Hypothesis) -> Hypothesis:
    """The engine's ranking of one service, in the analysis's one shape (incidents.analysis)."""
    return Hypothesis(
        service=h.service,
        score=round(h.score, 4),
        pattern=h.pattern.pattern.slug if h.pattern else None,
        reasons=tuple(h.reasons),
        evidence=tuple(Evidence(event=pk, client_id=cid, weight=round(w, 3)) for w, pk, cid in h.evidence),
        features=tuple(sorted(h.features.items())),
    )
