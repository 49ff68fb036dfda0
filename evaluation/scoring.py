"""Scoring correlation against a simulation's ground truth (plain functions, no Django).

Inputs: the truth `evaluation.simulation` writes (faults with their root service, pattern and the
client ids of their alerts and logs) and the incidents `manage.py replay` writes (the API's shape,
with `event_ids`). Each fault is matched to the incident holding most of its alerts (most of its
logs when none of its alerts made it into an incident); then:

- root cause: top-1 when that incident's root cause is the fault's root service, top-3 when the
  root service is among its first three candidates;
- missed: faults none of whose events is in any incident;
- spurious: incidents holding no event of any fault, as a share of all incidents;
- duplicates: incidents that hold fault events but are no fault's match (a fault split in two);
- grouping: pairwise precision, recall and F1 of "these two events are in the same incident"
  against "these two events come from the same fault", over the simulator's alerts and logs (raw
  metric points are left out: the engine attaches their anomalies, not the points themselves);
  events the simulator did not make (anomalies found on ingest) carry no label and are left out;
- noise reduction: 1 - incidents / alert events of the stream.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

CONFIDENCE_BUCKETS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.85), (0.85, 1.0001))


@dataclass
class FaultResult:
    fault: str
    kind: str
    root: str
    incident: int | None
    predicted_root: str | None
    candidates: list[str]
    confidence: float | None
    pattern: str | None
    top1: bool
    top3: bool
    incidents: int  # how many incidents hold some of its events


@dataclass
class Score:
    faults: int
    incidents: int
    alert_events: int
    top1: float
    top3: float
    pattern_accuracy: float
    missed: int
    spurious: int
    spurious_share: float
    duplicates: int
    noise_reduction: float
    grouping: dict
    grouping_alerts: dict
    calibration: list[dict]
    by_kind: dict
    per_fault: list[FaultResult] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def meets_targets(self) -> dict[str, bool]:
        return {
            "top1 >= 90%": self.top1 >= 0.90,
            "top3 >= 98%": self.top3 >= 0.98,
            "noise reduction >= 95%": self.noise_reduction >= 0.95,
            "spurious < 5%": self.spurious_share < 0.05,
        }


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(contingency: dict[tuple[str, int], int], true_sizes: dict[str, int], predicted_sizes: dict[int, int]) -> dict:
    """Pairwise precision/recall/F1 from (fault, incident) -> shared events, events per fault and per incident."""
    tp = sum(_pairs(n) for n in contingency.values())
    predicted = sum(_pairs(n) for n in predicted_sizes.values())
    true = sum(_pairs(n) for n in true_sizes.values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _grouping(faults: list[dict], incidents: list[dict], *, key: str, counted) -> dict:
    """Pairwise grouping quality over the events `counted(client_id)` accepts."""
    label = {eid: f["id"] for f in faults for eid in f[key]}
    contingency: Counter = Counter()
    predicted_sizes: Counter = Counter()
    for inc in incidents:
        for eid in inc.get("event_ids", []):
            if not counted(eid):
                continue
            predicted_sizes[inc["id"]] += 1
            if eid in label:
                contingency[(label[eid], inc["id"])] += 1
    true_sizes = {f["id"]: len(f[key]) for f in faults}
    return pairwise(contingency, true_sizes, predicted_sizes)


def score(*, truth: dict, incidents: list[dict]) -> Score:
    faults = truth["faults"]
    prefix = truth.get("id_prefix", "")
    alert_events = int(truth.get("counts", {}).get("alerts", 0))
    alert_label = {eid: f["id"] for f in faults for eid in f.get("alert_ids", [])}
    event_label = {eid: f["id"] for f in faults for eid in f["event_ids"]}

    by_fault_alerts: dict[str, Counter] = defaultdict(Counter)
    by_fault_events: dict[str, Counter] = defaultdict(Counter)
    labelled: dict[int, int] = Counter()
    for inc in incidents:
        for eid in inc.get("event_ids", []):
            if eid in event_label:
                by_fault_events[event_label[eid]][inc["id"]] += 1
                labelled[inc["id"]] += 1
            if eid in alert_label:
                by_fault_alerts[alert_label[eid]][inc["id"]] += 1
    by_id = {inc["id"]: inc for inc in incidents}

    results: list[FaultResult] = []
    matched: set[int] = set()
    for f in faults:
        counts = by_fault_alerts.get(f["id"]) or by_fault_events.get(f["id"])
        incident = None
        if counts:
            incident = by_id[max(counts, key=lambda i: (counts[i], by_fault_events[f["id"]][i], -i))]
            matched.add(incident["id"])
        candidates = list(incident.get("root_cause_candidates") or []) if incident else []
        predicted = incident.get("root_cause_service") if incident else None
        results.append(FaultResult(
            fault=f["id"], kind=f["kind"], root=f["root_service"], incident=incident["id"] if incident else None,
            predicted_root=predicted, candidates=candidates[:5],
            confidence=incident.get("confidence") if incident else None,
            pattern=incident.get("pattern") if incident else None,
            top1=predicted == f["root_service"], top3=f["root_service"] in candidates[:3],
            incidents=len(by_fault_events.get(f["id"], {})),
        ))

    n = len(results) or 1
    spurious = [inc for inc in incidents if not labelled.get(inc["id"])]
    duplicates = [inc for inc in incidents if labelled.get(inc["id"]) and inc["id"] not in matched]
    calibration = []
    for lo, hi in CONFIDENCE_BUCKETS:
        rows = [r for r in results if r.confidence is not None and lo <= r.confidence < hi]
        calibration.append({
            "confidence": f"{lo:.2f}-{min(hi, 1.0):.2f}", "faults": len(rows),
            "top1": round(sum(r.top1 for r in rows) / len(rows), 4) if rows else None,
        })
    by_kind: dict[str, dict] = {}
    for kind in sorted({r.kind for r in results}):
        rows = [r for r in results if r.kind == kind]
        by_kind[kind] = {"faults": len(rows), "top1": sum(r.top1 for r in rows), "top3": sum(r.top3 for r in rows),
                         "missed": sum(r.incident is None for r in rows)}
    alert_ids = set(alert_label) | set(truth.get("noise_alert_ids", []))
    return Score(
        faults=len(results),
        incidents=len(incidents),
        alert_events=alert_events,
        top1=round(sum(r.top1 for r in results) / n, 4),
        top3=round(sum(r.top3 for r in results) / n, 4),
        pattern_accuracy=round(sum(r.pattern == r.kind for r in results) / n, 4),
        missed=sum(r.incident is None for r in results),
        spurious=len(spurious),
        spurious_share=round(len(spurious) / len(incidents), 4) if incidents else 0.0,
        duplicates=len(duplicates),
        noise_reduction=round(1 - len(incidents) / alert_events, 4) if alert_events else 0.0,
        # Events the simulator did not make (anomalies found on ingest) carry no label: left out.
        grouping=_grouping(faults, incidents, key="event_ids", counted=lambda eid: eid.startswith(prefix)),
        grouping_alerts=_grouping(faults, incidents, key="alert_ids", counted=alert_ids.__contains__),
        calibration=calibration,
        by_kind=by_kind,
        per_fault=results,
    )


def report(s: Score) -> str:
    """The figures as text, one per line."""
    lines = [
        f"faults {s.faults}, incidents {s.incidents}, alert events {s.alert_events}",
        f"root cause top-1 {s.top1:.1%}, top-3 {s.top3:.1%}, pattern {s.pattern_accuracy:.1%}",
        f"noise reduction {s.noise_reduction:.2%} (1 - incidents / alert events)",
        f"spurious incidents {s.spurious} ({s.spurious_share:.1%} of incidents), duplicates {s.duplicates}, faults missed {s.missed}",
        f"grouping (alerts+logs) precision {s.grouping['precision']:.3f} recall {s.grouping['recall']:.3f} F1 {s.grouping['f1']:.3f}",
        f"grouping (alerts)      precision {s.grouping_alerts['precision']:.3f} recall {s.grouping_alerts['recall']:.3f} F1 {s.grouping_alerts['f1']:.3f}",
        "confidence calibration: " + ", ".join(
            f"{c['confidence']}: {c['faults']} faults" + (f" top-1 {c['top1']:.0%}" if c["top1"] is not None else "") for c in s.calibration
        ),
    ]
    return "\n".join(lines)
