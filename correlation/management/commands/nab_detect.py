"""manage.py nab_detect --data DIR --out DIR [--detector ensemble]: NAB results files for a detector."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from correlation.detectors import DETECTORS
from correlation.detectors.nab import MAX_PROCESSES, run_nab


class Command(BaseCommand):
    help = "Run a detector streaming over every NAB CSV under --data and write timestamp,value,anomaly_score files under --out."

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, help="NAB data directory (CSV files timestamp,value)")
        parser.add_argument("--out", required=True, help="results directory (same relative paths)")
        parser.add_argument("--detector", choices=sorted(DETECTORS), default="ensemble")
        parser.add_argument("--processes", type=int, default=1, choices=range(1, MAX_PROCESSES + 1))
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        if not Path(opts["data"]).is_dir():
            raise CommandError(f"no such directory: {opts['data']}")
        try:
            results = run_nab(opts["data"], opts["out"], opts["detector"], progress=not opts["no_progress"],
                              processes=opts["processes"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        points = sum(r.rows for r in results)
        seconds = sum(r.seconds for r in results) or float("nan")
        self.stdout.write(self.style.SUCCESS(
            f"{opts['detector']}: {len(results)} series, {points} points, {points / seconds:.0f} points/s -> {opts['out']}"))
