"""View models of the console's incident steps: what the root-cause step, the service map and the
recommendations show, built from the queries of incidents.selectors and the domain's rules
(incidents.analysis for evidence weights, incidents.graph for the cascade, incidents.resolution for
the time-to-resolve estimate). One function per screen; the views render what they return.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q

from incidents.links import http_url_or_empty
from incidents.graph import Topology, cascade
from incidents.models import Event, Incident, Pattern, Service
from incidents.resolution import time_to_resolve_estimate
from incidents.selectors import evidence_weighed, incident_similar

HEALTH_WINDOW = timedelta(minutes=15)  # the service map's health looks this far around the incident


def incident_rca(*, incident: Incident) -> dict:
    """The root-cause step: the best hypothesis, why, the alternatives, and the weighted evidence.

    When the engine gives no weights, an event's weight is its share of the hypothesis's evidence,
    counting critical over warning over info and alerts over anomalies over logs over metrics.
    """
    hypotheses = incident.analysis
    patterns = {}
    slugs = {h.pattern for h in hypotheses if h.pattern}
    if slugs:
        patterns = {p.slug: p for p in Pattern.objects.filter(slug__in=slugs)}
    top = hypotheses[0] if hypotheses else None
    evidence = evidence_weighed(top)
    alternatives = [
        {"service": h.service, "score": h.score, "pattern": patterns.get(h.pattern), "reasons": list(h.reasons)}
        for h in hypotheses[1:]
    ]
    return {
        "top": top,
        "top_reasons": list(top.reasons) if top else [],
        "pattern": incident.pattern or (patterns.get(top.pattern) if top else None),
        "alternatives": alternatives,
        "show_alternatives": incident.confidence < 0.8 and bool(alternatives),
        "evidence": evidence,
    }


def _service_health(*, service_ids: list[int], since: datetime, until: datetime) -> dict[int, dict]:
    """Each service's alerts and anomalies in the window, by severity (event_service_ts)."""
    rows = (
        Event.objects.filter(
            service_id__in=service_ids,
            type__in=[Event.Type.ALERT, Event.Type.ANOMALY],
            timestamp__gte=since,
            timestamp__lte=until,
        )
        .order_by()
        .values_list("service_id", "severity")
        .annotate(n=Count("id"))
    )
    health = {sid: {"critical": 0, "warning": 0, "info": 0} for sid in service_ids}
    for sid, severity, n in rows:
        health[sid][severity] = n
    for counts in health.values():
        counts["status"] = "critical" if counts["critical"] else "degraded" if counts["warning"] else "healthy"
    return health


def incident_service_map(*, incident: Incident, now: datetime) -> dict:
    """The dependency graph around the incident: its services and their direct neighbours.

    Nodes carry their role (root cause / affected / neighbour) and their health from the alerts
    and anomalies of the incident's window; edges are "a depends on b" (a failure of b spreads to
    a) and are marked as cascade along the way the failure spread from the root cause.
    """
    affected = {s.pk: s for s in incident.services.all()}
    root_id = incident.root_cause_service_id
    involved = set(affected) | ({root_id} if root_id else set())
    Through = Service.depends_on.through
    links = list(
        Through.objects.filter(Q(from_service_id__in=involved) | Q(to_service_id__in=involved)).values_list(
            "from_service_id", "to_service_id"
        )
    )
    node_ids = involved | {a for a, _ in links} | {b for _, b in links}
    services = Service.objects.in_bulk(node_ids)
    end = incident.resolved_at or max(incident.last_event_at, min(now, incident.last_event_at + HEALTH_WINDOW))
    health = _service_health(service_ids=list(node_ids), since=incident.started_at - HEALTH_WINDOW, until=end)
    nodes = []
    order = {"root_cause": 0, "affected": 1, "neighbour": 2}
    for sid, svc in services.items():
        role = "root_cause" if sid == root_id else "affected" if sid in involved else "neighbour"
        nodes.append({"id": sid, "name": svc.name, "tier": svc.tier, "team": svc.team, "runbook_url": svc.runbook_url,
                      "role": role, "health": health[sid]})
    nodes.sort(key=lambda n: (order[n["role"]], n["name"]))
    # The cascade: from the root cause up through the involved services that depend on it,
    # directly or through each other. Without a root cause, every link between involved services.
    spread = involved
    if root_id:
        deps: dict[int, set[int]] = {sid: set() for sid in involved}
        for a, b in links:
            if a in involved and b in involved:
                deps[a].add(b)
        spread = cascade(Topology(deps), root_id)
    edges = [
        {"source": a, "target": b, "cascade": a in spread and b in spread}
        for a, b in sorted(set(links))
        if a in services and b in services
    ]
    return {"nodes": nodes, "edges": edges, "root_id": root_id}


def _remediation_steps(pattern) -> list[dict]:
    """A pattern's remediation as [{"action", "detail"}], accepting strings or dicts."""
    steps = []
    for item in (pattern.remediation if pattern else None) or []:
        if isinstance(item, str):
            steps.append({"action": item, "detail": ""})
        elif isinstance(item, dict):
            action = item.get("action") or item.get("title") or item.get("step") or item.get("text") or ""
            if action:
                steps.append({"action": action, "detail": item.get("detail") or item.get("why") or "", "priority": item.get("priority")})
    if any(s.get("priority") is not None for s in steps):
        steps.sort(key=lambda s: (s.get("priority") is None, s.get("priority") or 0))
    return steps


def _generic_steps(incident: Incident) -> list[dict]:
    svc = incident.root_cause_service.name if incident.root_cause_service_id else "the affected services"
    return [
        {"action": f"Check what changed on {svc} in the hour before {incident.started_at:%H:%M} UTC", "detail": "Deploys, config and feature flags are the most common cause."},
        {"action": f"Look at {svc}'s error logs and saturation metrics", "detail": "Step 7 (Investigate) shows both for the incident's window."},
        {"action": "Mitigate first: roll back, fail over or shed load", "detail": "Then find the cause with the evidence in step 4."},
    ]


def _duration_minutes(incident: Incident) -> float | None:
    if incident.resolved_at is None:
        return None
    return max(0.0, (incident.resolved_at - incident.started_at).total_seconds() / 60)


def incident_recommendations(*, incident: Incident, limit: int = 5) -> dict:
    """Prioritised actions, runbooks, similar resolved incidents, and an estimated time to resolve.

    "Similar" is first the resolved incidents most like this one (incidents.similarity: each with
    its score and reasons; the estimate is their similarity-weighted median); without any, in
    order: the same pattern, the same root-cause service, the same severity, the estimate
    (incidents.resolution) coming from the first of those with at least one resolved incident.
    """
    pattern = incident.pattern
    steps = _remediation_steps(pattern)
    generic = not steps
    if generic:
        steps = _generic_steps(incident)
    runbooks = []
    if pattern and http_url_or_empty(pattern.runbook_url):
        runbooks.append({"label": f"{pattern.name} runbook", "url": pattern.runbook_url, "kind": "pattern"})
    services = list(incident.services.all())
    if incident.root_cause_service_id and incident.root_cause_service not in services:
        services.insert(0, incident.root_cause_service)
    services.sort(key=lambda s: s.pk != incident.root_cause_service_id)
    for svc in services:
        if http_url_or_empty(svc.runbook_url):
            runbooks.append({"label": f"{svc.name} runbook", "url": svc.runbook_url, "kind": "service"})
    found = incident_similar(incident=incident, k=limit, resolved_only=True)
    if found["estimate"] is not None:
        similar = []
        for s in found["similar"]:
            item = found["incidents"][s.profile.id]
            item.minutes_to_resolve = s.profile.minutes_to_resolve
            item.similarity_score, item.similarity_reasons = s.similarity.score, list(s.similarity.reasons)
            similar.append(item)
        return {"steps": steps, "generic": generic, "runbooks": runbooks, "similar": similar, "estimate": found["estimate"],
                "pattern": pattern}
    resolved = (
        Incident.objects.filter(status=Incident.Status.RESOLVED, resolved_at__isnull=False)
        .exclude(pk=incident.pk)
        .select_related("root_cause_service", "pattern")
    )
    bases = []
    if incident.pattern_id:
        bases.append(("the same pattern", resolved.filter(pattern_id=incident.pattern_id)))
    if incident.root_cause_service_id:
        bases.append(("the same root-cause service", resolved.filter(root_cause_service_id=incident.root_cause_service_id)))
    bases.append((f"the same severity ({incident.severity})", resolved.filter(severity=incident.severity)))
    similar: list[Incident] = []
    estimate = None
    for basis, qs in bases:
        # The 200 most recent are plenty for a median; the LIMIT keeps this cheap at any scale.
        estimate = time_to_resolve_estimate(
            [(r - s).total_seconds() / 60 for s, r in qs.order_by("-resolved_at").values_list("started_at", "resolved_at")[:200]], basis=basis,
        )
        if estimate is not None:
            similar = list(qs.order_by("-resolved_at")[:limit])
            break
    for item in similar:
        item.minutes_to_resolve = _duration_minutes(item)
    return {"steps": steps, "generic": generic, "runbooks": runbooks, "similar": similar, "estimate": estimate, "pattern": pattern}
