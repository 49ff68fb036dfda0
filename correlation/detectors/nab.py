"""Run a detector over a Numenta Anomaly Benchmark data directory, the way NAB expects.

``run_nab(data_dir, out_dir, detector_name)`` finds every ``*.csv`` under ``data_dir`` (columns
``timestamp,value``), feeds each series to a fresh detector point by point from a cold start (so
the run is as causal as live ingest), and writes ``timestamp,value,anomaly_score`` to the same
relative path under ``out_dir``: one row per data row, warm-up rows scored 0. Nothing looks at
labels or file names. Series run one at a time per process, in up to two processes.
"""

from __future__ import annotations

import csv
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

MAX_PROCESSES = 2


@dataclass(frozen=True)
class SeriesResult:
    relpath: str
    rows: int
    seconds: float  # CPU time spent inside detector.update, excluding file I/O


def _epoch(text: str) -> float:
    text = text.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        dt = datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def read_series(path: str | os.PathLike) -> tuple[list[str], list[float], list[float]]:
    """(raw timestamp strings, epoch seconds, values) of a NAB ``timestamp,value`` file."""
    stamps, epochs, values = [], [], []
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader)]
        ti, vi = header.index("timestamp"), header.index("value")
        for row in reader:
            if not row:
                continue
            stamps.append(row[ti])
            epochs.append(_epoch(row[ti]))
            values.append(float(row[vi]))
    return stamps, epochs, values


def score_file(data_path: str, out_path: str, detector_name: str) -> SeriesResult:
    """Score one NAB file from a cold start and write its results file."""
    from . import make_detector  # imported here so worker processes import torch themselves

    stamps, epochs, values = read_series(data_path)
    detector = make_detector(detector_name)
    update = detector.update
    # CPU time, not wall time: on a machine shared with other work the wall clock measures the
    # neighbours as much as the detector (one thread: torch is pinned to one in lstm.py)
    start = time.process_time()
    scores = [update(t, v).score for t, v in zip(epochs, values)]
    elapsed = time.process_time() - start
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value", "anomaly_score"])
        for stamp, value, score in zip(stamps, values, scores):
            writer.writerow([stamp, repr(value), f"{score:.6f}"])
    return SeriesResult(relpath=data_path, rows=len(values), seconds=elapsed)


def _score_job(args: tuple[str, str, str]) -> SeriesResult:
    return score_file(*args)


def find_series(data_dir: str | os.PathLike) -> list[str]:
    """Relative paths of every CSV under ``data_dir``, sorted."""
    root = Path(data_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.csv"))


def run_nab(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    detector_name: str,
    progress: bool = True,
    processes: int = 1,
) -> list[SeriesResult]:
    """Score every series under ``data_dir`` into ``out_dir``; returns per-series row counts and
    detector time. ``processes`` is capped at 2 (the machines this runs on are shared)."""
    from tqdm import tqdm

    rels = find_series(data_dir)
    if not rels:
        raise FileNotFoundError(f"no CSV files under {data_dir}")
    jobs = [(os.path.join(data_dir, r), os.path.join(out_dir, r), detector_name) for r in rels]
    total_rows = sum(_count_rows(j[0]) for j in jobs)
    bar = tqdm(total=total_rows, unit="pt", desc=detector_name, disable=not progress, smoothing=0)
    results: list[SeriesResult] = []
    processes = max(1, min(MAX_PROCESSES, processes))
    try:
        if processes == 1:
            for job in jobs:
                res = _score_job(job)
                results.append(res)
                bar.update(res.rows)
        else:
            with ProcessPoolExecutor(max_workers=processes) as pool:
                for res in pool.map(_score_job, jobs):
                    results.append(res)
                    bar.update(res.rows)
    finally:
        bar.close()
    return [SeriesResult(relpath=r, rows=res.rows, seconds=res.seconds) for r, res in zip(rels, results)]


def _count_rows(path: str) -> int:
    with open(path, "rb") as fh:
        return max(0, sum(1 for line in fh if line.strip()) - 1)
