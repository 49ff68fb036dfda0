"""Learning from root-cause feedback: priors per service, versioned, and used by the ranking."""
from datetime import UTC, datetime, timedelta

import pytest

from correlation import learning, rca
from correlation.feedback import feedback_apply
from correlation.models import ModelVersion
from incidents.models import Feedback, Service

pytestmark = pytest.mark.django_db


def _feedback(make_incident, verdict, chosen, correct=None):
    incident = make_incident(services=[chosen] + ([correct] if correct else []))
    return Feedback.objects.create(
        incident=incident, verdict=verdict, correct_service=Service.objects.get(name=correct) if correct else None
    )


def test_priors_follow_the_verdicts(make_incident):
    _feedback(make_incident, "no", chosen="payments", correct="payments-db")
    _feedback(make_incident, "no", chosen="payments", correct="payments-db")
    _feedback(make_incident, "yes", chosen="checkout")
    priors, metrics = learning.rca_priors_compute()
    assert priors["payments-db"] > 0 > priors["payments"]
    assert 0 < priors["checkout"] < priors["payments-db"]
    assert all(-1 <= p <= 1 for p in priors.values())
    assert metrics["feedback"] == 3 and metrics["agreement"] == pytest.approx(1 / 3, abs=1e-3)


def test_applying_feedback_registers_a_live_version_and_queues_retraining(make_incident, django_capture_on_commit_callbacks):
    fb = _feedback(make_incident, "no", chosen="payments", correct="payments-db")
    with django_capture_on_commit_callbacks(execute=True):
        feedback_apply(feedback_id=fb.pk)
    live = ModelVersion.objects.get(kind=learning.KIND, active=True)
    assert live.version == 1 and live.parameters["priors"]["payments-db"] > 0
    assert learning.rca_priors_active() == live.parameters["priors"]
    # The anomaly detector was retrained too (tasks run inline in tests), and only once an hour.
    assert ModelVersion.objects.filter(kind="anomaly").count() == 1
    fb2 = _feedback(make_incident, "yes", chosen="checkout")
    with django_capture_on_commit_callbacks(execute=True):
        feedback_apply(feedback_id=fb2.pk)
    assert ModelVersion.objects.get(kind=learning.KIND, active=True).version == 2
    assert ModelVersion.objects.filter(kind="anomaly").count() == 1


def _signals(service, onset, severity="critical", alerts=1):
    return rca.ServiceSignals(service=service, onset=onset, max_severity=severity, alerts=alerts,
                              critical=alerts if severity == "critical" else 0)


def test_a_prior_breaks_a_near_tie_but_not_a_clear_cascade():
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    topology = rca.Topology({"a": [], "b": []})
    # Two unrelated services going wrong together: a near tie the priors may settle.
    tie = {"a": _signals("a", t0), "b": _signals("b", t0)}
    assert rca.rank(signals=tie, topology=topology, patterns=[], priors={"b": 1.0}).root == "b"
    assert rca.rank(signals=tie, topology=topology, patterns=[], priors={"a": 1.0}).root == "a"
    ranked = rca.rank(signals=tie, topology=topology, patterns=[], priors={"b": 1.0})
    assert any("feedback favours" in r for r in ranked.hypotheses[0].reasons)
    # A clear cascade (db first, its callers minutes later) is not outvoted by a contrary prior.
    chain = rca.Topology({"api": ["db"], "db": []})
    cascade = {"db": _signals("db", t0, alerts=3), "api": _signals("api", t0 + timedelta(minutes=4))}
    assert rca.rank(signals=cascade, topology=chain, patterns=[], priors={"db": -1.0, "api": 1.0}).root == "db"


def test_a_priors_version_records_the_hit_rate_before_and_after_and_retrains_nightly(make_incident):
    from django_q.models import Schedule

    from correlation.schedules import ensure_schedules
    from correlation.tasks import retrain_rca_priors

    # The engine named payments (55%) over payments-db (45%); engineers said payments-db, twice.
    for _ in range(2):
        incident = make_incident(services=["payments", "payments-db"], hypotheses=[
            {"service": "payments", "score": 0.55, "reasons": [], "evidence": [], "features": {"prior": 0.0}},
            {"service": "payments-db", "score": 0.45, "reasons": [], "evidence": [], "features": {"prior": 0.0}},
        ])
        Feedback.objects.create(incident=incident, verdict="no", correct_service=Service.objects.get(name="payments-db"))
    first = retrain_rca_priors()
    assert first["metrics"]["hit_rate_before"] == 0.0  # no priors yet: the stored ranking, wrong twice
    assert first["metrics"]["hit_rate_after_in_sample"] == 1.0
    second = retrain_rca_priors()  # nothing new: the live priors are the new ones
    assert second["version"] == first["version"] + 1 and second["metrics"]["hit_rate_before"] == 1.0
    ensure_schedules()
    assert Schedule.objects.get(name="correlation: nightly root-cause priors retrain").func == "correlation.tasks.retrain_rca_priors"
