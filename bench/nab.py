"""Benchmark Cleara's anomaly detectors on the shared NAB data.

    .venv/bin/python bench/nab.py [--data ../shared/datasets/nab/data]
                                  [--detectors statistical,iforest,lstm,ensemble]

For each detector: run it streaming and causal over every NAB series (correlation.detectors.nab),
score the results with the shared NAB scorer (shared/tools/nab_score.py, which also optimises
NAB's threshold per profile), and print the NAB score for the three profiles, window recall and
false discovery rate at the standard profile's threshold, and detector throughput in points per
second (CPU time inside ``update`` only, one process, one thread). For the ensemble it also scores the fixed
``THRESHOLD`` the product alarms on. The NAB files are read in place, never copied.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from correlation.detectors import DETECTORS, THRESHOLD  # noqa: E402
from correlation.detectors.nab import run_nab  # noqa: E402

DEFAULT_NAB = REPO.parent / "shared" / "datasets" / "nab"
DEFAULT_SCORER = REPO.parent / "shared" / "tools" / "nab_score.py"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def score_results(scorer: Path, results: Path, labels: Path, data: Path, threshold: float | None) -> dict:
    report = results / "report.json"
    cmd = [sys.executable, str(scorer), str(results), str(labels), "--data-dir", str(data), "--json", str(report)]
    if threshold is not None:
        cmd += ["--threshold", repr(threshold)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(report.read_text())


def window_metrics(report: dict, which: str) -> dict:
    return next(m for m in report["window_metrics"] if m["which"] == which)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_NAB / "data", help="NAB data directory")
    ap.add_argument("--labels", type=Path, default=None,
                    help="combined_windows.json (default: ../labels/combined_windows.json next to --data)")
    ap.add_argument("--detectors", default="statistical,iforest,lstm,ensemble")
    ap.add_argument("--scorer", type=Path, default=DEFAULT_SCORER)
    ap.add_argument("--out", type=Path, default=None, help="keep results here (default: a temp dir)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    names = [d.strip() for d in args.detectors.split(",") if d.strip()]
    unknown = [d for d in names if d not in DETECTORS]
    if unknown:
        ap.error(f"unknown detector(s) {unknown}; choose from {sorted(DETECTORS)}")
    labels = args.labels or args.data.parent / "labels" / "combined_windows.json"

    rows = []
    with tempfile.TemporaryDirectory(prefix="cleara-nab-") as tmp:
        out_root = args.out or Path(tmp)
        for name in names:
            out = out_root / name
            series = run_nab(args.data, out, name, progress=not args.no_progress)
            points = sum(s.rows for s in series)
            seconds = sum(s.seconds for s in series)
            fixed = THRESHOLD if name == "ensemble" else None
            report = score_results(args.scorer, out, labels, args.data, fixed)
            rows.append((name, report, points / seconds, fixed))

    print()
    print(f"NAB ({report['files']} files, {report['rows']} rows, {report['windows']} windows) from {args.data}")
    print("NAB score with the scorer's optimised threshold per profile; recall / FDR / threshold at the"
          " standard profile's threshold")
    header = f"{'detector':<12} {'standard':>9} {'low_FP':>8} {'low_FN':>8} {'recall':>7} {'FDR':>6} {'thresh':>7} {'points/s':>9}"
    print(header)
    print("-" * len(header))
    for name, rep, pps, fixed in rows:
        p = rep["profiles"]
        m = window_metrics(rep, "NAB standard-profile threshold")
        print(f"{name:<12} {p['standard']['score']:9.2f} {p['reward_low_FP_rate']['score']:8.2f}"
              f" {p['reward_low_FN_rate']['score']:8.2f} {m['window_recall']:7.3f}"
              f" {m['false_discovery_rate']:6.3f} {m['threshold']:7.4f} {pps:9.0f}")
        if fixed is not None:
            m = window_metrics(rep, "given threshold")
            print(f"{'  @fixed':<12} {p['standard']['fixed_score']:9.2f} {p['reward_low_FP_rate']['fixed_score']:8.2f}"
                  f" {p['reward_low_FN_rate']['fixed_score']:8.2f} {m['window_recall']:7.3f}"
                  f" {m['false_discovery_rate']:6.3f} {fixed:7.4f}   (THRESHOLD constant, debounced)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
