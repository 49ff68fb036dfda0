"""Prepare the demo: a login, the demo topology and an hour of history with a few incidents.

Idempotent: run it as often as you like (`make run` runs it every time). The demo password is
generated once, kept in var/demo_password, and printed on every run.
"""
import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from tqdm import tqdm

from correlation import simulation
from correlation.pipeline import events_ingest
from incidents.ingest import batch_validate
from incidents.models import Event, Incident
from incidents.topology import topology_apply

BACKFILL_MINUTES = 75


class Command(BaseCommand):
    help = "Create the demo login (printed), load the demo topology and backfill some history."

    def add_arguments(self, parser):
        parser.add_argument("--no-backfill", action="store_true", help="skip the simulated history")

    def handle(self, *args, no_backfill: bool, **options):
        password = self._password()
        user, _ = get_user_model().objects.get_or_create(username="demo", defaults={"email": "demo@example.com"})
        user.is_staff = user.is_superuser = True  # the demo login may curate patterns in the admin
        user.set_password(password)
        user.save()
        topology_apply(services=simulation.topology()["services"])
        if not no_backfill and not Incident.objects.exists():
            self._backfill()
        self.stdout.write(self.style.SUCCESS(f"Demo login: user 'demo', password '{password}'"))

    def _password(self) -> str:
        path = settings.VAR_DIR / "demo_password"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(9)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password

    def _backfill(self) -> None:
        now = datetime.now(UTC)
        config = simulation.SimConfig.live(start=now - timedelta(minutes=BACKFILL_MINUTES), seed=2026, id_prefix="backfill-")
        config.fault_every_min = 12.0
        config.fault_minutes = (4.0, 10.0)
        sim = simulation.Simulator(config)
        events = sim.advance(now.timestamp())
        with tqdm(total=len(events), unit="ev", desc="demo history") as bar:
            for start in range(0, len(events), 5000):
                chunk = events[start : start + 5000]
                events_ingest(events=batch_validate(chunk), source=Event.Source.SIMULATOR)
                bar.update(len(chunk))
        self.stdout.write(f"backfilled {len(events)} events, {Incident.objects.count()} incidents")
