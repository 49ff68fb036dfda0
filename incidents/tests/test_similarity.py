"""Similar incidents: a score over services, templates, types, root cause and topology, with reasons."""
from incidents.similarity import IncidentProfile, incident_similarity, resolve_estimate, similar_incidents

GRAPH = {"checkout": ["payments", "postgres"], "payments": ["postgres"], "orders": ["postgres", "kafka"], "search": ["elasticsearch"]}


def profile(pk, services, root, templates=(), types=(), minutes=None):
    return IncidentProfile(pk, frozenset(services), root, frozenset(templates), frozenset(types), minutes)


def test_the_same_failure_again_scores_high_and_says_why():
    now = profile(1, {"postgres", "checkout", "payments"}, "postgres", {"T1", "T2"}, {"db-connection-pool-exhaustion"})
    before = profile(2, {"postgres", "checkout"}, "postgres", {"T1", "T2", "T3"}, {"db-connection-pool-exhaustion"})
    sim = incident_similarity(now, before, graph=GRAPH)
    assert sim.score > 0.75
    assert "same root cause: postgres" in sim.reasons
    assert any(r.startswith("same type") for r in sim.reasons)
    assert any("services" in r for r in sim.reasons)


def test_an_unrelated_incident_scores_low_and_a_neighbour_in_between():
    now = profile(1, {"postgres", "checkout"}, "postgres", {"T1"}, {"database"})
    unrelated = profile(2, {"search", "elasticsearch"}, "elasticsearch", {"T9"}, {"resource"})
    neighbour = profile(3, {"payments", "checkout"}, "payments", {"T1"}, {"database"})
    low = incident_similarity(now, unrelated, graph=GRAPH).score
    mid = incident_similarity(now, neighbour, graph=GRAPH)
    assert low < 0.1 < mid.score < 0.9
    assert any("1 hop apart" in r for r in mid.reasons)


def test_views_without_data_on_one_side_do_not_count_against():
    fresh = profile(1, {"postgres"}, "postgres")  # no templates, no type yet
    old = profile(2, {"postgres"}, "postgres", {"T1"}, {"database"})
    assert incident_similarity(fresh, old).score == 1.0


def test_ranking_and_the_time_to_resolve_estimate():
    target = profile(10, {"postgres", "checkout"}, "postgres", {"T1"}, {"database"})
    history = [
        profile(1, {"postgres", "checkout"}, "postgres", {"T1"}, {"database"}, minutes=30),
        profile(2, {"postgres"}, "postgres", {"T1"}, {"database"}, minutes=50),
        profile(3, {"search"}, "search", {"T7"}, {"resource"}, minutes=500),
        profile(10, {"postgres", "checkout"}, "postgres", {"T1"}, {"database"}, minutes=1),  # itself
    ]
    ranked = similar_incidents(target, history, graph=GRAPH)
    assert [s.profile.id for s in ranked] == [1, 2]
    estimate = resolve_estimate(ranked)
    assert estimate["count"] == 2 and estimate["minutes"] in (30, 50) and estimate["p_low"] <= estimate["p_high"]
    assert resolve_estimate([]) is None
