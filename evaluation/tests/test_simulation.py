"""The simulator: topology, everyday telemetry, noise, faults that spread, ground truth, arrival order."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from evaluation import simulation
from evaluation.simulation import KINDS, SERVICES, Recording, SimConfig, Simulator
from incidents.catalogue import BUILTIN_PATTERNS
from incidents.ingest import batch_validate

START = datetime(2026, 11, 2, tzinfo=UTC)


def small(seed: int = 3, **kw) -> SimConfig:
    return SimConfig(**{"start": START, "seed": seed, "metric_interval_s": 600.0, "benign_logs_per_s": 0.2, "fault_every_min": 45.0, **kw})


@pytest.fixture(scope="module")
def recording() -> tuple[list[dict], dict]:
    rec = Recording(small(), days=0.5)
    events = list(rec)
    return events, rec.truth


def test_topology_is_a_realistic_acyclic_estate():
    names = {s["name"] for s in SERVICES}
    assert 18 <= len(names) <= 25
    assert {"frontend", "api-gateway", "checkout", "cart", "payments", "catalog", "search", "users", "inventory", "shipping",
            "notifications", "recommendations", "postgres", "redis", "kafka", "payment-provider"} <= names
    for s in SERVICES:
        assert set(s["depends_on"]) <= names
    sim = Simulator(small())
    for s in SERVICES:  # no service reaches itself
        seen, queue = set(), list(s["depends_on"])
        while queue:
            node = queue.pop()
            assert node != s["name"]
            if node not in seen:
                seen.add(node)
                queue.extend(sim.services[node]["depends_on"])
    assert simulation.topology()["services"][0].keys() >= {"name", "tier", "depends_on"}


def test_every_fault_kind_is_a_pattern_of_the_library():
    assert set(KINDS) == {p["slug"] for p in BUILTIN_PATTERNS}
    names = {s["name"] for s in SERVICES}
    for kind in KINDS.values():
        assert set(kind.roots) <= names and kind.alerts and kind.logs and kind.caller_logs


def test_the_stream_is_valid_ingest_input_with_unique_client_ids(recording):
    events, truth = recording
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) and all(i.startswith(truth["id_prefix"]) for i in ids)
    for start in range(0, len(events), 5000):
        batch_validate(events[start : start + 5000])  # raises on any invalid event
    kinds = Counter(e["type"] for e in events)
    assert kinds["metric"] and kinds["log"] and kinds["alert"]
    assert truth["counts"]["events"] == len(events) and truth["counts"]["alerts"] == kinds["alert"]


def test_events_arrive_out_of_order_but_not_unboundedly_late(recording):
    events, _ = recording
    times = [datetime.fromisoformat(e["timestamp"]) for e in events]
    inversions = sum(1 for a, b in zip(times, times[1:]) if b < a)
    assert inversions > len(events) * 0.05
    latest = times[0]
    for t in times:
        latest = max(latest, t)
        assert latest - t <= timedelta(seconds=SimConfig.max_late_s + 60)


def test_ground_truth_names_each_fault_and_its_events(recording):
    events, truth = recording
    by_id = {e["id"]: e for e in events}
    assert len(truth["faults"]) >= 6
    callers = {s["name"]: set() for s in SERVICES}
    for s in SERVICES:
        for d in s["depends_on"]:
            callers[d].add(s["name"])
    for fault in truth["faults"]:
        assert fault["root_service"] in KINDS[fault["kind"]].roots and fault["pattern"] == fault["kind"]
        affected = fault["affected_services"]
        assert affected[0] == fault["root_service"]
        for service in affected[1:]:  # a failure spreads to callers, hop by hop
            assert callers_reach(callers, fault["root_service"], service)
        assert set(fault["alert_ids"]) <= set(fault["event_ids"]) and all(i in by_id for i in fault["event_ids"])
        assert {by_id[i]["service"] for i in fault["event_ids"]} <= set(affected)
        assert fault["start"] < fault["end"]
        # Meant to be caught: a critical alert, or alerts of three fingerprints or more.
        firing = [by_id[i] for i in fault["alert_ids"] if by_id[i]["attributes"]["alert_status"] == "firing"]
        assert any(a["severity"] == "critical" for a in firing) or len({(a["service"], a["attributes"]["alertname"]) for a in firing}) >= 3
    noise = set(truth["noise_alert_ids"])
    assert noise and not noise & {i for f in truth["faults"] for i in f["alert_ids"]}
    assert all(by_id[i]["type"] == "alert" for i in noise)


def callers_reach(callers: dict[str, set[str]], root: str, service: str) -> bool:
    seen, queue = {root}, [root]
    while queue:
        for c in callers[queue.pop()]:
            if c == service:
                return True
            if c not in seen:
                seen.add(c)
                queue.append(c)
    return False


def test_resolutions_carry_their_end_time_and_flapping_alerts_repeat(recording):
    events, _ = recording
    alerts = [e for e in events if e["type"] == "alert"]
    resolved = [a for a in alerts if a["attributes"]["alert_status"] == "resolved"]
    assert resolved and all(a["severity"] == "info" and a["message"].startswith("RESOLVED: ") for a in resolved)
    fired = {}
    for a in alerts:
        if a["attributes"]["alert_status"] == "firing":
            fired.setdefault(a["fingerprint"], []).append(a["timestamp"])
    assert all(a["timestamp"] > min(fired[a["fingerprint"]]) for a in resolved if a["fingerprint"] in fired)
    assert max(len(v) for v in fired.values()) >= 3  # a flapping alert


def test_metrics_follow_a_daily_rhythm_and_faults_shift_them():
    assert Simulator.load(START.timestamp() + 15 * 3600) > 2 * Simulator.load(START.timestamp() + 3 * 3600)
    sim = Simulator(small(seed=5, metric_interval_s=60.0, first_fault_after_min=10_000))
    t0 = START.timestamp() + 3600
    fault = sim.inject(t0, kind="db-connection-pool-exhaustion", root="postgres")
    events = sim.advance(START + timedelta(hours=2))
    connections = [e for e in events if e["type"] == "metric" and e["service"] == "postgres" and e["metric"] == "db_connections"]
    during = [e["value"] for e in connections if t0 + 120 <= datetime.fromisoformat(e["timestamp"]).timestamp() < fault.end]
    before = [e["value"] for e in connections if datetime.fromisoformat(e["timestamp"]).timestamp() < t0]
    assert during and before and min(during) > 2 * max(before)
    assert set(fault.metric_ids) >= {e["id"] for e in connections if t0 + 120 <= datetime.fromisoformat(e["timestamp"]).timestamp() < fault.end}
    logs = [e for e in events if e["id"] in set(fault.event_ids) and e["type"] == "log"]
    assert any("too many" in e["message"] or "connection slots" in e["message"] for e in logs)


def test_the_same_seed_gives_the_same_stream_and_another_seed_another():
    a = [e["id"] + e["timestamp"] for e in Recording(small(seed=9), days=0.1)]
    b = [e["id"] + e["timestamp"] for e in Recording(small(seed=9), days=0.1)]
    c = [e["id"] + e["timestamp"] for e in Recording(small(seed=10), days=0.1)]
    assert a == b and a != c


def test_live_run_hands_arrived_events_to_ingest_and_announces_faults():
    batches, said = [], []
    config = SimConfig.live(start=datetime.now(UTC) - timedelta(minutes=3), seed=1, id_prefix="t-")
    simulation.live_run(config=config, ingest=batches.append, say=said.append, tick_s=0.0, stop=lambda: len(batches) >= 1)
    assert batches and len(batches[0]) > 50
    assert said and "injecting" in said[0]


def test_a_fault_that_leaves_no_unrelated_root_gets_no_overlapping_second_fault():
    # Seed 13 spreads a fault so widely on its first day that no fault kind has a root clear of
    # it; choosing the overlapping second fault used to pick from an empty list (IndexError).
    sim = Simulator(SimConfig(start=START, seed=13, metric_interval_s=36000.0, benign_logs_per_s=0.0001))
    sim.advance(START + timedelta(days=1))
    assert any(not sim._kinds_clear_of(set(f.affected)) for f in sim.faults)  # the case was met
    for first, second in zip(sim.faults, sim.faults[1:]):
        if second.start - first.start <= 240:  # an overlapping pair: the second is unrelated
            assert sim._clear_of(second.root_service, set(first.affected))


def test_injecting_with_every_root_busy_says_why_instead_of_an_index_error():
    sim = Simulator(small(seed=13))
    with pytest.raises(ValueError, match="no fault kind"):
        sim.inject(sim.cursor, avoid={s["name"] for s in SERVICES})
