"""Root-cause ranking as plain functions: no database, no HTTP."""
import pytest
from datetime import UTC, datetime, timedelta

from correlation.patterns import PatternSpec
from correlation.rca import ServiceSignals, Topology, rank
from incidents.catalogue import BUILTIN_PATTERNS

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GRAPH = Topology(
    {
        "api-gateway": {"checkout", "search"},
        "checkout": {"payments", "inventory", "postgres"},
        "payments": {"postgres", "payment-provider"},
        "inventory": {"postgres"},
        "search": {"elasticsearch"},
    },
    tiers={"postgres": "database", "payment-provider": "external", "elasticsearch": "search"},
)
PATTERNS = [PatternSpec.from_signals(slug=p["slug"], name=p["name"], signals=p["signals"], incident_type=p["incident_type"]) for p in BUILTIN_PATTERNS]


def sig(service, seconds, *, alerts=1, severity="warning", text="", metrics=(), error_logs=0, evidence=None):
    return ServiceSignals(
        service=service, tier=GRAPH.tier(service), onset=T0 + timedelta(seconds=seconds), max_severity=severity,
        alerts=alerts, error_logs=error_logs, text=text, metrics=set(metrics),
        evidence=evidence or [(0.7, hash(service) % 1000, f"{service}-1")],
    )


def test_topology_walks_both_ways_with_hops():
    assert GRAPH.downstream("api-gateway")["postgres"] == 2
    assert GRAPH.upstream("postgres")["api-gateway"] == 2
    assert GRAPH.distance("postgres", "api-gateway") == 2 == GRAPH.distance("api-gateway", "postgres")
    assert GRAPH.distance("search", "postgres") is None


def test_the_dependency_everyone_calls_wins_even_when_it_alerts_last():
    signals = {
        "checkout": sig("checkout", 0, severity="critical"),
        "inventory": sig("inventory", 20),
        "payments": sig("payments", 30),
        "postgres": sig("postgres", 90, text="remaining connection slots are reserved"),
    }
    result = rank(signals=signals, topology=GRAPH, patterns=PATTERNS)
    assert result.root == "postgres"
    assert result.pattern.slug == "db-connection-pool-exhaustion"
    top = result.hypotheses[0]
    assert any("depend on it" in r for r in top.reasons) and any("dependencies are healthy" in r for r in top.reasons)
    assert abs(sum(h.score for h in result.hypotheses) - 1.0) < 1e-6
    assert "postgres is the probable root cause" in result.summary


def test_a_mid_tier_failure_with_healthy_dependencies_is_ranked_above_its_callers():
    signals = {
        "api-gateway": sig("api-gateway", 40),
        "checkout": sig("checkout", 10, severity="critical", text="error rate jumped after rollout of v2.4.1"),
    }
    result = rank(signals=signals, topology=GRAPH, patterns=PATTERNS)
    assert result.candidates[:2] == ["checkout", "api-gateway"]
    assert result.hypotheses[0].pattern.pattern.slug == "bad-deploy"


def test_a_silent_dependency_shared_by_the_affected_services_is_a_candidate():
    signals = {"checkout": sig("checkout", 0), "inventory": sig("inventory", 5), "payments": sig("payments", 10)}
    result = rank(signals=signals, topology=GRAPH, patterns=PATTERNS)
    assert "postgres" in result.candidates
    assert next(h for h in result.hypotheses if h.service == "postgres").reasons[0] == "no signal of its own"


CASCADE = {
    "postgres": sig("postgres", 0, severity="critical", text="too many connections"),
    "inventory": sig("inventory", 60),
    "payments": sig("payments", 70),
    "checkout": sig("checkout", 90),
    "api-gateway": sig("api-gateway", 120),
}


def test_confidence_is_high_when_one_hypothesis_dominates_and_lower_when_it_does_not():
    clear = rank(
        signals=CASCADE,
        topology=GRAPH, patterns=PATTERNS,
    )
    # Two unrelated services at once: neither explains the other.
    unclear = rank(
        signals={"search": sig("search", 0), "payments": sig("payments", 5)},
        topology=GRAPH, patterns=PATTERNS,
    )
    assert 0.0 <= unclear.confidence < clear.confidence <= 1.0
    # The probability among the hypotheses; the confidence shown is that, calibrated (rca.CALIBRATION).
    assert clear.hypotheses[0].score > 0.8 and unclear.hypotheses[0].score < 0.6


def test_hypotheses_serialise_with_evidence():
    result = rank(signals={"payments": sig("payments", 0, evidence=[(1.0, 42, "evt-42"), (0.2, 43, None)])}, topology=GRAPH, patterns=PATTERNS)
    data = result.hypotheses[0].to_json()
    assert data["service"] == "payments" and data["score"] == 1.0 and data["pattern"] is None
    assert data["evidence"] == [{"event": 42, "client_id": "evt-42", "weight": 1.0}, {"event": 43, "client_id": None, "weight": 0.2}]
    assert rank(signals={}, topology=GRAPH, patterns=PATTERNS).confidence == 0.0


def test_a_silent_third_party_named_in_its_callers_new_kinds_of_error_line_is_ranked_first_by_the_shipped_ranker():
    from correlation.learning import _shipped_ranker

    line = "dial tcp 10.0.3.7:443: connect: connection refused (payment-provider)"
    signals = {
        "payments": ServiceSignals("payments", onset=T0, max_severity="critical", alerts=2, critical=2, error_logs=12, text=line,
                                   new_templates=1, new_template_lines=12, new_templates_onset=T0, new_templates_text=line),
        "checkout": sig("checkout", 60, text="upstream request timeout calling payments", error_logs=3),
    }
    by_rules = rank(signals=signals, topology=GRAPH, patterns=PATTERNS)
    assert by_rules.root == "payments"  # the rules: it went wrong first and its dependencies look healthy
    provider = next(h for h in by_rules.hypotheses if h.service == "payment-provider")
    assert provider.features["silent"] == 1.0 and provider.features["new_named"] == 1.0
    assert "named in new kinds of error line of 1 caller(s)" in provider.reasons
    ranked = rank(signals=signals, topology=GRAPH, patterns=PATTERNS, ranker=_shipped_ranker())
    assert ranked.root == "payment-provider"
    assert ranked.hypotheses[0].reasons[-1].startswith("ranked by the learned ranker")


def test_the_ranker_gate_opens_only_where_the_trouble_may_be_further_down():
    from correlation.rca import gate_opens

    assert gate_opens({"blames": 1.0}, [{"named": 0.5}])  # the first blames a dependency its callers name
    assert gate_opens({"blames": 0.0}, [{"silent": 1.0, "new_named": 1.0}])  # a silent one named in new kinds of line
    assert not gate_opens({"blames": 1.0}, [{"named": 0.0}, {"silent": 1.0, "new_named": 0.0}])
    assert not gate_opens({"blames": 0.0, "named": 1.0}, [{"named": 1.0, "blames": 1.0}])  # a clear cascade: the rules


def test_a_silent_shared_database_named_by_one_of_its_three_clients_loses_credit_and_says_why():
    # payments' pool is exhausted and its errors name postgres; checkout and inventory, which use
    # postgres too, are fine: one dependant of three is no evidence against the shared database.
    signals = {"payments": sig("payments", 0, severity="critical", error_logs=20,
                               text="database error: connection pool exhausted waiting for postgres")}
    result = rank(signals=signals, topology=GRAPH, patterns=[])
    assert result.root == "payments"
    postgres = next(h for h in result.hypotheses if h.service == "postgres")
    assert any("only 1 of the 3 services that depend on it are affected" in r for r in postgres.reasons)


def test_a_silent_shared_dependency_most_of_whose_dependants_fail_keeps_its_credit():
    from correlation.rca import fan_in_discount

    affected = {"checkout", "payments", "inventory"}
    assert fan_in_discount("postgres", ServiceSignals(service="postgres"), GRAPH, affected) == 1.0
    assert fan_in_discount("postgres", ServiceSignals(service="postgres"), GRAPH, {"payments"}) == (1 / 3 / 0.5) ** 2
    # signals of its own, or a single dependant: no discount
    assert fan_in_discount("postgres", sig("postgres", 0), GRAPH, {"payments"}) == 1.0
    assert fan_in_discount("payment-provider", ServiceSignals(service="payment-provider"), GRAPH, {"payments"}) == 1.0


def test_a_silent_shared_database_named_in_the_errors_of_two_of_its_callers_keeps_its_credit():
    # postgres has six clients; two of them alert and both name it, the other four are fine. Two
    # witnesses are evidence against the database itself: no fan-in discount. With one witness
    # (search's errors say nothing of postgres) it is the pool-exhaustion story again: discounted.
    graph = Topology({**GRAPH.deps, "search": {"elasticsearch", "postgres"}, "reports": {"postgres"}, "billing": {"postgres"}},
                     tiers={"postgres": "database"})
    payments = sig("payments", 0, severity="critical", error_logs=20, text="database error: timeout connecting to postgres")

    def postgres(search_text):
        signals = {"payments": payments, "search": sig("search", 10, severity="critical", error_logs=20, text=search_text)}
        return next(h for h in rank(signals=signals, topology=graph, patterns=[]).hypotheses if h.service == "postgres")

    two, one = postgres("query failed: postgres connection refused"), postgres("query failed: request timed out")
    assert any("named in the errors of 2 affected service(s)" in r for r in two.reasons)
    assert not any("services that depend on it are affected" in r for r in two.reasons)
    assert any("only 2 of the 6 services that depend on it are affected" in r for r in one.reasons)
    assert one.raw == pytest.approx(two.raw * (2 / 6 / 0.5) ** 2)


def test_another_origin_the_root_cannot_explain_lowers_the_confidence_shown():
    from correlation.rca import CALIBRATION, UNEXPLAINED_DISCOUNT, discount, lead, unexplained
    from correlation.ranker import lead_calibrate

    alone = rank(signals=CASCADE, topology=GRAPH, patterns=PATTERNS)
    # search neither calls postgres nor is called by it: a second fault at the same time.
    mixed = rank(signals={**CASCADE, "search": sig("search", 30)}, topology=GRAPH, patterns=PATTERNS)
    assert alone.root == mixed.root == "postgres"
    assert unexplained("postgres", {**CASCADE, "search": sig("search", 30)}, GRAPH) == ["search"]
    undiscounted = lead_calibrate(lead(mixed.hypotheses), CALIBRATION)
    assert mixed.confidence == round(discount(undiscounted, UNEXPLAINED_DISCOUNT), 4)
    assert mixed.confidence < undiscounted - 0.05 and mixed.confidence < alone.confidence - 0.05
    assert "search also alert on their own, which postgres does not explain" in mixed.summary
    assert "does not explain" not in alone.summary


def test_callers_dependencies_and_weak_signals_are_not_other_origins():
    from correlation.rca import unexplained

    # The root's callers (its failure spreads to them) and its dependencies are explained by it.
    assert unexplained("postgres", CASCADE, GRAPH) == []
    assert unexplained("checkout", CASCADE, GRAPH) == []
    # payments and inventory both call postgres but not each other: each explains neither.
    assert unexplained("payments", CASCADE, GRAPH) == ["inventory"]
    # Info alerts and error lines alone are not a second origin.
    quiet = {**CASCADE, "search": sig("search", 30, severity="info"), "elasticsearch": sig("elasticsearch", 30, alerts=0, severity=None, error_logs=5)}
    assert unexplained("postgres", quiet, GRAPH) == []


def test_the_discount_moves_the_logit_and_keeps_the_ends():
    from correlation.rca import discount
    from correlation.ranker import logit

    assert discount(0.0, 2.0) == 0.0 and discount(1.0, 2.0) == 1.0
    for c in (0.1, 0.5, 0.82, 0.99):
        assert abs(logit(discount(c, 2.42)) - (logit(c) - 2.42)) < 1e-9
    assert discount(0.82, 0.0) == pytest.approx(0.82)
