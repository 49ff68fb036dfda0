"""Scoring against ground truth, on hand-made truths whose answers are known."""
from evaluation.scoring import pairwise, report, score

TRUTH = {
    "id_prefix": "s-",
    "counts": {"alerts": 40},
    "noise_alert_ids": ["s-n1", "s-n2"],
    "faults": [
        {"id": "F1", "kind": "disk-full", "root_service": "postgres", "event_ids": ["s-1", "s-2", "s-3", "s-4"], "alert_ids": ["s-1", "s-2"]},
        {"id": "F2", "kind": "dns-failure", "root_service": "coredns", "event_ids": ["s-5", "s-6", "s-7"], "alert_ids": ["s-5", "s-6"]},
    ],
}


def incident(id, root, candidates, events, pattern=None, confidence=0.9):
    return {"id": id, "root_cause_service": root, "root_cause_candidates": candidates, "event_ids": events,
            "pattern": pattern, "confidence": confidence}


def test_a_perfect_answer_scores_perfectly():
    s = score(truth=TRUTH, incidents=[
        incident(1, "postgres", ["postgres", "checkout"], ["s-1", "s-2", "s-3", "s-4"], "disk-full"),
        incident(2, "coredns", ["coredns"], ["s-5", "s-6", "s-7", "anomaly:99"], "dns-failure"),
    ])
    assert (s.top1, s.top3, s.pattern_accuracy, s.missed, s.spurious, s.duplicates) == (1.0, 1.0, 1.0, 0, 0, 0)
    assert s.grouping == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert s.noise_reduction == 0.95  # 1 - 2 incidents / 40 alert events
    assert all(s.meets_targets().values())


def test_a_root_among_the_first_three_counts_for_top3_only():
    s = score(truth=TRUTH, incidents=[
        incident(1, "checkout", ["checkout", "api-gateway", "postgres"], ["s-1", "s-2", "s-3", "s-4"]),
        incident(2, "coredns", ["coredns"], ["s-5", "s-6", "s-7"]),
    ])
    assert s.top1 == 0.5 and s.top3 == 1.0
    assert [r.top1 for r in s.per_fault] == [False, True]


def test_split_faults_spurious_incidents_and_missed_faults():
    s = score(truth=TRUTH, incidents=[
        incident(1, "postgres", ["postgres"], ["s-1", "s-2", "s-3"]),
        incident(2, "postgres", ["postgres"], ["s-4"]),  # the rest of F1: a duplicate
        incident(3, "search", ["search"], ["s-n1", "s-n2"]),  # nothing but noise
    ])
    assert s.missed == 1 and s.duplicates == 1 and s.spurious == 1 and s.spurious_share == round(1 / 3, 4)
    assert s.per_fault[1].incident is None and not s.per_fault[1].top3
    # True pairs: F1 has 6, F2 3; found: 3 in incident 1, none across the split; noise pairs are wrong.
    assert s.grouping == {"precision": round(3 / 4, 4), "recall": round(3 / 9, 4), "f1": round(2 * 0.75 * (1 / 3) / (0.75 + 1 / 3), 4)}
    assert s.grouping_alerts["precision"] == 0.5  # incident 1 pairs its 2 alerts; incident 3 pairs 2 noise alerts
    assert not s.meets_targets()["spurious < 5%"]


def test_a_fault_matches_the_incident_with_most_of_its_alerts():
    s = score(truth=TRUTH, incidents=[
        incident(1, "checkout", ["checkout"], ["s-3", "s-4", "s-1"]),
        incident(2, "postgres", ["postgres"], ["s-2", "s-5", "s-6", "s-7"]),
    ])
    assert s.per_fault[0].incident == 1  # a tie on alerts goes to the one holding more of its events
    assert s.per_fault[1].incident == 2 and s.per_fault[1].predicted_root == "postgres" and not s.per_fault[1].top1


def test_pairwise_counts_and_report():
    assert pairwise({("F", 1): 3}, {"F": 3}, {1: 3}) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert pairwise({}, {"F": 1}, {}) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert pairwise({("F", 1): 2, ("F", 2): 2}, {"F": 4}, {1: 2, 2: 2})["recall"] == round(2 / 6, 4)
    s = score(truth=TRUTH, incidents=[incident(1, "postgres", ["postgres"], ["s-1"], confidence=0.6)])
    text = report(s)
    assert "top-1 50.0%" in text and "noise reduction 97.50%" in text and "0.50-0.70: 1 faults top-1 100%" in text
