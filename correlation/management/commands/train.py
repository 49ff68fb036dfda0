"""manage.py train [--kind anomaly] [--detector ensemble] [--days 14] [--activate] [--nab DIR]"""
from django.core.management.base import BaseCommand, CommandError

from correlation.detectors import DETECTORS
from correlation.training import ANOMALY_KIND, TRAIN_DAYS, ModelRegistryError, model_train


class Command(BaseCommand):
    help = "Train a new model version on the stored metric history and register it (optionally activate it)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", default=ANOMALY_KIND, help=f"model kind (default {ANOMALY_KIND})")
        parser.add_argument("--detector", choices=sorted(DETECTORS), default=None,
                            help="detector configuration to train (default: the active version's, else ensemble)")
        parser.add_argument("--days", type=int, default=TRAIN_DAYS, help="days of history to replay")
        parser.add_argument("--activate", action="store_true", help="make the new version live")
        parser.add_argument("--nab", metavar="DIR", default=None, help="also score the detector on this NAB data dir")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        parameters = {"detector": opts["detector"]} if opts["detector"] else None
        try:
            version = model_train(kind=opts["kind"], parameters=parameters, days=opts["days"],
                                  nab_dir=opts["nab"], activate=opts["activate"],
                                  progress=not opts["no_progress"])
        except ModelRegistryError as exc:
            raise CommandError(str(exc)) from exc
        m = version.metrics
        self.stdout.write(self.style.SUCCESS(
            f"trained {version}: {m['series']} series, {m['points']} points, {m['anomalies']} anomalies"
            + (f", NAB {m['nab']}" if "nab" in m else "")))
