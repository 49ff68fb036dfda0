"""Correlation quality: simulate days of an estate with injected faults, replay them into a fresh
database through `manage.py replay` (the same ingest and correlation code as live traffic), and score
the incidents against the ground truth (evaluation.scoring).

    .venv/bin/python bench/correlation.py [--days 3] [--seeds 7,11,23] [--metric-interval 60] [--no-anomalies]
    .venv/bin/python bench/correlation.py --fuzz 1,2,3 [--fuzz-dense] [--families layered,mesh,pools,queues] [--lab DIR ...] [--no-sim] [--charts DIR]
    .venv/bin/python bench/correlation.py --scored CHARTS [CHARTS ...] [--charts DIR]   # pool runs already scored

`--fuzz` adds the independent scenario fuzzer (bench/fuzz: 12-hour scenarios of random estates,
one per family and seed; with `--fuzz-dense` the dense ones, bursts of 3-5 faults 20-120 s apart,
reported as families `dense:NAME` so that `--fit-on fuzz` never fits on them) and `--lab` recorded
chaos-lab runs (bench/chaoslab); each evaluation
family is reported on its own (root cause top-1 and top-3, spurious share, noise reduction, faults
found, calibration: mean confidence minus top-1 and a reliability diagram as a PNG under
`--charts`), then the table of every family.

On PostgreSQL when DATABASE_URL names one (a database `cleara_bench_corr_<pid>` is created next to
it and dropped afterwards), otherwise on a temporary SQLite file. Prints the figures per seed and
over all seeds; exits 1 when the pooled figures miss a target.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.db import bench_database  # noqa: E402
from evaluation import scoring, simulation  # noqa: E402


def run_seed(*, seed: int, days: float, metric_interval: float, workdir: Path, anomalies: bool, keep: bool) -> tuple[dict, dict]:
    events, truth_path, topo, out = (workdir / f"{name}-{seed}.json{'l' if name == 'events' else ''}" for name in ("events", "truth", "topology", "incidents"))
    t0 = time.perf_counter()
    config = simulation.SimConfig(start=datetime(2026, 11, 2, tzinfo=UTC), seed=seed, metric_interval_s=metric_interval)
    truth = simulation.stream_write(config=config, days=days, events_path=str(events), truth_path=str(truth_path), topology_path=str(topo))
    simulated = time.perf_counter() - t0
    with bench_database(f"corr_{seed}", keep=keep) as env:
        env["ANOMALY_DETECTION"] = "1" if anomalies else "0"
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [sys.executable, "manage.py", "replay", str(events), "--topology", str(topo), "--output", str(out), "--no-progress"],
            cwd=ROOT, env=env, check=True,
        )
    replayed = json.loads(out.read_text())
    replayed["replay"]["simulate_seconds"] = round(simulated, 1)
    return truth, replayed


def replay_files(*, name: str, events: Path, topology: Path, out: Path, anomalies: bool, keep: bool) -> dict:
    """Replay one recorded stream into a fresh database; the replay's report (incidents in the API's shape)."""
    with bench_database(name, keep=keep) as env:
        env["ANOMALY_DETECTION"] = "1" if anomalies else "0"
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [sys.executable, "manage.py", "replay", str(events), "--topology", str(topology), "--output", str(out), "--no-progress"],
            cwd=ROOT, env=env, check=True,
        )
    return json.loads(out.read_text())


def pool(runs: list[tuple[str, dict, list[dict]]]) -> tuple[dict, list[dict]]:
    """One truth and one incident list from several runs (ids prefixed by run, so they stay apart)."""
    truth = {"faults": [], "counts": {"alerts": 0}, "noise_alert_ids": [], "id_prefix": ""}
    incidents: list[dict] = []
    for tag, t, incs in runs:
        truth["faults"] += [{**f, "id": f"{tag}:{f['id']}"} for f in t["faults"]]
        truth["counts"]["alerts"] += t["counts"]["alerts"]
        truth["noise_alert_ids"] += t["noise_alert_ids"]
        incidents += [{**i, "id": len(incidents) + k + 1} for k, i in enumerate(incs)]  # renumbered: ids stay apart
    return truth, incidents


def calibration(result: scoring.Score, bins: int = 10) -> dict:
    """Mean confidence shown minus top-1 accuracy, over the faults found, and the reliability bins."""
    rows = [r for r in result.per_fault if r.confidence is not None]
    if not rows:
        return {"faults": 0, "mean_confidence": None, "top1": None, "gap": None, "bins": []}
    mean_conf = sum(r.confidence for r in rows) / len(rows)
    acc = sum(r.top1 for r in rows) / len(rows)
    table = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [r for r in rows if lo <= r.confidence < hi or (b == bins - 1 and r.confidence >= 1.0)]
        if inside:
            table.append({"lo": lo, "hi": hi, "n": len(inside), "confidence": sum(r.confidence for r in inside) / len(inside),
                          "top1": sum(r.top1 for r in inside) / len(inside)})
    ece = sum(t["n"] * abs(t["confidence"] - t["top1"]) for t in table) / len(rows)
    return {"faults": len(rows), "mean_confidence": mean_conf, "top1": acc, "gap": mean_conf - acc, "ece": ece, "bins": table}


def reliability_png(path: Path, curves: dict[str, dict]) -> None:
    """A reliability diagram: top-1 accuracy against confidence shown, one curve per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=110)
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, cal in curves.items():
        if not cal["bins"]:
            continue
        xs = [b["confidence"] for b in cal["bins"]]
        ys = [b["top1"] for b in cal["bins"]]
        sizes = [20 + 4 * b["n"] for b in cal["bins"]]
        line = ax.plot(xs, ys, marker="o", linewidth=1.2, label=f"{name} (gap {cal['gap'] * 100:+.1f} pts, n={cal['faults']})")[0]
        ax.scatter(xs, ys, s=sizes, color=line.get_color(), alpha=0.35)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence shown (mean per bin of 0.1)")
    ax.set_ylabel("root cause top-1 accuracy in the bin")
    ax.set_title("Root-cause confidence: reliability")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def family_line(name: str, result: scoring.Score, cal: dict) -> str:
    gap = f"{cal['gap'] * 100:+.1f}" if cal["gap"] is not None else "-"
    found = 1 - result.missed / result.faults if result.faults else 0.0
    return (f"{name:18} {result.faults:6} {result.top1:7.1%} {result.top3:7.1%} {result.spurious_share:9.1%} "
            f"{result.noise_reduction:9.2%} {found:7.1%} {gap:>9} {result.incidents:9}")


FAMILY_HEADER = (f"{'family':18} {'faults':>6} {'top-1':>7} {'top-3':>7} {'spurious':>9} {'noise red':>9} {'found':>7} "
                 f"{'conf-top1':>9} {'incidents':>9}")


def tag_lines(result: scoring.Score, truth: dict) -> list[str]:
    """Top-1 by the fuzzer's tags (mode, silent root, dependants first, ...)."""
    tags = {f["id"]: f.get("tags", {}) for f in truth["faults"]}
    groups: dict[str, list] = {}
    for r in result.per_fault:
        t = tags.get(r.fault, {})
        for key, value in t.items():
            if value is True:
                groups.setdefault(key, []).append(r)
            elif isinstance(value, str):
                groups.setdefault(f"{key}={value.split(':')[0]}", []).append(r)
    return [f"  {k:26} top-1 {sum(r.top1 for r in rows):3}/{len(rows):<3} top-3 {sum(r.top3 for r in rows):3}/{len(rows):<3} "
            f"missed {sum(r.incident is None for r in rows)}" for k, rows in sorted(groups.items())]


def run_fuzz(args, workdir: Path) -> dict[str, tuple[dict, list[dict]]]:
    from bench.fuzz.scenario import scenario_write

    out: dict[str, tuple[dict, list[dict]]] = {}
    for family in [f for f in args.families.split(",") if f]:
        runs = []
        for seed in [int(s) for s in args.fuzz.split(",") if s.strip()]:
            d = workdir / f"fuzz-{'dense-' if args.fuzz_dense else ''}{family}-{seed}"
            events, topology, truth = scenario_write(family=family, seed=seed, directory=d, hours=args.hours,
                                                     metric_interval=args.metric_interval, dense=args.fuzz_dense)
            replayed = replay_files(name=f"fz_{family[:3]}{'d' if args.fuzz_dense else ''}{seed}", events=events, topology=topology,
                                    out=d / "incidents.json",
                                    anomalies=not args.no_anomalies, keep=args.keep)
            r = replayed["replay"]
            res = scoring.score(truth=truth, incidents=replayed["incidents"])
            print(f"   fuzz {family} seed {seed}: {r['events']} events in {r['seconds']} s, {len(truth['faults'])} faults, "
                  f"{len(replayed['incidents'])} incidents, top-1 {res.top1:.1%}", flush=True)
            runs.append((f"{family}{seed}", truth, replayed["incidents"]))
        # Dense scenarios are their own families, named apart so that --fit-on fuzz never fits on them.
        out[f"{'dense' if args.fuzz_dense else 'fuzz'}:{family}"] = pool(runs)
    return out


def run_labs(args, workdir: Path) -> dict[str, tuple[dict, list[dict]]]:
    """Recorded chaos-lab runs (bench/chaoslab), replayed through the current engine."""
    runs = []
    for n, lab in enumerate(args.lab):
        lab = Path(lab)
        truth = json.loads((lab / "truth.json").read_text())
        replayed = replay_files(name=f"lab{n}", events=lab / "events.jsonl", topology=lab / "topology.json",
                                out=workdir / f"lab-{n}-incidents.json", anomalies=not args.no_anomalies, keep=args.keep)
        runs.append((f"lab{n}", truth, replayed["incidents"]))
    return {"lab": pool(runs)} if runs else {}


def report_families(families: dict[str, tuple[dict, list[dict]]], charts: Path | None, *, faults: bool = False) -> None:
    lines, curves = [], {}
    if charts is not None:  # what was scored, per family, for calibration fits and later looks
        charts.mkdir(parents=True, exist_ok=True)
        for name, (truth, incidents) in families.items():
            slim = [{k: v for k, v in i.items() if k in ("id", "event_ids", "root_cause_service", "root_cause_candidates", "confidence", "summary", "hypotheses")}
                    for i in incidents]
            (charts / f"scored-{name.replace(':', '-')}.json").write_text(json.dumps({"truth": truth, "incidents": slim}))
    for name, (truth, incidents) in families.items():
        result = scoring.score(truth=truth, incidents=incidents)
        cal = calibration(result)
        curves[name] = cal
        print(f"\n== {name}: {len(incidents)} incidents, {result.faults} faults")
        print(scoring.report(result))
        print("by kind: " + ", ".join(f"{k} {v['top1']}/{v['faults']}" for k, v in result.by_kind.items()))
        print("\n".join(tag_lines(result, truth)))
        if faults:
            tags = {f["id"]: f.get("tags", {}) for f in truth["faults"]}
            for r in result.per_fault:
                if not r.top1:
                    t = ",".join(k if v is True else str(v) for k, v in tags.get(r.fault, {}).items() if v)
                    print(f"   {r.fault:22} {r.kind:20} root {r.root:22} -> {r.predicted_root} {r.candidates[:3]} "
                          f"conf {r.confidence} incident {r.incident} (of {r.incidents}) [{t}]")
        if cal["faults"]:
            print(f"calibration over {cal['faults']} faults found: mean confidence {cal['mean_confidence']:.1%}, top-1 {cal['top1']:.1%}, "
                  f"gap {cal['gap'] * 100:+.1f} points, ECE {cal['ece'] * 100:.1f} points; bins: "
                  + ", ".join(f"{b['lo']:.1f}-{b['hi']:.1f} n={b['n']} top-1 {b['top1']:.0%}" for b in cal["bins"]))
        lines.append(family_line(name, result, cal))
    fuzz = [v for k, v in families.items() if k.startswith("fuzz:")]
    if len(fuzz) > 1:
        truth, incidents = pool([(f"f{n}", t, i) for n, (t, i) in enumerate(fuzz)])
        result = scoring.score(truth=truth, incidents=incidents)
        cal = calibration(result)
        curves["fuzz (all)"] = cal
        lines.append(family_line("fuzz (all)", result, cal))
    print("\n" + FAMILY_HEADER)
    print("\n".join(lines))
    if charts is not None:
        path = charts / "reliability.png"
        reliability_png(path, curves)
        print(f"reliability diagram: {path}")


def report_scored(directories: list[Path], charts: Path | None, *, faults: bool = False) -> int:
    """The family report of runs already scored (the scored-*.json files `--charts` wrote), a family
    that several runs scored pooled into one (its faults and incidents kept apart by run)."""
    runs: dict[str, list[tuple[str, dict, list[dict]]]] = {}
    for n, directory in enumerate(directories):
        for path in sorted(directory.glob("scored-*.json")):
            data = json.loads(path.read_text())
            runs.setdefault(path.stem[len("scored-"):].replace("-", ":", 1), []).append((f"r{n}", data["truth"], data["incidents"]))
    if not runs:
        print(f"no scored-*.json in {', '.join(map(str, directories))}")
        return 2
    report_families({name: pool(r) for name, r in runs.items()}, charts, faults=faults)
    return 0


SHIPPED_RANKER = ROOT / "correlation" / "rankers" / "rca_ranker_v2.json"  # correlation.learning.SHIPPED_RANKER


def calibration_rows(directory: Path) -> dict[str, list[tuple[float, bool, bool, bool, float]]]:
    """Per scored family (the scored-*.json a run wrote under --charts), one row per fault found:
    (input to its path's scaling, ranker-ordered, second origin noted, right, confidence shown). The
    input is what the run stored on the incident's hypotheses: for incidents the learned ranker
    ordered (its reason is on their top hypothesis) the top hypothesis's probability (`score`), for
    the rules' the lead (correlation.rca.lead); whether the second-origin discount applied is read
    from the incident's summary (correlation.rca.second_origin_noted)."""
    from correlation.rca import second_origin_noted

    rows: dict[str, list[tuple[float, bool, bool, bool, float]]] = {}
    for path in sorted(directory.glob("scored-*.json")):
        data = json.loads(path.read_text())
        result = scoring.score(truth=data["truth"], incidents=data["incidents"])
        by_id = {i["id"]: i for i in data["incidents"]}
        out = rows[path.stem[len("scored-"):]] = []
        for r in result.per_fault:
            if r.confidence is None:
                continue
            incident = by_id[r.incident]
            if "summary" not in incident:
                raise ValueError(f"{path}: incidents without their summary (scored before it was kept): replay again")
            hypotheses = incident["hypotheses"] or [{}]
            ranked = any(x.startswith("ranked by the learned ranker") for x in hypotheses[0].get("reasons", []))
            scores = [h.get("score", 0.0) for h in hypotheses]
            x = scores[0] if ranked else scores[0] - max(scores[1:], default=0.0)
            out.append((x, ranked, second_origin_noted(incident["summary"]), r.top1, r.confidence))
    return rows


def fit_calibration(directory: Path, fit_on: str) -> int:
    """The confidence shown, fitted on the families whose name starts with one of `fit_on`'s
    comma-separated prefixes (fuzz, or fuzz,dense) and checked on
    every family (calibration_rows). The engine has two paths and a discount on both
    (correlation.ranker.discounted_fit fits the three together): the rules' scaling
    (correlation.rca.CALIBRATION, a logistic on the first hypothesis's lead over the second), the
    shipped ranker's (its `calibration`, Platt scaling on its top probability), and the logit taken
    off when another origin is in sight (correlation.rca.UNEXPLAINED_DISCOUNT). Prints each family's
    gap (mean confidence minus top-1) and ECE as the run showed them, out of family (scaled by the
    fit on the other `fit_on` families of another shape: dense-mesh by neither itself nor fuzz-mesh; on
    all of them for a family that is not one, a lab) and in-sample."""
    from correlation.ranker import calibrate, discounted_fit, lead_calibrate
    from correlation.rca import discount

    try:
        rows = calibration_rows(directory)
    except ValueError as error:
        print(error)
        return 2
    prefixes = tuple(p for p in fit_on.split(",") if p)
    fitted = [name for name in rows if name.startswith(prefixes)]
    if not fitted:
        print(f"no scored family starts with {fit_on!r} in {directory}")
        return 2

    def shape(name: str) -> str:  # fuzz-mesh and dense-mesh: one shape (the files' names)
        return name.split("-", 1)[-1]

    def fit(names: list[str]) -> tuple:
        train = [r for name in names for r in rows[name]]
        return discounted_fit(*zip(*[r[:4] for r in train]))

    def shown(r: tuple, scaling: tuple | None) -> float:
        x, ranked, flagged, _, c = r
        if scaling is None:
            return c
        rules, ranker, d = scaling
        c = calibrate(x, ranker) if ranked else lead_calibrate(x, rules)
        return discount(c, d) if flagged else c

    def gap_ece(rs: list, scaling: tuple | None) -> str:
        cal = calibration(SimpleNamespace(per_fault=[SimpleNamespace(confidence=round(shown(r, scaling), 4), top1=r[3]) for r in rs]))
        return f"{cal['gap'] * 100:+6.1f} (ECE {cal['ece'] * 100:4.1f})"

    print(f"Calibration out of family: each family scored by the scalings fitted on the other families that start with {fit_on!r} "
          f"and are not of its shape (or on all of them, for a family that does not start so); gap = mean confidence shown minus top-1, over the faults found; ECE in points")
    scaling = fit(fitted)
    for name, rs in rows.items():
        # Out of family: none of the families of its shape either (dense-mesh is not fitted on fuzz-mesh's estates).
        held = fit([other for other in fitted if other != name and (name not in fitted or shape(other) != shape(name))])
        print(f"  {name:16} {len(rs):4} faults ({sum(r[1] for r in rs):3} ordered by the ranker, {sum(r[2] for r in rs):3} with a second origin): "
              f"as run {gap_ece(rs, None)}, out of family {gap_ece(rs, held)}, in-sample {gap_ece(rs, scaling)}")
    rules, ranker, d = scaling
    print(f"fitted on every {'/'.join(prefixes)}* family: rules CALIBRATION = ({rules[0]:.3f}, {rules[1]:.3f}) on the lead, "
          f"ranker calibration = ({ranker[0]:.3f}, {ranker[1]:.3f}) on its top probability's logit, UNEXPLAINED_DISCOUNT = {d:.3f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--seeds", default="7,11,23")
    parser.add_argument("--metric-interval", type=float, default=60.0, help="seconds between a series' points")
    parser.add_argument("--no-anomalies", action="store_true", help="replay with ANOMALY_DETECTION=0")
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument("--faults", action="store_true", help="print every fault's row")
    parser.add_argument("--fuzz", default="", help="fuzzer seeds, e.g. 1,2,3 (bench/fuzz): one 12-hour scenario per family and seed")
    parser.add_argument("--families", default="layered,mesh,pools,queues", help="fuzzer families")
    parser.add_argument("--fuzz-dense", action="store_true",
                        help="with --fuzz: dense scenarios (bursts of 3-5 faults 20-120 s apart), reported as dense:FAMILY")
    parser.add_argument("--hours", type=float, default=12.0, help="hours per fuzzed scenario")
    parser.add_argument("--lab", nargs="*", default=[], help="recorded chaos-lab runs (directories written by bench/chaoslab)")
    parser.add_argument("--no-sim", action="store_true", help="leave out correlation.simulation's seeds")
    parser.add_argument("--charts", type=Path, default=None, help="write the reliability diagram (PNG) there")
    parser.add_argument("--fit-calibration", type=Path, default=None, help="a --charts directory of an earlier run: fit both paths' scalings and the second-origin discount there")
    parser.add_argument("--fit-on", default="fuzz", help="with --fit-calibration: the families to fit on (name prefixes, comma-separated: fuzz,dense)")
    parser.add_argument("--scored", type=Path, nargs="*", default=[],
                        help="--charts directories of earlier runs (e.g. over different seeds): pool their scored families and report them, replaying nothing")
    args = parser.parse_args()
    if args.scored:
        return report_scored(args.scored, args.charts, faults=args.faults)
    if args.fit_calibration:
        return fit_calibration(args.fit_calibration, args.fit_on)
    if args.fuzz or args.lab:
        workdir = Path(tempfile.mkdtemp(prefix="cleara_bench_corr_"))
        print(f"correlation bench by evaluation family: fuzzer seeds [{args.fuzz}] x families [{args.families}] "
              f"({args.hours:g} h each), {len(args.lab)} lab run(s), simulator seeds {'none' if args.no_sim else args.seeds}; "
              f"anomaly detection {'off' if args.no_anomalies else 'on'}; database "
              f"{'PostgreSQL' if os.environ.get('DATABASE_URL', '').startswith('postgres') else 'SQLite'}", flush=True)
        families: dict[str, tuple[dict, list[dict]]] = {}
        if not args.no_sim:
            runs = []
            for seed in [int(x) for x in args.seeds.split(",") if x.strip()]:
                truth, replayed = run_seed(seed=seed, days=args.days, metric_interval=args.metric_interval, workdir=workdir,
                                           anomalies=not args.no_anomalies, keep=args.keep)
                runs.append((f"s{seed}", truth, replayed["incidents"]))
            families["simulation"] = pool(runs)
        if args.fuzz:
            families.update(run_fuzz(args, workdir))
        families.update(run_labs(args, workdir))
        report_families(families, args.charts, faults=args.faults)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    pooled_truth = {"faults": [], "counts": {"alerts": 0}, "noise_alert_ids": [], "id_prefix": "sim"}
    pooled_incidents: list[dict] = []
    workdir = Path(tempfile.mkdtemp(prefix="cleara_bench_corr_"))
    print(f"correlation bench: {args.days:g} simulated day(s) per seed, seeds {seeds}, metric points every {args.metric_interval:g} s, "
          f"anomaly detection {'off' if args.no_anomalies else 'on'}, database {'PostgreSQL' if os.environ.get('DATABASE_URL', '').startswith('postgres') else 'SQLite'}")
    for seed in seeds:
        truth, replayed = run_seed(seed=seed, days=args.days, metric_interval=args.metric_interval, workdir=workdir,
                                   anomalies=not args.no_anomalies, keep=args.keep)
        result = scoring.score(truth=truth, incidents=replayed["incidents"])
        r = replayed["replay"]
        print(f"\n== seed {seed}: {r['events']} events replayed in {r['seconds']} s ({r['events_per_second']:.0f} events/s), "
              f"{r['anomalies']} anomalies found")
        print(scoring.report(result))
        if args.faults or result.top1 < 1:
            for row in result.per_fault:
                if args.faults or not row.top1:
                    print(f"   {row.fault} {row.kind:30} root {row.root:16} -> {row.predicted_root} {row.candidates[:3]} "
                          f"conf {row.confidence} {'' if row.top1 else 'WRONG'}")
        # Pool: prefix every id with the seed so faults and incidents of different seeds stay apart.
        for f in truth["faults"]:
            pooled_truth["faults"].append({**f, "id": f"{seed}:{f['id']}"})
        pooled_truth["counts"]["alerts"] += truth["counts"]["alerts"]
        pooled_truth["noise_alert_ids"] += truth["noise_alert_ids"]
        pooled_incidents += [{**i, "id": seed * 1_000_000 + i["id"]} for i in replayed["incidents"]]
    if not args.keep:
        for p in workdir.iterdir():
            p.unlink()
        workdir.rmdir()

    pooled = scoring.score(truth=pooled_truth, incidents=pooled_incidents)
    print(f"\n== all seeds ({len(seeds)} x {args.days:g} days)")
    print(scoring.report(pooled))
    print("by kind: " + ", ".join(f"{k} {v['top1']}/{v['faults']}" for k, v in pooled.by_kind.items()))
    targets = pooled.meets_targets()
    print("targets: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in targets.items()))
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
