"""Write one fuzzed scenario: DIR/events.jsonl, DIR/topology.json, DIR/truth.json."""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from bench.fuzz.estate import FAMILIES
from bench.fuzz.scenario import scenario_write


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", choices=FAMILIES, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--metric-interval", type=float, default=60.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dense", action="store_true", help="add bursts of 3-5 faults 20-120 s apart (tagged dense)")
    args = parser.parse_args()
    events, topology, truth = scenario_write(family=args.family, seed=args.seed, directory=args.out, hours=args.hours,
                                             metric_interval=args.metric_interval, dense=args.dense)
    kinds = Counter(f["kind"] for f in truth["faults"])
    print(f"{events}: {truth['counts']}; {len(truth['faults'])} faults ({', '.join(f'{k} {n}' for k, n in kinds.most_common())}); "
          f"topology {topology}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
