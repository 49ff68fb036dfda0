"""The incident domain's plain rules, without a database: the time-to-resolve estimate, the
cascade on the dependency graph, the evidence weights and the analysis's JSON shape."""
from __future__ import annotations

import pytest

from incidents.analysis import AnalysisShapeError, Evidence, Hypothesis, analysis_from_json, analysis_to_json, evidence_weight
from incidents.graph import Topology, cascade
from incidents.resolution import time_to_resolve_estimate


def test_time_to_resolve_is_the_median_of_similar_incidents_with_its_quartiles():
    estimate = time_to_resolve_estimate([30, 10, -5, 20, 40], basis="the same pattern")
    assert estimate == {"minutes": 25.0, "basis": "the same pattern", "count": 4, "p_low": 20, "p_high": 40}
    assert time_to_resolve_estimate([-1], basis="x") is None


def test_a_cascade_climbs_from_the_root_through_its_dependants_only():
    topology = Topology({"web": {"api"}, "api": {"db"}, "db": set(), "batch": {"db"}, "cache": set(), "api2": {"cache"}})
    assert cascade(topology, "db") == {"db", "api", "web", "batch"}
    assert cascade(topology, "api") == {"api", "web"}


def test_unweighed_evidence_counts_critical_alerts_over_warning_logs():
    assert evidence_weight(severity="critical", type="alert") > evidence_weight(severity="warning", type="log") > evidence_weight(severity="info", type="metric")


def test_the_analysis_round_trips_through_json_and_refuses_other_shapes():
    hypotheses = [Hypothesis("db", 0.81234, "db-connection-pool-exhaustion", ("first to alert",), (Evidence(7, "evt-7", 0.91234),)),
                  Hypothesis("api", 0.1)]
    data = analysis_to_json(hypotheses)
    assert data[0] == {"service": "db", "score": 0.8123, "pattern": "db-connection-pool-exhaustion", "reasons": ["first to alert"],
                       "evidence": [{"event": 7, "client_id": "evt-7", "weight": 0.912}]}
    assert analysis_from_json(data)[1] == Hypothesis("api", 0.1)
    for bad in ([{"service": "db", "evidence": [7]}], [{"score": 1}], {"service": "db"}, [{"service": "db", "evidence": [{"event": "evt-7"}]}]):
        with pytest.raises(AnalysisShapeError):
            analysis_from_json(bad)


def test_the_admin_refuses_hypotheses_not_in_the_one_shape():
    from django.core.exceptions import ValidationError

    from incidents.models import Incident

    Incident(hypotheses=[{"service": "db", "evidence": [{"event": 7}]}]).clean()
    with pytest.raises(ValidationError, match="event"):
        Incident(hypotheses=[{"service": "db", "evidence": [7]}]).clean()
