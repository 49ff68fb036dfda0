"""Prepare the demo (idempotent): the login `demo`, the demo topology, the pattern library, and an
hour or so of simulated history with a few incidents so that the console is not empty."""
from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evaluation import simulation
from incidents.catalogue import builtin_patterns_install
from incidents.ingest import batch_validate
from incidents.models import Event, Incident
from incidents.pipeline import events_ingest
from incidents.topology import topology_apply

USERNAME = "demo"
# The demo's services carry this description: `manage.py demo_remove` takes them (and the demo's
# login, simulated events and the incidents only they built) out again.
DEMO_MARK = "Demo topology (manage.py demo_remove removes the demo)"
HISTORY = timedelta(minutes=75)


def demo_password() -> str:
    """The demo password: generated once, kept in var/demo_password (readable by the owner only)."""
    path = settings.VAR_DIR / "demo_password"
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password


def demo_user_ensure(password: str) -> bool:
    """Create the demo login (a superuser, so that the admin's pattern library is editable) or
    bring its password back to the stored one. Returns whether it was created."""
    user, created = get_user_model().objects.get_or_create(username=USERNAME, defaults={"email": "demo@example.com"})
    if created or not user.check_password(password) or not user.is_superuser:
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
    return created


def demo_history(*, now: datetime, seed: int, progress=None) -> tuple[int, int]:
    """Simulate the last HISTORY of the estate, faults included, through the real ingest.
    Returns (events, incidents touched)."""
    config = simulation.SimConfig.live(start=now - HISTORY, seed=seed, id_prefix=f"demo{int(now.timestamp())}-")
    config.fault_every_min, config.fault_minutes, config.first_fault_after_min = 12.0, (4.0, 10.0), 8.0
    config.metric_interval_s = 60.0
    sim = simulation.Simulator(config)
    events = sim.advance(now) + [e for e in sim.drain() if e["timestamp"] <= now.isoformat()]
    touched: set[int] = set()
    for start in range(0, len(events), 2000):
        result = events_ingest(events=batch_validate(events[start : start + 2000]), source=Event.Source.SIMULATOR)
        touched.update(result.incident_ids)
        if progress is not None:
            progress(min(2000, len(events) - start))
    return len(events), len(touched)


class Command(BaseCommand):
    help = "Create the demo login, load the demo topology and backfill an hour of simulated history (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--no-history", "--no-backfill", action="store_true", dest="no_history", help="skip the simulated history")

    def handle(self, *args, no_history: bool, **options):
        if os.environ.get("CLEARA_DEMO", "1") == "0":
            raise CommandError("CLEARA_DEMO=0: this installation takes no demo data (unset it to load the demo)")
        password = demo_password()
        created = demo_user_ensure(password)
        topology_apply(services=[{**s, "description": DEMO_MARK} for s in simulation.topology()["services"]])
        builtin_patterns_install()
        now = datetime.now(UTC)
        recent = Event.objects.filter(source=Event.Source.SIMULATOR, timestamp__gte=now - 2 * HISTORY).exists()
        if no_history or recent:
            self.stdout.write("Demo history: already there" if recent else "Demo history: skipped")
        else:
            with tqdm(unit="ev", desc=f"demo history (last {HISTORY.seconds // 60} min)") as bar:
                events, touched = demo_history(now=now, seed=secrets.randbelow(1_000_000), progress=bar.update)
            self.stdout.write(f"Demo history: {events} events, {touched} incident(s)")
        port = os.environ.get("PORT", "8000")
        self.stdout.write(self.style.SUCCESS(
            f"Demo login {'created' if created else 'ready'}: user {USERNAME!r}, password {password!r} "
            f"(kept in {settings.VAR_DIR / 'demo_password'}) at http://127.0.0.1:{port}/  "
            f"[{Incident.objects.count()} incidents, {len(simulation.SERVICES)} services]"
        ))
