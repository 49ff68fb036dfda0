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


def _scored(path, *, rules, ranker, discount, n=100):
    """A scored file (what --charts writes) whose faults are right exactly as often as the given
    scalings and discount say: for each input and flag, n faults, round(n * p) of them named right."""
    import json
    import math

    from correlation.rca import SECOND_ORIGIN_NOTE

    faults, incidents = [], []
    cases = [(False, lead) for lead in (-0.2, 0.1, 0.4, 0.7, 1.0)] + [(True, p) for p in (0.15, 0.35, 0.5, 0.7, 0.9)]
    for ranked, x in cases:
        z = ranker[0] * math.log(x / (1 - x)) + ranker[1] if ranked else rules[0] * x + rules[1]
        for flagged in (False, True):
            p = 1 / (1 + math.exp(-(z - discount * flagged)))
            for k in range(n):
                i = len(faults)
                right = k < round(n * p)
                faults.append({"id": f"f{i}", "kind": "k", "root_service": "db", "event_ids": [f"e{i}"], "alert_ids": [f"e{i}"]})
                top = "db" if right else "api"
                hypotheses = ([{"service": top, "score": x, "reasons": ["ranked by the learned ranker: the trouble may be further down"]}]
                              if ranked else [{"service": top, "score": (1 + x) / 2, "reasons": []}, {"service": "web", "score": (1 - x) / 2}])
                incidents.append({"id": i + 1, "event_ids": [f"e{i}"], "root_cause_service": top, "root_cause_candidates": [top],
                                  "confidence": 0.5, "summary": f"{top} is the probable root cause." + (f" {SECOND_ORIGIN_NOTE}" if flagged else ""),
                                  "hypotheses": hypotheses})
    path.write_text(json.dumps({"truth": {"faults": faults, "counts": {"alerts": len(faults)}, "noise_alert_ids": []}, "incidents": incidents}))


def test_the_calibration_fit_recovers_both_scalings_and_the_discount_from_what_the_run_stored(tmp_path, capsys):
    # The ranker's input is its stored top probability (not the confidence shown, inverted), and the
    # discount is known from the summary: the fit finds the constants the faults were drawn with.
    from bench.correlation import calibration_rows, fit_calibration
    from correlation.ranker import discounted_fit

    _scored(tmp_path / "scored-fuzz-a.json", rules=(2.0, 0.5), ranker=(3.0, 1.0), discount=1.2)
    rows = calibration_rows(tmp_path)["fuzz-a"]
    assert len(rows) == 2000 and sum(r[1] for r in rows) == 1000 and sum(r[2] for r in rows) == 1000
    (a0, b0), (a1, b1), d = discounted_fit(*zip(*[r[:4] for r in rows]))
    assert abs(a0 - 2.0) < 0.15 and abs(b0 - 0.5) < 0.1
    assert abs(a1 - 3.0) < 0.15 and abs(b1 - 1.0) < 0.1
    assert abs(d - 1.2) < 0.1
    (tmp_path / "scored-fuzz-b.json").write_text((tmp_path / "scored-fuzz-a.json").read_text())
    assert fit_calibration(tmp_path, "fuzz") == 0
    out = capsys.readouterr().out
    assert "fuzz-b" in out and "1000 with a second origin" in out and "UNEXPLAINED_DISCOUNT = 1.2" in out


def test_a_scored_file_without_summaries_is_refused_with_a_reason(tmp_path, capsys):
    import json

    from bench.correlation import fit_calibration

    truth, incidents = _truth_and_incidents()
    (tmp_path / "scored-fuzz-old.json").write_text(json.dumps({"truth": truth, "incidents": incidents}))
    assert fit_calibration(tmp_path, "fuzz") == 2
    assert "without their summary" in capsys.readouterr().out


def test_the_calibration_fit_on_two_prefixes_scores_each_family_without_its_shape(tmp_path, capsys):
    # dense-a is held out from fuzz-a's fit as well as its own: the same estates are not "out of family".
    from bench.correlation import fit_calibration

    _scored(tmp_path / "scored-fuzz-a.json", rules=(2.0, 0.5), ranker=(3.0, 1.0), discount=1.2)
    for name in ("fuzz-b", "dense-a", "dense-b"):
        (tmp_path / f"scored-{name}.json").write_text((tmp_path / "scored-fuzz-a.json").read_text())
    assert fit_calibration(tmp_path, "fuzz,dense") == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in ("fuzz-a", "fuzz-b", "dense-a", "dense-b"))
    assert "fitted on every fuzz/dense* family" in out
    assert fit_calibration(tmp_path, "lab") == 2
