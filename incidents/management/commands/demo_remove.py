"""Remove the demo in one command: `manage.py demo_remove`.

What `demo_setup` (and the live simulated stream of `make run`) loaded, and only that:
- the incidents built from demo events alone (an incident that also holds an event from another
  source, or from a service outside the demo topology, is kept);
- the events of the demo services that the simulator sent or the detector derived from them;
- the demo services (marked with demo_setup.DEMO_MARK) that no remaining event uses;
- the login `demo` (created by demo_setup, e-mail demo@example.com) and var/demo_password.
The pattern library stays (it is the product's, not the demo's).
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from incidents.management.commands.demo_setup import DEMO_MARK, USERNAME
from incidents.models import Event, EventRollup, Incident, Service

DEMO_SOURCES = (Event.Source.SIMULATOR, Event.Source.DETECTOR)


def demo_remove() -> dict[str, int]:
    """Delete the demo's data (see the module docstring); returns what was deleted, by kind."""
    with transaction.atomic():
        services = Service.objects.filter(description=DEMO_MARK)
        demo_events = Event.objects.filter(service__in=services, source__in=DEMO_SOURCES)
        other_events = Event.objects.filter(~Q(source__in=DEMO_SOURCES) | ~Q(service__in=services))
        incidents = (Incident.objects.filter(events__in=demo_events)
                     .exclude(events__in=other_events).distinct())
        removed = {"incidents": incidents.count()}
        Incident.objects.filter(pk__in=list(incidents.values_list("pk", flat=True))).delete()
        removed["events"] = demo_events.count()
        demo_events.delete()
        # Their counts too: a rollup's key holds the source, so these rows counted demo events only.
        EventRollup.objects.filter(service__in=services, source__in=DEMO_SOURCES).delete()
        unused = services.exclude(pk__in=Event.objects.values("service_id"))
        removed["services"] = unused.count()
        unused.delete()
        demo_user = get_user_model().objects.filter(username=USERNAME, email="demo@example.com")
        removed["users"] = demo_user.count()
        demo_user.delete()
    (settings.VAR_DIR / "demo_password").unlink(missing_ok=True)
    return removed


class Command(BaseCommand):
    help = "Remove the demo: its login, services, simulated events and the incidents only they built."

    def handle(self, *args, **options):
        removed = demo_remove()
        self.stdout.write(self.style.SUCCESS("Demo removed: " + ", ".join(f"{n} {kind}" for kind, n in removed.items())))
