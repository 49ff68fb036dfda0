"""manage.py rca_ranker PARAMETERS.json [--activate]: register a root-cause ranker trained by bench/rca_ranker.py."""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from correlation.learning import rca_ranker_register


class Command(BaseCommand):
    help = "Register a learned root-cause ranker (correlation.ranker parameters, JSON) as a model version."

    def add_arguments(self, parser):
        parser.add_argument("parameters", help="the JSON bench/rca_ranker.py --save wrote")
        parser.add_argument("--activate", action="store_true", help="make it the ranker the engine uses")

    def handle(self, *args, parameters: str, activate: bool, **opts):
        try:
            data = json.loads(Path(parameters).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"{parameters}: {exc}") from exc
        metrics = data.pop("metrics", {})
        notes = f"trained on {', '.join(data.pop('trained_on', []))} (C={data.pop('c', '?')})"
        try:
            version = rca_ranker_register(parameters=data, metrics=metrics, notes=notes, activate=activate)
        except (KeyError, ValueError, TypeError) as exc:
            raise CommandError(f"{parameters}: not ranker parameters: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"registered {version}"))
