"""The learned root-cause ranker, evaluated out of family: trained on some evaluation families, scored
on one it never saw, against the rules on the same incidents.

    .venv/bin/python bench/correlation.py --no-sim --fuzz 1,2,3,4 --lab DIR --charts CHARTS   # what was scored, with features
    .venv/bin/python bench/rca_ranker.py CHARTS [--c 1.0] [--save ranker.json]

Reads the `scored-<family>.json` files `bench/correlation.py --charts` writes (the truth and every
incident with its hypotheses and their features, correlation.ranker.FEATURES). Each fault matched to
an incident is one group: the incident's candidates, labelled by whether each is the fault's root.
Prints, per held-out family: the rules' top-1 on those faults and the ranker's (trained on every
other fuzz family; the lab is scored by a ranker trained on all four fuzz families, and never
trained on), then the fuzz-trained ranker's coefficients. The regularisation `--c` is chosen here,
inside the training families only (leave-one-family-out over them), when not given.

`--save FILE` writes the ranker trained on every fuzz family with Platt scaling fitted on the fuzz
families' out-of-family confidences, as the parameters `manage.py rca_ranker FILE` registers.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from correlation.ranker import Ranker, calibrate, platt_fit, ranker_fit, softmax, top1  # noqa: E402
from evaluation import scoring  # noqa: E402

C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)


def groups_of(data: dict) -> list[list[tuple[dict, bool]]]:
    """One group per fault found: its incident's candidates (rules' order), labelled by the fault's root."""
    result = scoring.score(truth=data["truth"], incidents=data["incidents"])
    by_id = {i["id"]: i for i in data["incidents"]}
    groups = []
    for r in result.per_fault:
        if r.incident is None:
            continue
        hyps = by_id[r.incident].get("hypotheses") or []
        groups.append([(h.get("features") or {}, h["service"] == r.root) for h in hyps])
    return groups


def rules(values: dict) -> float:
    return 0.0  # the stored order is the rules' order: every score ties and the first candidate wins


def choose_c(train: dict[str, list]) -> float:
    """Leave one training family out, inside the training families: the C with the best mean top-1."""
    if len(train) < 2:
        return 1.0
    best, best_acc = 1.0, -1.0
    for c in C_GRID:
        accs = []
        for held, groups in train.items():
            rest = [g for name, gs in train.items() if name != held for g in gs]
            model = ranker_fit(rest, c=c)
            accs.append(top1(groups, model.score))
        acc = sum(accs) / len(accs)
        if acc > best_acc:
            best, best_acc = c, acc
    return best


def confidences(model: Ranker, groups: list) -> list[tuple[float, bool]]:
    out = []
    for g in groups:
        probs = softmax([model.score(v) for v, _ in g])
        k = max(range(len(g)), key=lambda i: (probs[i], -i))
        out.append((probs[k], g[k][1]))
    return out


def train(families: dict[str, list], c: float | None) -> Ranker:
    """A ranker trained on `families` (C chosen inside them), with Platt scaling fitted on the
    confidences it shows on each of them when trained on the others (never on its own training data)."""
    c = c if c is not None else choose_c(families)
    held_out: list[tuple[float, bool]] = []
    for name, groups in families.items():
        rest = [g for other, gs in families.items() if other != name for g in gs]
        held_out += confidences(ranker_fit(rest, c=c), groups)
    calibration = platt_fit([p for p, _ in held_out], [ok for _, ok in held_out])
    return ranker_fit([g for gs in families.values() for g in gs], c=c).with_calibration(calibration)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("charts", type=Path, help="a --charts directory of bench/correlation.py")
    parser.add_argument("--c", type=float, default=None, help="regularisation (default: chosen inside the training families)")
    parser.add_argument("--save", type=Path, default=None, help="write the fuzz-trained ranker's parameters (JSON) there")
    parser.add_argument("--save-held-out", type=Path, default=None,
                        help="write there, per fuzz family, the ranker trained on the other fuzz families (ranker-<family>.json)")
    args = parser.parse_args()
    families = {p.stem[len("scored-"):]: groups_of(json.loads(p.read_text())) for p in sorted(args.charts.glob("scored-*.json"))}
    fuzz = {k: v for k, v in families.items() if k.startswith("fuzz-")}
    if not fuzz:
        print(f"no scored fuzz family in {args.charts}")
        return 2
    print("top-1 of the candidates the engine stored, re-ranked; out of family: each family scored by a ranker that never saw it")
    print(f"{'held-out family':18} {'faults':>6} {'rules top-1':>11} {'ranker top-1':>12} {'gap after':>9} {'trained on':>28}")
    for name, groups in families.items():
        train_on = {k: v for k, v in fuzz.items() if k != name}
        model = train(train_on, args.c)
        shown = confidences(model, groups)
        gap = sum(calibrate(p, model.calibration) - ok for p, ok in shown) / len(shown) if shown else 0.0
        print(f"{name:18} {len(groups):6} {top1(groups, rules):11.1%} {top1(groups, model.score):12.1%} {100 * gap:+9.1f} "
              f"{'+'.join(k[5:] for k in train_on):>28}")
        if args.save_held_out and name in fuzz:
            args.save_held_out.mkdir(parents=True, exist_ok=True)
            (args.save_held_out / f"ranker-{name}.json").write_text(json.dumps({**model.to_parameters(), "trained_on": sorted(train_on)}))
    model = train(fuzz, args.c)
    print(f"\nranker trained on every fuzz family: in-sample top-1 {top1([g for gs in fuzz.values() for g in gs], model.score):.1%} "
          f"(in-sample, for comparison only); Platt scaling {tuple(round(x, 3) for x in model.calibration)}")
    for f, w in sorted(zip(model.features, model.coef), key=lambda t: -abs(t[1])):
        print(f"  {f:12} {w:+.3f}")
    if args.save:
        args.save.write_text(json.dumps({**model.to_parameters(), "trained_on": sorted(fuzz)}, indent=1))
        print(f"saved: {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
