"""Calibration as the correlation bench reports it: mean confidence minus top-1, bins, and the PNG."""
from bench.correlation import calibration, reliability_png
from evaluation import scoring


def _truth_and_incidents():
    faults, incidents = [], []
    # Ten faults shown at 0.9: six named right. Ten shown at 0.3: three named right.
    for i, (conf, right) in enumerate([(0.9, i < 6) for i in range(10)] + [(0.3, i < 3) for i in range(10)]):
        faults.append({"id": f"f{i}", "kind": "k", "root_service": "db", "event_ids": [f"e{i}"], "alert_ids": [f"e{i}"]})
        incidents.append({"id": i + 1, "event_ids": [f"e{i}"], "root_cause_service": "db" if right else "api",
                          "root_cause_candidates": ["db" if right else "api"], "confidence": conf})
    return {"faults": faults, "counts": {"alerts": 20}, "noise_alert_ids": []}, incidents


def test_the_gap_is_mean_confidence_minus_top1_over_the_faults_found(tmp_path):
    truth, incidents = _truth_and_incidents()
    cal = calibration(scoring.score(truth=truth, incidents=incidents))
    assert cal["faults"] == 20
    assert abs(cal["mean_confidence"] - 0.6) < 1e-9 and abs(cal["top1"] - 0.45) < 1e-9
    assert abs(cal["gap"] - 0.15) < 1e-9
    assert [(b["lo"], b["n"], b["top1"]) for b in cal["bins"]] == [(0.3, 10, 0.3), (0.9, 10, 0.6)]
    path = tmp_path / "reliability.png"
    reliability_png(path, {"test family": cal})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
