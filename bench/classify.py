"""Macro-F1 of the incident-type classifier on held-out simulated faults and on BGL's alert lines.

    .venv/bin/python bench/classify.py [--data ../shared/datasets/loghub] [--train-seeds 1-5] [--test-seeds 6-8]

1. Simulated faults (correlation.simulation), split by seed: the classifier trains on the
   pattern library's words plus the faults of the training seeds, and is scored on the faults of
   the test seeds (no seed on both sides): per line (every alert and error log at a fault's root
   and its direct callers, and everyday logs as "none") and per incident (all of a fault's texts
   joined). The simulator writes a fixed set of message shapes, so held-out seeds bring new
   values but few new shapes: the line figure measures the ambiguity between kinds more than
   generalisation. The figure that does measure it is the second row: trained on the pattern
   library's words only (and everyday logs), scored on the same simulated test faults.
2. BGL's labelled alert lines of the loghub 2k sample (143 lines, 12 alert categories from the
   `Label` column), the category predicted from the message text (`Content`), 5-fold:
   stratified by line (the same message shapes on both sides), and grouped by ground-truth
   template (a template's lines all on one side: shapes never seen in training). Also alert /
   no alert over all 2,000 lines, grouped by template.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sklearn.metrics import f1_score  # noqa: E402
from sklearn.model_selection import GroupKFold, StratifiedKFold  # noqa: E402

from correlation import classifier  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "loghub"


def seeds(spec: str) -> list[int]:
    a, _, b = spec.partition("-")
    return list(range(int(a), int(b or a) + 1))


def macro_f1(truth: list[str], pred: list[str]) -> float:
    return f1_score(truth, pred, average="macro", labels=sorted(set(truth)), zero_division=0)


def cross_validate(texts: list[str], labels: list[str], folds) -> float:
    pred = [""] * len(texts)
    for train, test in folds:
        clf = classifier.TypeClassifier().fit([classifier.Example(texts[i], labels[i]) for i in train])
        for i, p in zip(test, clf.predict([texts[i] for i in test])):
            pred[i] = p
    return macro_f1(labels, pred)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--train-seeds", default="1-5")
    ap.add_argument("--test-seeds", default="6-8")
    args = ap.parse_args(argv)
    train_seeds, test_seeds = seeds(args.train_seeds), seeds(args.test_seeds)
    if set(train_seeds) & set(test_seeds):
        ap.error("a seed cannot be on both sides")

    started = time.process_time()
    train_lines = [e for s in train_seeds for e in classifier.simulated_examples(seed=s)]
    train_incidents = [e for s in train_seeds for e in classifier.simulated_examples(seed=s, level="incident")]
    test_lines = [e for s in test_seeds for e in classifier.simulated_examples(seed=s)]
    test_incidents = [e for s in test_seeds for e in classifier.simulated_examples(seed=s, level="incident")]
    full = classifier.TypeClassifier().fit(classifier.builtin_examples() + train_lines + train_incidents)
    library = classifier.TypeClassifier().fit(
        classifier.builtin_examples() + [e for e in train_lines if e.label == classifier.NONE])
    n_types = len({e.label for e in test_lines})
    print(f"Simulated faults: train seeds {train_seeds}, test seeds {test_seeds}; test: {len(test_lines)} lines "
          f"({n_types} classes incl. none), {len(test_incidents)} incidents")
    print(f"{'trained on':44s} {'line macro-F1':>13s} {'incident macro-F1':>17s}")
    for name, clf in (("library + simulated faults of training seeds", full), ("library words only (+ everyday logs)", library)):
        line = macro_f1([e.label for e in test_lines], clf.predict([e.text for e in test_lines]))
        incident = macro_f1([e.label for e in test_incidents], clf.predict([e.text for e in test_incidents]))
        print(f"{name:44s} {line:13.4f} {incident:17.4f}")

    with open(args.data / "BGL" / "BGL_2k.log_structured.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    alerts = [r for r in rows if r["Label"] != "-"]
    texts, labels, groups = [r["Content"] for r in alerts], [r["Label"] for r in alerts], [r["EventId"] for r in alerts]
    strat = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    # Categories with fewer lines than folds cannot be stratified: they fall into some folds only.
    by_line = cross_validate(texts, labels, strat.split(texts, [lb if labels.count(lb) >= 5 else "rare" for lb in labels]))
    by_template = cross_validate(texts, labels, GroupKFold(n_splits=5).split(texts, labels, groups))
    all_texts = [r["Content"] for r in rows]
    alert_labels = ["alert" if r["Label"] != "-" else classifier.NONE for r in rows]
    detect = cross_validate(all_texts, alert_labels, GroupKFold(n_splits=5).split(all_texts, alert_labels, [r["EventId"] for r in rows]))
    print(f"\nBGL (loghub 2k sample, {args.data / 'BGL'}): {len(alerts)} alert lines, {len(set(labels))} categories")
    print(f"  category macro-F1, 5-fold stratified by line:      {by_line:.4f}")
    print(f"  category macro-F1, 5-fold grouped by template:     {by_template:.4f}  (shapes unseen in training)")
    print(f"  alert vs none macro-F1 (2,000 lines), by template: {detect:.4f}")
    print(f"\n{time.process_time() - started:.0f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
