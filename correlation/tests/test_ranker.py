"""The learned root-cause ranker (correlation.ranker): training, its model version in the registry, its
use by the ranking, and the calibration of the confidence shown."""
from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from correlation import rca
from correlation.learning import RANKER_KIND, rca_ranker_active, rca_ranker_register
from correlation.models import ModelVersion
from correlation.ranker import DERIVED, FEATURES, Ranker, calibrate, lead_calibrate, lead_fit, platt_fit, ranker_fit, top1

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def synthetic_groups(n: int, seed: int) -> list:
    """Incidents of 3-5 candidates where the root is the one other services' errors name, while
    onset order is noise (dependants alerting first): what the rules get wrong and a ranker can learn."""
    rng = random.Random(seed)
    groups = []
    for _ in range(n):
        size = rng.randint(3, 5)
        root = rng.randrange(size)
        group = []
        for k in range(size):
            values = {f: rng.random() for f in FEATURES}
            values["named"] = rng.uniform(0.5, 1.0) if k == root else rng.uniform(0.0, 0.45)
            group.append((values, k == root))
        groups.append(group)
    return groups


def test_the_ranker_learns_which_evidence_points_at_the_root_and_holds_on_incidents_it_never_saw():
    model = ranker_fit(synthetic_groups(200, seed=1))
    held_out = synthetic_groups(100, seed=2)
    assert top1(held_out, model.score) >= 0.9
    assert top1(held_out, lambda v: v["onset"]) < 0.5  # the onset alone is noise here
    weights = dict(zip(model.features, model.coef))
    assert weights["named"] == max(weights.values())


def test_training_refuses_data_that_teaches_nothing():
    with pytest.raises(ValueError):
        ranker_fit([[({"onset": 1.0}, True)]])  # one candidate: nothing to rank


@pytest.mark.django_db
def test_a_ranker_round_trips_through_the_registry_and_only_an_activated_one_is_used():
    model = ranker_fit(synthetic_groups(60, seed=3)).with_calibration((0.8, -0.2))
    shipped = rca_ranker_active()  # none registered: the one shipped in correlation/rankers/
    assert shipped is not None and shipped != model
    before = ModelVersion.objects.filter(kind=RANKER_KIND).count()
    first = rca_ranker_register(parameters=model.to_parameters(), metrics={"top1_out_of_family": 0.7}, notes="test")
    assert first.kind == RANKER_KIND and first.version == before + 1 and not first.active
    assert rca_ranker_active() is None
    second = rca_ranker_register(parameters=model.to_parameters(), metrics={}, activate=True)
    assert second.version == before + 2
    assert rca_ranker_active() == model
    assert ModelVersion.objects.filter(kind=RANKER_KIND, active=True).get() == second
    second.active = False
    second.save(update_fields=["active"])
    assert rca_ranker_active() is None  # versions registered, none live (rolled back): the rules
    ModelVersion.objects.filter(kind=RANKER_KIND).delete()
    assert rca_ranker_active() == shipped  # none registered again: the shipped one


@pytest.mark.django_db
def test_the_shipped_ranker_can_be_switched_off(settings):
    settings.CORRELATION_SHIPPED_RANKER = False
    assert rca_ranker_active() is None


@pytest.mark.django_db
def test_malformed_ranker_parameters_are_refused_before_they_are_stored(tmp_path):
    before = ModelVersion.objects.filter(kind=RANKER_KIND).count()
    params = ranker_fit(synthetic_groups(40, seed=4)).to_parameters()
    params["coef"] = params["coef"][:-1]
    with pytest.raises(ValueError):
        rca_ranker_register(parameters=params, metrics={})
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(params))
    with pytest.raises(CommandError, match="not ranker parameters"):
        call_command("rca_ranker", str(path))
    assert ModelVersion.objects.filter(kind=RANKER_KIND).count() == before


@pytest.mark.django_db
def test_the_management_command_registers_and_activates_a_saved_ranker(tmp_path):
    model = ranker_fit(synthetic_groups(40, seed=5))
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps({**model.to_parameters(), "trained_on": ["fuzz-layered"], "c": 1.0}))
    call_command("rca_ranker", str(path), "--activate")
    version = ModelVersion.objects.get(kind=RANKER_KIND, active=True)
    assert "fuzz-layered" in version.notes
    assert rca_ranker_active() == model


def test_the_ranking_follows_the_ranker_over_the_rules_when_one_is_given():
    # payments calls a third party that never alerts; the callers' errors name it.
    topology = rca.Topology({"web": {"payments"}, "payments": {"bank"}, "bank": set()}, {})
    signals = {
        "web": rca.ServiceSignals("web", onset=T0, alerts=2, critical=2, max_severity="critical",
                                  text="upstream payments returned 502 bad gateway"),
        "payments": rca.ServiceSignals("payments", onset=T0 + timedelta(minutes=1), alerts=1, max_severity="warning",
                                       text="request to bank failed: read tcp 10.0.0.1:443: i/o timeout"),
    }
    by_rules = rca.rank(signals=signals, topology=topology, patterns=[])
    assert by_rules.root == "web"  # went wrong first, loudest
    assert "bank" in by_rules.candidates  # named by its caller: a candidate, silent as it is
    bank = next(h for h in by_rules.hypotheses if h.service == "bank")
    assert bank.features["named"] == 1.0 and bank.features["silent"] == 1.0
    favour_named = Ranker(("named", "silent"), (0.0, 0.0), (1.0, 1.0), (3.0, 1.0), 0.0)
    by_ranker = rca.rank(signals=signals, topology=topology, patterns=[], ranker=favour_named)
    assert by_ranker.root == "bank"
    assert abs(sum(h.score for h in by_ranker.hypotheses) - 1.0) < 1e-6
    assert set(by_ranker.hypotheses[0].features) == set(FEATURES)


def test_calibration_is_monotone_and_bounded():
    for a, b in ((0.5, -0.8), (1.3, 0.4), (1e-3, 0.0)):
        values = [calibrate(c / 200, (a, b)) for c in range(0, 201)]
        assert all(0.0 <= v <= 1.0 for v in values)
        assert all(x <= y for x, y in zip(values, values[1:]))
    assert calibrate(0.73, None) == 0.73 and calibrate(0.73, (1.0, 0.0)) == 0.73


def test_platt_scaling_brings_an_overconfident_score_down_to_how_often_it_is_right():
    rng = random.Random(7)
    shown = [rng.uniform(0.8, 1.0) for _ in range(400)]
    right = [rng.random() < 0.5 for _ in shown]  # shown at ~90%, right half the time
    a, b = platt_fit(shown, right)
    assert a > 0
    mean = sum(calibrate(c, (a, b)) for c in shown) / len(shown)
    assert abs(mean - sum(right) / len(right)) < 0.05


def test_a_confidence_fitted_on_the_lead_follows_how_often_a_lead_that_size_is_right():
    # right 90% of the time with a clear lead, 40% with a narrow one: the fit shows that.
    rng = random.Random(11)
    leads = [rng.uniform(0.6, 1.0) for _ in range(300)] + [rng.uniform(-0.1, 0.2) for _ in range(300)]
    right = [rng.random() < (0.9 if v > 0.5 else 0.4) for v in leads]
    a, b = lead_fit(leads, right)
    assert a > 0
    for lo, hi, rate in ((0.6, 1.0, 0.9), (-0.1, 0.2, 0.4)):
        inside = [v for v in leads if lo <= v <= hi]
        assert abs(sum(lead_calibrate(v, (a, b)) for v in inside) / len(inside) - rate) < 0.06
    values = [lead_calibrate(v / 100, (a, b)) for v in range(-100, 101)]
    assert all(0.0 < x <= y < 1.0 for x, y in zip(values, values[1:]))


def test_the_ranker_leaves_a_clear_cascade_to_the_rules():
    # kafka fails critical first; its consumer lags and its warning matches a pattern. The rules'
    # choice (kafka) blames no dependency, so even a ranker that loves patterns does not decide.
    topology = rca.Topology({"notifications": {"kafka"}, "kafka": set()}, {})
    signals = {
        "kafka": rca.ServiceSignals("kafka", onset=T0, alerts=1, critical=1, max_severity="critical", text="under-replicated partitions"),
        "notifications": rca.ServiceSignals("notifications", onset=T0 + timedelta(minutes=1), alerts=1, max_severity="warning",
                                            text="consumer lag above 10000"),
    }
    loves_patterns = Ranker(("onset", "pattern", "callers"), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.0, 0.0, -5.0), 0.0)
    assert rca.rank(signals=signals, topology=topology, patterns=[], ranker=loves_patterns).root == "kafka"
    assert not rca.ranker_decides(rca.rank(signals=signals, topology=topology, patterns=[]).hypotheses)


@pytest.mark.django_db
def test_the_shipped_ranker_registers_and_reads_back():
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "rankers" / "rca_ranker_v2.json"
    call_command("rca_ranker", str(path), "--activate")
    shipped = rca_ranker_active()
    assert shipped is not None and set(shipped.features) <= set(FEATURES) | set(DERIVED) and shipped.calibration[0] > 0
