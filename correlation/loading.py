"""What the correlation engine reads from the database, as plain data: the service topology and
the compiled pattern library. (The decisions, correlation.grouping and correlation.rca, work on
these plain values.)"""
from __future__ import annotations

from correlation import rca
from correlation.patterns import PatternSpec
from incidents.models import Pattern, Service


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
