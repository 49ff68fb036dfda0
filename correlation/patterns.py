"""Matching the pattern library: how a known failure mode is recognised in an incident's signals.

The catalogue itself is incident data (`incidents.models.Pattern`, the built-in entries in
`incidents.catalogue`, loaded by a data migration with origin "builtin" and editable in the
admin); matching always reads the table, so curated and learned patterns count as much as the built-in ones. A pattern is recognised from the text of a service's
signals (alert messages, error logs: `signals["keywords"]`) and from the names of the metrics that
misbehave (`signals["metrics"]`); `signals["tiers"]` names the kinds of service where this failure
usually starts (a connection-pool exhaustion starts at the database), which the root-cause ranking
uses. A keyword matches at the start of a word, so "throttl" finds "throttled" and "oom" does not
find "room".
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

KEYWORD_WEIGHT = 1.0
METRIC_WEIGHT = 0.5
# Score of a pattern from its hits: 1 keyword -> 0.57, 2 -> 0.81, 1 metric alone -> 0.34.
SCORE_SCALE = 1.2
DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True)
class PatternSpec:
    """A pattern compiled for matching (plain data: tests build them without a database)."""

    slug: str
    name: str
    incident_type: str = ""
    keywords: tuple[str, ...] = ()
    metrics: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()
    min_score: float = DEFAULT_MIN_SCORE
    pk: int | None = None
    _regexes: tuple[re.Pattern, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_signals(cls, *, slug: str, name: str, signals: dict, incident_type: str = "", pk: int | None = None) -> PatternSpec:
        keywords = tuple(str(k).lower() for k in signals.get("keywords", []) if str(k).strip())
        return cls(
            slug=slug,
            name=name,
            incident_type=incident_type,
            keywords=keywords,
            metrics=frozenset(str(m).lower() for m in signals.get("metrics", [])),
            tiers=frozenset(str(t).lower() for t in signals.get("tiers", [])),
            min_score=float(signals.get("min_score", DEFAULT_MIN_SCORE)),
            pk=pk,
            _regexes=tuple(re.compile(r"(?<![a-z0-9])" + re.escape(k)) for k in keywords),
        )

    def score(self, *, text: str, metrics: set[str] | frozenset[str] = frozenset()) -> float:
        """How well `text` (lower-cased messages) and the misbehaving `metrics` fit this pattern, in [0, 1]."""
        keyword_hits = sum(1 for rx in self._regexes if rx.search(text))
        metric_hits = len(self.metrics & {m.lower() for m in metrics})
        hits = KEYWORD_WEIGHT * keyword_hits + METRIC_WEIGHT * metric_hits
        return 1.0 - math.exp(-hits / SCORE_SCALE) if hits else 0.0

    def tier_fit(self, tier: str) -> float:
        """1 where the pattern usually starts at this kind of service (or names no tier), less elsewhere."""
        if not self.tiers or (tier or "").lower() in self.tiers:
            return 1.0
        return 0.6


@dataclass(frozen=True)
class PatternMatch:
    pattern: PatternSpec
    score: float


def pattern_best(patterns: list[PatternSpec], *, text: str, metrics: set[str] | frozenset[str] = frozenset(), tier: str | None = None) -> PatternMatch | None:
    """The best-fitting pattern at or above its own min_score (tier-weighted when `tier` is given), or None."""
    best: PatternMatch | None = None
    for spec in patterns:
        raw = spec.score(text=text, metrics=metrics)
        if raw < spec.min_score:
            continue
        score = raw * (spec.tier_fit(tier) if tier is not None else 1.0)
        if best is None or score > best.score:
            best = PatternMatch(spec, score)
    return best
