"""The scenario fuzzer writes what replay reads, and its truth names only events it wrote."""
import json

import pytest

from bench.fuzz.estate import FAMILIES, estate_random
from bench.fuzz.scenario import scenario_write
from incidents.ingest import batch_validate
from incidents.topology import topology_validate


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    out = {}
    for family in FAMILIES:
        d = tmp_path_factory.mktemp(family)
        events, topology, truth = scenario_write(family=family, seed=5, directory=d, hours=4, metric_interval=300)
        out[family] = ([json.loads(line) for line in events.read_text().splitlines()], json.loads(topology.read_text()), truth)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_every_event_and_the_topology_pass_the_ingest_validation(scenarios, family):
    events, topology, _ = scenarios[family]
    assert len(batch_validate(events)) == len(events)
    services = topology_validate(topology)
    names = {s["name"] for s in services}
    assert {e["service"] for e in events} <= names
    assert all(d in names for s in services for d in s["depends_on"])


@pytest.mark.parametrize("family", FAMILIES)
def test_the_truth_names_only_events_of_the_stream_and_counts_its_alerts(scenarios, family):
    events, _, truth = scenarios[family]
    by_id = {e["id"]: e for e in events}
    assert len(by_id) == len(events)  # ids are unique
    assert truth["faults"]
    for f in truth["faults"]:
        assert set(f["alert_ids"]) <= set(f["event_ids"]) <= by_id.keys()
        assert all(by_id[i]["type"] == "alert" for i in f["alert_ids"])
        assert all(by_id[i]["type"] == "log" and by_id[i]["severity"] != "info" for i in set(f["event_ids"]) - set(f["alert_ids"]))
    assert truth["counts"]["alerts"] == sum(e["type"] == "alert" for e in events)
    labelled = {i for f in truth["faults"] for i in f["alert_ids"]}
    assert not labelled & set(truth["noise_alert_ids"])


def test_a_silent_root_sends_nothing_and_its_callers_show_the_fault(scenarios):
    silent = [(f, scenarios[fam][0]) for fam in FAMILIES for f in scenarios[fam][2]["faults"] if f["kind"] == "third_party_outage"]
    if not silent:
        pytest.skip("no third-party outage drawn at this seed")
    for fault, events in silent:
        assert not any(e["service"] == fault["root_service"] for e in events)
        by_id = {e["id"]: e for e in events}
        assert {by_id[i]["service"] for i in fault["event_ids"]} <= set(fault["affected_services"]) - {fault["root_service"]}


def test_resolutions_follow_their_firing_and_arrival_order_is_not_event_order(scenarios):
    events, _, _ = scenarios["layered"]
    firing = {}
    out_of_order = 0
    last = ""
    for e in events:
        if e["type"] == "alert":
            key = (e["fingerprint"], e["attributes"]["starts_at"])
            if e["attributes"]["alert_status"] == "firing":
                firing[key] = e["timestamp"]
            else:
                assert e["timestamp"] >= e["attributes"]["starts_at"]
        out_of_order += e["timestamp"] < last
        last = max(last, e["timestamp"])
    assert out_of_order > 0


def test_the_same_seed_gives_the_same_scenario_and_another_seed_another_estate(tmp_path):
    a = scenario_write(family="mesh", seed=3, directory=tmp_path / "a", hours=2, metric_interval=600)
    b = scenario_write(family="mesh", seed=3, directory=tmp_path / "b", hours=2, metric_interval=600)
    assert a[0].read_text() == b[0].read_text() and a[2] == b[2]
    import random

    names = [set(estate_random(random.Random(s), "layered").nodes) for s in (1, 2)]
    assert names[0] != names[1]
