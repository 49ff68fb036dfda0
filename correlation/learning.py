"""Learning from engineers' root-cause feedback: per-service priors for the root-cause ranking.

Every verdict moves the prior of the services it names: "yes" raises the chosen root cause a
little, "no" lowers it and raises the service the engineer named instead, "partial" raises both a
little. The priors are a versioned model in the registry (kind `rca_priors`), retrained from all
feedback each time a verdict is applied, so a bad version can be rolled back like any other.
`correlation.rca.rank` adds `PRIOR_WEIGHT * prior` to a service's raw score: enough to break a
near tie the way engineers said, never enough to outvote the evidence of a clear cascade.

Corrections are narrower and stronger: a "no" or "partly" naming the right service records that
service as the root of an incident of those services (a "yes" confirms the named root the same
way), and the next incident of (nearly) the same services ranks it first
(`rca.CORRECTION_WEIGHT`): the same recurring fault is not guessed wrong twice. Per set of
services the root with the most verdicts is kept. They live in the same versioned model.

The learned root-cause ranker (correlation.ranker) is a model version of its own kind
(`rca_ranker`), registered from a benchmark's out-of-family training (`manage.py rca_ranker`) and
read by the engine when one is active.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from correlation import rca
from correlation.models import ModelVersion
from correlation.ranker import Ranker
from correlation.rca import Correction
from incidents.models import Feedback

KIND = "rca_priors"
# Verdicts needed to reach ~76% of the full prior (tanh(1)): one click moves a little, a habit a lot.
SATURATION = 4.0
VOTES = {
    Feedback.Verdict.YES: (0.5, 0.0),  # (chosen service, correct service)
    Feedback.Verdict.PARTIAL: (0.25, 0.5),
    Feedback.Verdict.NO: (-1.0, 1.0),
}


def rca_priors_compute() -> tuple[dict[str, float], dict]:
    """Priors in [-1, 1] per service name from every feedback row, and what they were made of."""
    votes: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    rows = Feedback.objects.select_related("incident__root_cause_service", "correct_service")
    for fb in rows.iterator():
        counts[fb.verdict] += 1
        chosen_vote, correct_vote = VOTES[Feedback.Verdict(fb.verdict)]
        chosen = fb.incident.root_cause_service.name if fb.incident.root_cause_service_id else None
        correct = fb.correct_service.name if fb.correct_service_id else fb.suggested_root_cause
        if chosen:
            votes[chosen] += chosen_vote
        if correct and correct != chosen:
            votes[correct] += correct_vote
    priors = {name: round(math.tanh(v / SATURATION), 4) for name, v in votes.items() if v}
    total = sum(counts.values())
    metrics = {
        "feedback": total,
        "verdicts": dict(counts),
        # How often engineers agreed with the root cause Cleara named.
        "agreement": round((counts[Feedback.Verdict.YES] + 0.5 * counts[Feedback.Verdict.PARTIAL]) / total, 4) if total else None,
        "services": len(priors),
    }
    return priors, metrics


def rca_corrections_compute() -> list[dict]:
    """Per set of services of a judged incident, the root engineers named most: [{services, root, count}]."""
    votes: dict[frozenset[str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (Feedback.objects.select_related("incident__root_cause_service", "correct_service")
            .prefetch_related("incident__services").order_by("pk"))
    for fb in rows.iterator(chunk_size=500):
        if fb.verdict == Feedback.Verdict.YES:
            root = fb.incident.root_cause_service.name if fb.incident.root_cause_service_id else None
        else:
            root = fb.correct_service.name if fb.correct_service_id else None
        services = frozenset(s.name for s in fb.incident.services.all())
        if root and services:
            votes[services | {root}][root] += 1
    out = []
    for services, roots in votes.items():
        root, count = max(roots.items(), key=lambda kv: (kv[1], kv[0]))
        out.append({"services": sorted(services), "root": root, "count": count})
    return sorted(out, key=lambda c: (c["root"], c["services"]))


def rca_priors_hit_rate(priors: dict[str, float]) -> float | None:
    """How often the judged incidents' stored rankings, with `priors` in place of the priors they were
    ranked with, put first the root engineers named (the chosen root for a "yes", the service they
    gave for a "no" or "partly"). A prior moves a candidate's logit by PRIOR_WEIGHT * prior /
    TEMPERATURE (correlation.rca.rank, rules and ranker alike); corrections are left out. In-sample
    when `priors` were computed from the same feedback."""
    hits = judged = 0
    rows = Feedback.objects.select_related("incident__root_cause_service", "correct_service").only(
        "verdict", "incident__hypotheses", "incident__root_cause_service__name", "correct_service__name")
    for fb in rows.iterator(chunk_size=500):
        right = (fb.incident.root_cause_service.name if fb.incident.root_cause_service_id else None) \
            if fb.verdict == Feedback.Verdict.YES else (fb.correct_service.name if fb.correct_service_id else None)
        hypotheses = fb.incident.hypotheses or []
        if not right or not hypotheses:
            continue

        def logit(h: dict) -> float:
            moved = priors.get(h["service"], 0.0) - float((h.get("features") or {}).get("prior", 0.0))
            return math.log(max(float(h.get("score") or 0.0), 1e-9)) + rca.PRIOR_WEIGHT * moved / rca.TEMPERATURE

        judged += 1
        hits += max(hypotheses, key=logit)["service"] == right
    return round(hits / judged, 4) if judged else None


@transaction.atomic
def rca_priors_train() -> ModelVersion:
    """Register a new version of the priors from all feedback and make it live, with the hit rate on
    the judged incidents before (the live priors) and after (the new ones, in-sample)."""
    priors, metrics = rca_priors_compute()
    metrics["hit_rate_before"] = rca_priors_hit_rate(rca_priors_active())
    metrics["hit_rate_after_in_sample"] = rca_priors_hit_rate(priors)
    latest = ModelVersion.objects.select_for_update().filter(kind=KIND).aggregate(v=Max("version"))["v"] or 0
    version = ModelVersion.objects.create(
        kind=KIND, version=latest + 1, parameters={"priors": priors, "saturation": SATURATION, "corrections": rca_corrections_compute()},
        metrics=metrics,
        notes=f"from {metrics['feedback']} feedback verdict(s)",
    )
    ModelVersion.objects.filter(kind=KIND, active=True).update(active=False)
    version.active = True
    version.save(update_fields=["active"])
    return version


def rca_feedback_model() -> tuple[dict[str, float], list[Correction]]:
    """The live priors and corrections, read in one query (the engine wants both per batch)."""
    version = ModelVersion.objects.filter(kind=KIND, active=True).only("parameters").first()
    parameters = version.parameters if version else {}
    corrections = [Correction(frozenset(c["services"]), c["root"], int(c["count"])) for c in parameters.get("corrections", [])]
    return dict(parameters.get("priors", {})), corrections


def rca_priors_active() -> dict[str, float]:
    return rca_feedback_model()[0]


def rca_corrections_active() -> list[Correction]:
    return rca_feedback_model()[1]


# --- the learned root-cause ranker (correlation.ranker) ---------------------------------------

RANKER_KIND = "rca_ranker"


@transaction.atomic
def rca_ranker_register(*, parameters: dict, metrics: dict, notes: str = "", activate: bool = False) -> ModelVersion:
    """Register a trained ranker (correlation.ranker.Ranker parameters: plain numbers) as a new
    version; make it live only when asked (when it beat the rules out of family)."""
    Ranker.from_parameters(parameters)  # refuse a malformed one before it is stored
    latest = ModelVersion.objects.select_for_update().filter(kind=RANKER_KIND).aggregate(v=Max("version"))["v"] or 0
    version = ModelVersion.objects.create(kind=RANKER_KIND, version=latest + 1, parameters=parameters, metrics=metrics, notes=notes)
    if activate:
        ModelVersion.objects.filter(kind=RANKER_KIND, active=True).update(active=False)
        version.active = True
        version.save(update_fields=["active"])
    return version


SHIPPED_RANKER = Path(__file__).resolve().parent / "rankers" / "rca_ranker_v2.json"


@functools.cache
def _shipped_ranker() -> Ranker:
    return Ranker.from_parameters(json.loads(SHIPPED_RANKER.read_text()))


def rca_ranker_active() -> Ranker | None:
    """The live ranker: the registry's active version; with none registered at all, the one shipped
    in correlation/rankers/ (trained on the scenario fuzzer, better than the rules out of family:
    bench/README.md), unless CORRELATION_SHIPPED_RANKER is off; None (the rules,
    correlation.rca.WEIGHTS) when versions exist and none is active, or the shipped one is off."""
    version = ModelVersion.objects.filter(kind=RANKER_KIND, active=True).only("parameters").first()
    if version is not None:
        return Ranker.from_parameters(version.parameters)
    if settings.CORRELATION_SHIPPED_RANKER and not ModelVersion.objects.filter(kind=RANKER_KIND).exists():
        return _shipped_ranker()
    return None
