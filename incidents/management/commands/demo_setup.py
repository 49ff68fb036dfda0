"""Prepare the demo (idempotent): the login `demo`, the demo topology, the pattern library, and an
hour or so of simulated history with a few incidents so that the console is not empty."""
from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evaluation import simulation
from incidents.catalogue import builtin_patterns_install
from incidents.ingest import EventIn, batch_validate
from incidents.models import Event, Incident
from incidents.pipeline import events_ingest, history_learn
from incidents.topology import topology_apply

USERNAME = "demo"
# The demo's services carry this description: `manage.py demo_remove` takes them (and the demo's
# login, simulated events and the incidents only they built) out again.
DEMO_MARK = "Demo topology (manage.py demo_remove removes the demo)"
HISTORY = timedelta(minutes=75)
# Fault-free simulated time the anomaly baselines learn before HISTORY: what the detectors remember
# of a series at the demo's one-minute interval. Their calibrators keep the last 4,000 statistics
# (correlation.detectors.statistical: MEMORY_SECONDS over the series' interval, at most 4,000
# points, 66.7 h at 60 s) and score a point by its rank against them, a new record as an anomaly.
# A warm-up of 26 h left them 1,544 statistics: their records were the largest of a short sample,
# so 4-9 ordinary points a demo passed them (scores 0.92-0.94 against the threshold 0.915) and the
# share of anomalies inside faults swung from 74% to 92% with the faults a start minute drew.
# Filled (4,016 points: 16 to learn the interval, then 4,000), they raise 0-1 such (bench/demo_anomalies.py).
# correlation/tests/test_anomaly.py checks that this still covers the detectors' memory.
METRIC_INTERVAL = timedelta(seconds=60)
WARM = timedelta(hours=68)
WARM_SLICE = timedelta(hours=4)  # the warm-up is simulated in slices, so its raw events never all sit in memory


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


class DemoHistory(NamedTuple):
    events: int  # stored
    incidents: int  # touched
    faults: list[dict]  # the simulator's ground truth (simulation.Fault.to_json)


def _metric_point(event: dict) -> EventIn:
    return EventIn(timestamp=datetime.fromisoformat(event["timestamp"]), service=event["service"], type="metric", severity="info",
                   metric=event["metric"], value=float(event["value"]), host=event.get("host", ""))


def demo_history(*, now: datetime, seed: int, warm: timedelta = WARM, progress=None) -> DemoHistory:
    """Simulate the last HISTORY of the estate, faults included, through the real ingest, after
    `warm` of the same estate without faults that is learnt from, not stored
    (pipeline.history_learn: the anomaly baselines), so the injected faults raise anomalies and
    a cold detector's noise does not."""
    config = simulation.SimConfig.live(start=now - HISTORY - warm, seed=seed, id_prefix=f"demo{int(now.timestamp())}-")
    config.fault_every_min, config.fault_minutes = 12.0, (4.0, 10.0)
    config.first_fault_after_min = warm.total_seconds() / 60 + 8.0
    config.metric_interval_s = METRIC_INTERVAL.total_seconds()
    sim = simulation.Simulator(config)
    if warm:
        # One simulator for both stretches, so every series runs on without a seam; the warm-up
        # needs its metrics only, and is learnt, never stored (so it skips ingest's validation:
        # these are the simulator's own well-formed points, a million of them).
        quiet = {"benign_logs_per_s": 0.0, "background_warnings_per_hour": 0.0, "background_errors_per_hour": 0.0}
        usual = {name: getattr(config, name) for name in quiet}
        vars(config).update(quiet)
        warm_up: list[EventIn] = []
        until = now - HISTORY - warm
        while until < now - HISTORY:
            until = min(until + WARM_SLICE, now - HISTORY)
            warm_up += [_metric_point(e) for e in sim.advance(until) if e["type"] == "metric"]
        history_learn(events=warm_up)
        del warm_up
        vars(config).update(usual)
    events = sim.advance(now) + [e for e in sim.drain() if e["timestamp"] <= now.isoformat()]
    events = [e for e in events if e["timestamp"] >= (now - HISTORY).isoformat()]  # warm-up stragglers stay out
    touched: set[int] = set()
    for start in range(0, len(events), 2000):
        # Inline even with the queue on: the history is correlated before the console starts.
        result = events_ingest(events=batch_validate(events[start : start + 2000]), source=Event.Source.SIMULATOR, correlate=True)
        touched.update(result.incident_ids)
        if progress is not None:
            progress(min(2000, len(events) - start))
    return DemoHistory(len(events), len(touched), [f.to_json() for f in sim.faults if f.start < now.timestamp()])


class DemoAnomalies(NamedTuple):
    anomalies: list[Event]  # every anomaly the demo raised
    in_fault: list[Event]  # those on a service a fault was hurting then
    faults_seen: int  # faults with an anomaly of their own


def demo_anomalies_judged(history: DemoHistory, *, ramp: timedelta = timedelta(minutes=5)) -> DemoAnomalies:
    """The demo's anomalies against the simulator's ground truth: in a fault when on one of its
    affected services between its start and `ramp` after its end (effects ramp down)."""
    faults = [(datetime.fromisoformat(f["start"]), datetime.fromisoformat(f["end"]) + ramp, set(f["affected_services"])) for f in history.faults]
    anomalies = list(Event.objects.filter(type=Event.Type.ANOMALY).select_related("service").order_by("timestamp"))
    in_fault = [a for a in anomalies if any(a.service.name in hit and start <= a.timestamp <= end for start, end, hit in faults)]
    seen = sum(1 for start, end, hit in faults if any(a.service.name in hit and start <= a.timestamp <= end for a in in_fault))
    return DemoAnomalies(anomalies, in_fault, seen)


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
            self.stdout.write(f"Demo history: the anomaly baselines learn {WARM.total_seconds() / 3600:.0f} h of simulated metrics first (a minute or two)")
            with tqdm(unit="ev", desc=f"demo history (last {HISTORY.seconds // 60} min)") as bar:
                events, touched, _ = demo_history(now=now, seed=secrets.randbelow(1_000_000), progress=bar.update)
            self.stdout.write(f"Demo history: {events} events, {touched} incident(s)")
        port = os.environ.get("PORT", "8000")
        self.stdout.write(self.style.SUCCESS(
            f"Demo login {'created' if created else 'ready'}: user {USERNAME!r}, password {password!r} "
            f"(kept in {settings.VAR_DIR / 'demo_password'}) at http://127.0.0.1:{port}/  "
            f"[{Incident.objects.count()} incidents, {len(simulation.SERVICES)} services]"
        ))
