"""Root-cause ranking as plain functions: no database, no HTTP."""
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


def test_confidence_is_high_when_one_hypothesis_dominates_and_lower_when_it_does_not():
    clear = rank(
        signals={
            "postgres": sig("postgres", 0, severity="critical", text="too many connections"),
            "inventory": sig("inventory", 60),
            "payments": sig("payments", 70),
            "checkout": sig("checkout", 90),
            "api-gateway": sig("api-gateway", 120),
        },
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
