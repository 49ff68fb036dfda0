"""The loop of issue 14 end to end: a recurring fault whose root the engine names wrong, an
engineer's correction in step 9, and the next occurrence ranked right, all through the real
ingest pipeline, the feedback service and the task that applies it."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from correlation.feedback import feedback_apply
from incidents.ingest import batch_validate
from incidents.models import Incident, Service
from incidents.pipeline import events_ingest
from incidents.services import feedback_record
from incidents.topology import topology_apply

pytestmark = pytest.mark.django_db

# A recurring fault where the signals point one way and the truth is the other: checkout's bad
# query plan, after each deploy, loads postgres; checkout alerts first and loudest, postgres a
# little after (its latency alert), so the signals read like either "checkout broke" or "postgres
# slowed checkout down". The engine has to guess the first time; an engineer's correction settles
# it for the next.
TOPOLOGY = [
    {"name": "frontend", "tier": "frontend", "depends_on": ["checkout"]},
    {"name": "checkout", "tier": "backend", "depends_on": ["postgres"]},
    {"name": "postgres", "tier": "database", "depends_on": []},
]
SIGNALS = [("checkout", 0, "critical"), ("postgres", 1, "warning"), ("checkout", 1, "critical"), ("postgres", 2, "critical"),
           ("checkout", 2, "critical"), ("postgres", 3, "critical")]


def occurrence(start, tag: str) -> Incident:
    events = [{
        "id": f"{tag}-{n}", "service": service, "type": "alert", "severity": severity,
        "timestamp": (start + timedelta(minutes=minute)).isoformat(),
        "message": f"{service} latency above its objective",
    } for n, (service, minute, severity) in enumerate(SIGNALS)]
    events_ingest(events=batch_validate(events), correlate=True)
    incident = Incident.objects.filter(events__client_id=f"{tag}-0").distinct().get()
    assert set(incident.services.values_list("name", flat=True)) >= {"checkout", "postgres"}
    return incident


def test_a_corrected_root_cause_is_ranked_first_the_next_time(django_capture_on_commit_callbacks):
    topology_apply(services=TOPOLOGY)
    now = timezone.now()
    first = occurrence(now - timedelta(hours=6), "first")
    guessed = first.root_cause_service.name
    right = "checkout" if guessed == "postgres" else "postgres"

    with django_capture_on_commit_callbacks(execute=True):  # the view's path: record, then the task applies it
        feedback = feedback_record(incident=first, user=None, verdict="no", correct_service=Service.objects.get(name=right))
    feedback_apply(feedback_id=feedback.pk)
    feedback.refresh_from_db()
    assert feedback.applied_at is not None

    second = occurrence(now - timedelta(hours=1), "second")
    assert second.pk != first.pk
    assert second.root_cause_service.name == right
    top = second.hypotheses[0]
    reasons = top.reasons if hasattr(top, "reasons") else top["reasons"]
    assert reasons[0] == "engineers named it the root cause of 1 earlier incident(s) of these services"


def test_a_correction_speaks_only_to_incidents_of_the_same_services():
    from correlation.rca import Correction, corrections_for

    fix = [Correction(frozenset({"checkout", "postgres", "frontend"}), "checkout", 2)]
    assert corrections_for({"checkout", "postgres", "frontend"}, fix) == {"checkout": (1.0, 2)}
    assert corrections_for({"checkout", "postgres"}, fix) == {"checkout": (2 / 3, 2)}
    # another incident touching checkout among many other services, or one without checkout: no say
    assert corrections_for({"checkout", "payments", "inventory", "users", "search"}, fix) == {}
    assert corrections_for({"postgres", "frontend"}, fix) == {}
