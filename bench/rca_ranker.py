"""The learned root-cause ranker, evaluated out of family: trained on some evaluation families, scored
on one it never saw, against the rules on the same incidents.

    .venv/bin/python bench/correlation.py --no-sim --fuzz 1,2,3,4 --lab DIR --charts CHARTS   # what was scored, with features
    .venv/bin/python bench/rca_ranker.py CHARTS [--c 1.0] [--features all] [--compare base] [--save ranker.json]

Reads the `scored-<family>.json` files `bench/correlation.py --charts` writes (the truth and every
incident with its hypotheses and their features, correlation.ranker.FEATURES). Each fault matched to
an incident is one group: the incident's candidates, labelled by whether each is the fault's root.
Prints, per held-out family: the rules' top-1 on those faults and the ranker's (trained on every
other fuzz family; the lab is scored by a ranker trained on all four fuzz families, and never
trained on), then the fuzz-trained ranker's coefficients. The regularisation `--c` is chosen here,
inside the training families only (leave-one-family-out over them), when not given.

`--features` names the ranker's features: `base` (those of rca_ranker_v1: the rules' parts, blame,
silence, anomalies, error logs, topology), `templates` (base + the log-template features,
correlation.ranker.TEMPLATE_FEATURES), `v2` (base + the derived ones, correlation.ranker.DERIVED:
rca_ranker_v2), `v2+fanin` (v2 + correlation.ranker.FANIN_FEATURES), `all`, or a comma-separated list; `--compare`
scores a second set beside it on the same groups (before / after). Each row also gives top-1 on the
faults whose root is silent (the fuzzer's tag) and top-1 with the engine's gate
(correlation.rca.gate_opens: the ranker orders only the incidents it is let to).

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

from correlation.ranker import (  # noqa: E402
    BASE_FEATURES,
    DERIVED,
    FANIN_FEATURES,
    FEATURES,
    TEMPLATE_FEATURES,
    Ranker,
    calibrate,
    platt_fit,
    ranker_fit,
    softmax,
    top1,
)
from correlation.rca import gate_opens  # noqa: E402
from evaluation import scoring  # noqa: E402

C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)


FEATURE_SETS = {
    "base": BASE_FEATURES,  # rca_ranker_v1's
    "templates": BASE_FEATURES + TEMPLATE_FEATURES,
    "v2": BASE_FEATURES + tuple(DERIVED),  # rca_ranker_v2's
    "all": FEATURES + tuple(DERIVED),
    "v2+fanin": BASE_FEATURES + tuple(DERIVED) + FANIN_FEATURES,  # rca_ranker_v2's and fan-in
}


def groups_of(data: dict) -> tuple[list[list[tuple[dict, bool]]], list[bool]]:
    """One group per fault found: its incident's candidates (the engine's order), labelled by the
    fault's root; and per group whether the fault's root is silent (the fuzzer's tag)."""
    result = scoring.score(truth=data["truth"], incidents=data["incidents"])
    by_id = {i["id"]: i for i in data["incidents"]}
    tags = {f["id"]: f.get("tags", {}) for f in data["truth"]["faults"]}
    groups, silent = [], []
    for r in result.per_fault:
        if r.incident is None:
            continue
        hyps = by_id[r.incident].get("hypotheses") or []
        groups.append([(h.get("features") or {}, h["service"] == r.root) for h in hyps])
        silent.append(bool(tags.get(r.fault, {}).get("silent_root")))
    return groups, silent


def gated(model: Ranker):
    """The ranker as the engine uses it: it orders a group only where the gate opens (correlation.rca)."""
    def order(group: list) -> int:
        if gate_opens(group[0][0], [v for v, _ in group[1:]]):
            return max(range(len(group)), key=lambda k: (model.score(group[k][0]), -k))
        return 0
    return order


def hits(groups: list, order) -> int:
    return sum(g[order(g)][1] for g in groups if g)


def rules(values: dict) -> float:
    return 0.0  # the stored order is the rules' order: every score ties and the first candidate wins


def choose_c(train: dict[str, list], features: tuple[str, ...] = FEATURES) -> float:
    """Leave one training family out, inside the training families: the C with the best mean top-1."""
    if len(train) < 2:
        return 1.0
    best, best_acc = 1.0, -1.0
    for c in C_GRID:
        accs = []
        for held, groups in train.items():
            rest = [g for name, gs in train.items() if name != held for g in gs]
            model = ranker_fit(rest, c=c, features=features)
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


def train(families: dict[str, list], c: float | None, features: tuple[str, ...] = FEATURES) -> Ranker:
    """A ranker trained on `families` (C chosen inside them), with Platt scaling fitted on the
    confidences it shows on each of them when trained on the others (never on its own training data)."""
    c = c if c is not None else choose_c(families, features)
    held_out: list[tuple[float, bool]] = []
    for name, groups in families.items():
        rest = [g for other, gs in families.items() if other != name for g in gs]
        held_out += confidences(ranker_fit(rest, c=c, features=features), groups)
    calibration = platt_fit([p for p, _ in held_out], [ok for _, ok in held_out])
    return ranker_fit([g for gs in families.values() for g in gs], c=c, features=features).with_calibration(calibration)


def feature_set(spec: str) -> tuple[str, ...]:
    return FEATURE_SETS.get(spec) or tuple(f.strip() for f in spec.split(",") if f.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("charts", type=Path, help="a --charts directory of bench/correlation.py")
    parser.add_argument("--c", type=float, default=None, help="regularisation (default: chosen inside the training families)")
    parser.add_argument("--features", default="v2", help="base, templates, v2, all, or a comma-separated list (default: v2)")
    parser.add_argument("--compare", default="", help="a second feature set scored beside it (e.g. base)")
    parser.add_argument("--save", type=Path, default=None, help="write the fuzz-trained ranker's parameters (JSON) there")
    parser.add_argument("--save-held-out", type=Path, default=None,
                        help="write there, per fuzz family, the ranker trained on the other fuzz families (ranker-<family>.json)")
    args = parser.parse_args()
    loaded = {p.stem[len("scored-"):]: groups_of(json.loads(p.read_text())) for p in sorted(args.charts.glob("scored-*.json"))}
    families = {k: g for k, (g, _) in loaded.items()}
    silent = {k: s for k, (_, s) in loaded.items()}
    fuzz = {k: v for k, v in families.items() if k.startswith("fuzz-")}
    if not fuzz:
        print(f"no scored fuzz family in {args.charts}")
        return 2
    sets = {args.features: feature_set(args.features)}
    if args.compare:
        sets[args.compare] = feature_set(args.compare)
    print("top-1 of the candidates the engine stored, re-ranked; out of family: each family scored by a ranker that never saw it")
    print("(silent: top-1 over the faults whose root is silent; gated: the ranker only where the engine lets it order)")
    print(f"{'held-out family':18} {'faults':>6} {'engine':>7} {'silent':>7} | " + " | ".join(
        f"{name[:10]:>10}: {'top-1':>6} {'gated':>6} {'silent':>7} {'gap':>6}" for name in sets))
    totals: dict[str, list[int]] = {}
    for name, groups in families.items():
        train_on = {k: v for k, v in fuzz.items() if k != name}
        sil = [g for g, s in zip(groups, silent[name]) if s]
        first = lambda g: 0  # noqa: E731 (the engine's order: its first candidate)
        cells = []
        for set_name, features in sets.items():
            model = train(train_on, args.c, features)
            shown = confidences(model, groups)
            gap = sum(calibrate(p, model.calibration) - ok for p, ok in shown) / len(shown) if shown else 0.0
            best = lambda g, m=model: max(range(len(g)), key=lambda k: (m.score(g[k][0]), -k))  # noqa: E731
            h, hg, hs = hits(groups, best), hits(groups, gated(model)), hits(sil, best)
            t = totals.setdefault(set_name, [0, 0, 0])
            if name in fuzz:
                t[0], t[1], t[2] = t[0] + h, t[1] + hg, t[2] + hs
            cells.append(f"{'':10}  {h / len(groups):6.1%} {hg / len(groups):6.1%} {hs:3}/{len(sil):<3} {100 * gap:+6.1f}")
            if args.save_held_out and name in fuzz and set_name == args.features:
                args.save_held_out.mkdir(parents=True, exist_ok=True)
                (args.save_held_out / f"ranker-{name}.json").write_text(json.dumps({**model.to_parameters(), "trained_on": sorted(train_on)}))
        print(f"{name:18} {len(groups):6} {hits(groups, first) / len(groups):7.1%} {hits(sil, first):3}/{len(sil):<3} | " + " | ".join(cells))
    n = sum(len(g) for g in fuzz.values())
    engine = sum(hits(g, lambda g: 0) for g in fuzz.values())
    print(f"{'fuzz, out of family':18} {n:6} {engine / n:7.1%} {'':7} | " + " | ".join(
        f"{'':10}  {t[0] / n:6.1%} {t[1] / n:6.1%} {t[2]:7}" for t in totals.values()))
    model = train(fuzz, args.c, sets[args.features])
    print(f"\nranker ({args.features}) trained on every fuzz family: in-sample top-1 {top1([g for gs in fuzz.values() for g in gs], model.score):.1%} "
          f"(in-sample, for comparison only); Platt scaling {tuple(round(x, 3) for x in model.calibration)}")
    for f, w in sorted(zip(model.features, model.coef), key=lambda t: -abs(t[1])):
        print(f"  {f:14} {w:+.3f}")
    if args.save:
        args.save.write_text(json.dumps({**model.to_parameters(), "trained_on": sorted(fuzz)}, indent=1))
        print(f"saved: {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
