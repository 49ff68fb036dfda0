"""manage.py simulate and replay: a recorded stream through the real ingest and correlation, scored."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from evaluation import scoring, simulation
from incidents.models import Event, Incident

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """One simulated day, light on background (metric points every 10 min, few benign logs)."""
    root = tmp_path_factory.mktemp("day")
    config = simulation.SimConfig(start=datetime(2026, 11, 2, tzinfo=UTC), seed=2, metric_interval_s=600.0, benign_logs_per_s=0.2)
    truth = simulation.stream_write(
        config=config, days=1, events_path=str(root / "events.jsonl"), truth_path=str(root / "truth.json"),
        topology_path=str(root / "topology.json"),
    )
    return root, truth


def replay(root, *extra) -> dict:
    call_command("replay", str(root / "events.jsonl"), "--topology", str(root / "topology.json"),
                 "--output", str(root / "incidents.json"), "--no-progress", *extra)
    return json.loads((root / "incidents.json").read_text())


@pytest.mark.slow
def test_a_simulated_day_replays_above_the_targets(day, settings):
    # The engine's own figures: anomaly detection is measured on its own (bench/nab.py).
    settings.ANOMALY_DETECTION = False
    root, truth = day
    out = replay(root)
    assert out["replay"]["events"] == truth["counts"]["events"] == Event.objects.count()
    result = scoring.score(truth=truth, incidents=out["incidents"])
    assert result.faults >= 10
    assert result.top1 >= 0.90 and result.top3 >= 0.98, scoring.report(result)
    assert result.noise_reduction >= 0.95 and result.spurious_share < 0.05 and result.missed == 0, scoring.report(result)
    assert result.grouping["f1"] >= 0.85, scoring.report(result)

    first = out["incidents"][0]
    assert first.keys() >= {"id", "number", "title", "status", "severity", "started_at", "root_cause_service", "root_cause_candidates",
                            "confidence", "hypotheses", "services", "event_ids", "event_count", "pattern"}
    assert first["event_ids"] and all(eid.startswith(truth["id_prefix"]) or eid.startswith("anomaly:") for eid in first["event_ids"])
    assert len(out["incidents"]) == Incident.objects.count()

    # Replaying the same stream again stores nothing twice and changes no incident.
    again = replay(root)
    assert again["replay"]["accepted"] == 0 and again["replay"]["duplicates"] == truth["counts"]["events"]
    assert again["incidents"] == [] and Incident.objects.count() == len(out["incidents"])


def test_bad_lines_are_named_with_the_reason(tmp_path):
    good = {"id": "a", "timestamp": "2026-11-02T09:00:00Z", "service": "checkout", "type": "log", "message": "ok"}
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + '{"id": "b", "timestamp": \n')
    with pytest.raises(CommandError, match=r"events.jsonl:3: invalid JSON"):
        call_command("replay", str(path), "--no-progress", "--output", str(tmp_path / "out.json"))

    path.write_text("\n".join(json.dumps(e) for e in [good, {**good, "id": "c", "type": "trace"}, {**good, "id": "d", "timestamp": "soon"}]))
    with pytest.raises(CommandError) as err:
        call_command("replay", str(path), "--no-progress", "--output", str(tmp_path / "out.json"))
    assert "line 2: type: 'trace' is not one of alert, log, metric" in str(err.value)
    assert "line 3: timestamp:" in str(err.value)
    assert Event.objects.count() == 0  # the batch holding them was refused whole

    with pytest.raises(CommandError, match="no such file"):
        call_command("replay", str(tmp_path / "missing.jsonl"))
    (tmp_path / "topology.json").write_text('{"services": [{"name": ""}]}')
    path.write_text(json.dumps(good))
    with pytest.raises(CommandError, match="service 0: name"):
        call_command("replay", str(path), "--topology", str(tmp_path / "topology.json"), "--no-progress")


def test_simulate_writes_a_recording_its_truth_and_topology(tmp_path, capsys):
    call_command("simulate", "--days", "0.05", "--seed", "4", "--metric-interval", "600", "--output", str(tmp_path / "e.jsonl"),
                 "--truth", str(tmp_path / "t.json"), "--topology-out", str(tmp_path / "topo.json"), "--quiet")
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    truth = json.loads((tmp_path / "t.json").read_text())
    assert len(lines) == truth["counts"]["events"] > 100
    assert json.loads((tmp_path / "topo.json").read_text()) == simulation.topology()
    with pytest.raises(CommandError, match="--output"):
        call_command("simulate")
