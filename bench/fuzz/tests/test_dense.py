"""Dense scenarios (issue 9): bursts of faults as the chaos lab's run 7 showed them, and default
scenarios left exactly as they were."""
import hashlib
import json
from datetime import datetime

import pytest

from bench.fuzz.estate import FAMILIES
from bench.fuzz.scenario import scenario_write
from incidents.ingest import batch_validate

# sha256 of events.jsonl + topology.json + truth.json for seed 3, 4 hours, metric_interval 600, as
# written before the dense option existed (main at 9d41f3b): the option must not move the default.
DEFAULT_BYTES = {
    "layered": "51feb223150d4c2faea9f3fbe83ae1cf1f37e72af11de3f7c4d314d6ccd7dff3",
    "mesh": "081afcc2582060a572446b08dcc977434e32ceac6a2684273369e2ed9227d7c7",
    "pools": "edb5f70ba006ddbffdfa8c1c13ce71b30ea31bbb81134b7b98f64d6e37bfd888",
    "queues": "9568ed79757709ba1c91c62cb5a3ee3fa4a40c72df76920b7136f6de3f83bd1c",
}


def _digest(directory) -> str:
    h = hashlib.sha256()
    for name in ("events.jsonl", "topology.json", "truth.json"):
        h.update((directory / name).read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    out = {}
    for family in FAMILIES:
        d = tmp_path_factory.mktemp(f"dense-{family}")
        events, topology, truth = scenario_write(family=family, seed=3, directory=d, hours=4, metric_interval=600, dense=True)
        out[family] = ([json.loads(line) for line in events.read_text().splitlines()], json.loads(topology.read_text()), truth)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_a_default_scenario_is_byte_for_byte_what_it_was_before_the_dense_option(tmp_path, family):
    scenario_write(family=family, seed=3, directory=tmp_path, hours=4, metric_interval=600)
    assert _digest(tmp_path) == DEFAULT_BYTES[family]


def _bursts(truth: dict) -> list[list[dict]]:
    """The dense faults in start order, cut where more than 120 s pass between two starts."""
    faults = sorted((f for f in truth["faults"] if f["tags"].get("dense")), key=lambda f: f["start"])
    bursts: list[list[dict]] = []
    for f in faults:
        if bursts and _seconds(bursts[-1][-1]["start"], f["start"]) <= 120:
            bursts[-1].append(f)
        else:
            bursts.append([f])
    return bursts


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


@pytest.mark.parametrize("family", FAMILIES)
def test_a_dense_scenario_has_the_default_estate_and_bursts_of_three_to_five_faults_on_different_roots(tmp_path, dense, family):
    events, topology, truth = dense[family]
    default = scenario_write(family=family, seed=3, directory=tmp_path, hours=4, metric_interval=600)
    assert topology == json.loads(default[1].read_text())
    assert truth["dense"] is True and truth["id_prefix"] != default[2]["id_prefix"]
    bursts = _bursts(truth)
    assert bursts
    for burst in bursts:
        assert 3 <= len(burst) <= 5
        assert len({f["root_service"] for f in burst}) == len(burst)
        assert all(f["tags"]["mode"] == "dense" for f in burst)
        gaps = [_seconds(a["start"], b["start"]) for a, b in zip(burst, burst[1:], strict=False)]
        assert all(g == 0 or 20 <= g <= 120 for g in gaps)
    assert all(not f["tags"].get("dense") for f in default[2]["faults"])


def test_some_dense_faults_start_at_the_same_moment(dense):
    gaps = [_seconds(a["start"], b["start"]) for fam in FAMILIES for burst in _bursts(dense[fam][2])
            for a, b in zip(burst, burst[1:], strict=False)]
    assert 0 in gaps and any(g > 0 for g in gaps)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_dense_scenario_passes_ingest_and_its_truth_names_only_its_events(dense, family):
    events, _, truth = dense[family]
    assert len(batch_validate(events)) == len(events)
    ids = {e["id"] for e in events}
    assert len(ids) == len(events)
    for f in truth["faults"]:
        assert set(f["alert_ids"]) <= set(f["event_ids"]) <= ids
    assert not {i for f in truth["faults"] for i in f["alert_ids"]} & set(truth["noise_alert_ids"])
