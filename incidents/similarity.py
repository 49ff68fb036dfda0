"""Similar past incidents: a score in [0, 1] over five views of an incident, with the reasons.

An incident is described by an `IncidentProfile` (plain data, built by a selector from the
database, or by the benchmark from a simulation): the services it touched, its root-cause
service, the log templates and alert names of its events, its types (pattern slug, incident
type, tags), and for a resolved one how long it took. Two profiles are compared view by view:

- services: Jaccard overlap of the affected services;
- templates: Jaccard overlap of the log templates / alert names (what the systems said);
- types: 1 if they share a pattern or type or tag, else 0;
- root cause: 1 for the same root-cause service, 0.5 when one's root cause is among the other's
  services, else 0;
- topology: 1 for the same root cause, 0.5 when the root causes are direct neighbours in the
  dependency graph (one calls the other), 0.25 at two hops, else 0.

The score is the weighted mean of the views that both profiles can speak to (a view neither side
has data for is left out and the weights renormalised), so a fresh incident without templates
is not punished for it. Each view that contributes gives a reason in words. `similar_incidents`
ranks candidates; `resolve_estimate` turns the resolved ones into a time-to-resolve estimate
(similarity-weighted median and quartiles). Plain module without Django; it lives in `incidents`
because the console's steps 2 and 6 and the time-to-resolve estimate (incidents.selectors) use it,
and `incidents` imports nothing of `correlation`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Chosen by bench/similarity.py on the scenario fuzzer, cross-validated by family: with weights
# chosen on three families, the most similar past incident is of the same kind 80% of the time on
# the fourth (chance 13%; the former hand-set 0.25 / 0.25 / 0.2 / 0.2 / 0.1: 37%). What the systems said (templates and
# alert names) tells the kind of incident; shared services and the same root service mostly tell
# the neighbourhood (the grid gave them 0). They keep 0.05 each (78% on all four families with them, a
# figure on the data that chose the rest): enough to order equal templates by place, and to rank
# at all for a fresh incident that has no templates yet. The type view was not measured (its values come from the pattern
# matcher and classifier, not from the fuzzer's truth): kept at 0.2.
WEIGHTS = {"services": 0.05, "templates": 0.9, "types": 0.2, "root_cause": 0.05, "topology": 0.1}
MIN_SCORE = 0.25


@dataclass(frozen=True)
class IncidentProfile:
    id: int
    services: frozenset[str] = frozenset()
    root_cause: str | None = None
    templates: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    minutes_to_resolve: float | None = None
    label: str = ""  # how to name it in a reason ("#12 Disk full on kafka")


@dataclass(frozen=True)
class Similarity:
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class SimilarIncident:
    profile: IncidentProfile
    similarity: Similarity


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _hops(a: str, b: str, graph: Mapping[str, Iterable[str]], limit: int = 2) -> int | None:
    """Undirected hops between two services in the dependency graph (None beyond `limit`)."""
    if a == b:
        return 0
    neighbours: dict[str, set[str]] = {}
    for src, deps in graph.items():
        for dst in deps:
            neighbours.setdefault(src, set()).add(dst)
            neighbours.setdefault(dst, set()).add(src)
    frontier, seen = {a}, {a}
    for hop in range(1, limit + 1):
        frontier = {n for s in frontier for n in neighbours.get(s, ())} - seen
        if b in frontier:
            return hop
        seen |= frontier
    return None


def _names(items: Iterable[str], limit: int = 3) -> str:
    items = sorted(items)
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def incident_similarity(a: IncidentProfile, b: IncidentProfile, *, graph: Mapping[str, Iterable[str]] | None = None,
                        weights: Mapping[str, float] = WEIGHTS) -> Similarity:
    """How alike two incidents are, view by view, with the reasons (see the module docstring)."""
    parts: dict[str, float] = {}
    reasons: list[str] = []
    if a.services and b.services:
        parts["services"] = _jaccard(a.services, b.services)
        shared = a.services & b.services
        if shared:
            reasons.append(f"shares {len(shared)} of {len(a.services | b.services)} services ({_names(shared)})")
    if a.templates and b.templates:
        parts["templates"] = _jaccard(a.templates, b.templates)
        shared = a.templates & b.templates
        if shared:
            reasons.append(f"{len(shared)} log templates / alerts in common")
    if a.types and b.types:
        shared = a.types & b.types
        parts["types"] = 1.0 if shared else 0.0
        if shared:
            reasons.append(f"same type: {_names(shared)}")
    if a.root_cause and b.root_cause:
        if a.root_cause == b.root_cause:
            parts["root_cause"] = 1.0
            reasons.append(f"same root cause: {a.root_cause}")
        elif a.root_cause in b.services or b.root_cause in a.services:
            parts["root_cause"] = 0.5
            reasons.append("the root cause of one is among the services of the other")
        else:
            parts["root_cause"] = 0.0
        if graph is not None:
            hops = _hops(a.root_cause, b.root_cause, graph)
            parts["topology"] = {0: 1.0, 1: 0.5, 2: 0.25}.get(hops, 0.0)
            if hops in (1, 2):
                reasons.append(f"root causes {a.root_cause} and {b.root_cause} are {hops} hop{'s' if hops > 1 else ''} apart")
    total = sum(weights[k] for k in parts)
    score = sum(weights[k] * v for k, v in parts.items()) / total if total else 0.0
    return Similarity(round(score, 4), parts, tuple(reasons))


def similar_incidents(target: IncidentProfile, candidates: Iterable[IncidentProfile], *, k: int = 5,
                      min_score: float = MIN_SCORE, graph: Mapping[str, Iterable[str]] | None = None) -> list[SimilarIncident]:
    """The `k` candidates most like `target` at or above `min_score`, best first (newest id breaks ties)."""
    scored = []
    for candidate in candidates:
        if candidate.id == target.id:
            continue
        sim = incident_similarity(target, candidate, graph=graph)
        if sim.score >= min_score:
            scored.append(SimilarIncident(candidate, sim))
    scored.sort(key=lambda s: (-s.similarity.score, -s.profile.id))
    return scored[:k]


def resolve_estimate(similar: Iterable[SimilarIncident]) -> dict | None:
    """Time to resolve from the resolved similar incidents: the similarity-weighted median and
    quartiles, in minutes, with how many it rests on (None without any resolved one)."""
    points = sorted((s.profile.minutes_to_resolve, s.similarity.score) for s in similar
                    if s.profile.minutes_to_resolve is not None and s.similarity.score > 0)
    if not points:
        return None
    total = sum(w for _, w in points)

    def quantile(q: float) -> float:
        acc = 0.0
        for minutes, w in points:
            acc += w
            if acc >= q * total - 1e-9:
                return minutes
        return points[-1][0]

    return {"minutes": quantile(0.5), "p_low": quantile(0.25), "p_high": quantile(0.75), "count": len(points),
            "basis": "a similar history (similarity-weighted)"}
