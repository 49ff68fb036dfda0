"""What the correlation engine reads from the database, as plain data.

`Store` is everything correlation.grouping asks while it decides one batch: the topology, the open
incidents around the batch (aggregated per group of alike events), the pending signals and the
history of every fingerprint, error-log times, earlier evidence, the pattern library, the
learned priors and the learned ranker. Each method is one bounded query; the decisions (correlation.grouping,
correlation.rca) see plain values only, so that they can be tested with an in-memory store.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Max, Min
from django.db.models.fields.json import KT

from correlation import rca
from correlation.learning import rca_feedback_model, rca_ranker_active
from correlation.patterns import PatternSpec
from incidents.models import Event, Incident, Pattern, Service, Severity

SIGNAL_TYPES = (Event.Type.ALERT, Event.Type.ANOMALY)
EVIDENCE_SEVERITIES = (Severity.WARNING, Severity.CRITICAL)
BACKFILL_LIMIT = 50_000
# A service's log templates are new when it logged none of them in this long before the window.
TEMPLATE_HISTORY = timedelta(hours=24)


def topology_load() -> tuple[rca.Topology, dict[int, str], dict[str, int]]:
    """The dependency graph (two queries), with the id <-> name maps of every service."""
    services = list(Service.objects.values_list("id", "name", "tier"))
    names = {pk: name for pk, name, _ in services}
    deps: dict[str, set[str]] = {name: set() for name in names.values()}
    for a, b in Service.depends_on.through.objects.values_list("from_service_id", "to_service_id"):
        deps[names[a]].add(names[b])
    return rca.Topology(deps, {name: tier for _, name, tier in services}), names, {n: pk for pk, n in names.items()}


def patterns_load() -> list[PatternSpec]:
    """The enabled patterns of the library, compiled (one query)."""
    return [
        PatternSpec.from_signals(slug=p.slug, name=p.name, signals=p.signals or {}, incident_type=p.incident_type, pk=p.pk)
        for p in Pattern.objects.filter(enabled=True).only("pk", "slug", "name", "signals", "incident_type")
    ]


def templates_seen(pairs: set[tuple[int, int]], *, since: datetime, until: datetime) -> set[tuple[int, int]]:
    """Which of these (service id, template id) pairs had a log line in [since, until). On
    PostgreSQL one probe a pair of the partial index event_service_template_ts, the first line
    found answering; the query it replaces read every log line of the services in the day before
    (cProfile of a simulated day: 6.4 s of the component lane's 69 s, docs/sizing.md)."""
    if not pairs:
        return set()
    if connection.vendor != "postgresql":
        return pairs & set(
            Event.objects.filter(
                type=Event.Type.LOG, service_id__in={s for s, _ in pairs}, template_id__in={t for _, t in pairs},
                timestamp__gte=since, timestamp__lt=until,
            ).values_list("service_id", "template_id").order_by().distinct()
        )
    ordered = sorted(pairs)
    with connection.cursor() as cursor:
        # LATERAL ... LIMIT 1, not EXISTS: PostgreSQL may turn an EXISTS into one hashed scan of every
        # templated line in the day (seen in the benchmark: 93 ms a call, as slow as the former query).
        cursor.execute(
            "SELECT p.s, p.t FROM unnest(%s::bigint[], %s::bigint[]) AS p(s, t) CROSS JOIN LATERAL ("  # noqa: S608
            f"SELECT 1 FROM {Event._meta.db_table} e WHERE e.service_id = p.s AND e.template_id = p.t "
            "AND e.timestamp >= %s AND e.timestamp < %s AND e.type = %s LIMIT 1) AS seen",
            [[s for s, _ in ordered], [t for _, t in ordered], since, until, Event.Type.LOG],
        )
        return {(s, t) for s, t in cursor.fetchall()}


class Store:
    """The database as the engine reads it (one instance per batch: it caches the topology)."""

    def __init__(self):
        self.topology, self.names, self.ids = topology_load()
        self._feedback_model = None  # (priors, corrections): one read per batch

    def patterns(self) -> list[PatternSpec]:
        return patterns_load()

    def priors(self) -> dict[str, float]:
        return self._feedback()[0]

    def corrections(self):
        """Engineers' corrections of root causes (correlation.rca.Correction), from the live priors version."""
        return self._feedback()[1]

    def _feedback(self):
        if self._feedback_model is None:
            self._feedback_model = rca_feedback_model()
        return self._feedback_model

    def ranker(self):
        """The active learned root-cause ranker (correlation.ranker.Ranker), or None."""
        return rca_ranker_active()

    def open_incidents(self, *, since: datetime, started_before: datetime) -> list[tuple[Incident, list[tuple[tuple, dict]]]]:
        """The open incidents active since `since`, each with its events grouped by (service, type,
        severity, fingerprint, metric, firing): [(key, {n, first, last, pk, message})]."""
        incidents = list(
            Incident.objects.filter(status__in=Incident.OPEN_STATUSES, last_event_at__gte=since, started_at__lte=started_before)
            .select_related("root_cause_service", "pattern")
        )
        if not incidents:
            return []
        groups: dict[int, list] = {i.pk: [] for i in incidents}
        rows = (
            Event.objects.filter(incident_id__in=groups.keys())
            .annotate(alert_status=KT("attributes__alert_status"))
            .values("incident_id", "service_id", "type", "severity", "fingerprint", "metric", "alert_status")
            .annotate(n=Count("id"), first=Min("timestamp"), last=Max("timestamp"), pk=Min("id"), message=Min("message"))
            .order_by()
        )
        for r in rows:
            key = (self.names[r["service_id"]], r["type"], r["severity"], r["fingerprint"], r["metric"], r["alert_status"] != "resolved")
            groups[r["incident_id"]].append((key, r))
        return [(i, groups[i.pk]) for i in incidents]

    def signals(self, *, since: datetime, until: datetime) -> list[tuple]:
        """Alerts and anomalies in the window, by time: (pk, ts, service, type, severity,
        fingerprint, firing, client_id, message, metric, incident_id)."""
        rows = (
            Event.objects.filter(type__in=SIGNAL_TYPES, timestamp__gte=since, timestamp__lte=until)
            .annotate(alert_status=KT("attributes__alert_status"))
            .values_list("pk", "timestamp", "service_id", "type", "severity", "fingerprint", "alert_status", "client_id", "message", "metric", "incident_id")
            .order_by("timestamp", "pk")
        )
        return [
            (pk, ts, self.names[sid], type_, sev, fp, status != "resolved", cid, msg, metric, incident_id)
            for pk, ts, sid, type_, sev, fp, status, cid, msg, metric, incident_id in rows
        ]

    def error_log_times(self, *, since: datetime, until: datetime) -> dict[str, list[datetime]]:
        """The times of every error log line in the window, per service, in order."""
        rows = Event.objects.filter(
            type=Event.Type.LOG, severity=Severity.CRITICAL, timestamp__gte=since, timestamp__lte=until,
        ).values_list("service_id", "timestamp").order_by("timestamp")
        times: dict[str, list[datetime]] = defaultdict(list)
        for sid, ts in rows:
            times[self.names[sid]].append(ts)
        return times

    def error_log_lines(self, *, since: datetime, until: datetime) -> dict[str, list[tuple[datetime, str]]]:
        """Every error log line in the window, attached or not, per service, in order: (time, message)."""
        rows = Event.objects.filter(
            type=Event.Type.LOG, severity=Severity.CRITICAL, timestamp__gte=since, timestamp__lte=until,
        ).values_list("service_id", "timestamp", "message").order_by("timestamp")
        lines: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for sid, ts, message in rows:
            lines[self.names[sid]].append((ts, message))
        return lines

    def pending_logs(self, *, services: set[str], since: datetime, until: datetime) -> list[tuple]:
        """Warning and error logs of `services` in the window not attached to any incident, by time:
        (pk, ts, service, severity, fingerprint, client_id, message)."""
        scope_ids = {self.ids[s] for s in services if s in self.ids}
        if not scope_ids:
            return []
        rows = (
            Event.objects.filter(
                type=Event.Type.LOG, severity__in=EVIDENCE_SEVERITIES, incident__isnull=True,
                service_id__in=scope_ids, timestamp__gte=since, timestamp__lte=until,
            )
            .values_list("pk", "timestamp", "service_id", "severity", "fingerprint", "client_id", "message")
            .order_by("timestamp")[:BACKFILL_LIMIT]
        )
        return [(pk, ts, self.names[sid], sev, fp, cid, msg) for pk, ts, sid, sev, fp, cid, msg in rows]

    def attached(self, pks: list[int]) -> set[int]:
        """Which of these events an incident holds already (a concurrent request may have taken them)."""
        return set(Event.objects.filter(pk__in=pks, incident__isnull=False).values_list("pk", flat=True))

    def client_ids(self, pks: set[int]) -> dict[int, str | None]:
        return dict(Event.objects.filter(pk__in=pks).values_list("pk", "client_id"))

    def log_templates(self, *, services: set[str], since: datetime, until: datetime) -> dict[str, list[tuple]]:
        """The templates of `services`' warning and error log lines in the window (correlation.templating
        mines them at ingest), per service: (template id, template text, first time, lines, an event pk,
        new, two of its messages). New: the service logged no line of that template (at any severity) in the
        TEMPLATE_HISTORY before `since`. Two queries; lines not templated yet are left out."""
        scope_ids = {self.ids[s] for s in services if s in self.ids}
        if not scope_ids:
            return {}
        rows = list(
            Event.objects.filter(
                type=Event.Type.LOG, severity__in=EVIDENCE_SEVERITIES, service_id__in=scope_ids,
                timestamp__gte=since, timestamp__lte=until, template__isnull=False,
            )
            .values("service_id", "template_id", "template__text")
            .annotate(first=Min("timestamp"), n=Count("id"), pk=Min("id"), low=Min("message"), high=Max("message"))
            .order_by()
        )
        if not rows:
            return {}
        known = templates_seen({(r["service_id"], r["template_id"]) for r in rows}, since=since - TEMPLATE_HISTORY, until=since)
        out: dict[str, list[tuple]] = defaultdict(list)
        for r in rows:
            out[self.names[r["service_id"]]].append(
                (r["template_id"], r["template__text"], r["first"], r["n"], r["pk"], (r["service_id"], r["template_id"]) not in known,
                 (r["low"], r["high"]))
            )
        return out
