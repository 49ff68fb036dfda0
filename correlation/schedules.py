"""Recurring jobs of the correlation app, declared as data and upserted by `manage.py setup_schedules`.

Schedules are never created at import time or in AppConfig.ready(): the container entrypoint runs
`setup_schedules` after `migrate`. django-q2's Schedule.name is not unique, so we upsert by name.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone
from django_q.models import Schedule


def _next_at(hour: int, minute: int = 0) -> datetime:
    now = timezone.now()
    run = timezone.make_aware(datetime.combine(now.date(), time(hour, minute)), timezone.get_current_timezone())
    return run if run > now else run + timedelta(days=1)


SCHEDULES = [
    {
        "name": "correlation: nightly anomaly model retrain",
        "func": "correlation.tasks.retrain_models_nightly",
        "schedule_type": Schedule.DAILY,
        "next_run": lambda: _next_at(2, 30),  # quiet hours, after the day's data is in
    },
    {
        "name": "correlation: nightly incident-type classifier retrain",
        "func": "correlation.tasks.retrain_type_classifier",
        "args": "'nightly'",
        "schedule_type": Schedule.DAILY,
        "next_run": lambda: _next_at(3, 0),
    },
    {
        "name": "correlation: nightly root-cause priors retrain",
        "func": "correlation.tasks.retrain_rca_priors",
        "schedule_type": Schedule.DAILY,
        "next_run": lambda: _next_at(3, 15),
    },
    {
        # The weekly report's count of discovered patterns is read back from what this stores.
        "name": "correlation: weekly pattern discovery",
        "func": "correlation.tasks.discover_patterns",
        "schedule_type": Schedule.WEEKLY,
        "next_run": lambda: _next_at(3, 30),
    },
    {
        # training runs whose worker died mid-training (lease ran out) or whose task was lost
        "name": "correlation: sweep training runs",
        "func": "correlation.tasks.training_runs_sweep",
        "schedule_type": Schedule.MINUTES,
        "next_run": timezone.now,
    },
    {
        # incidents: events past EVENT_RETENTION_DAYS dropped (whole partitions on PostgreSQL), partitions made ahead.
        "name": "incidents: event retention and partitions",
        "func": "incidents.tasks.events_retention",
        "schedule_type": Schedule.HOURLY,
        "next_run": timezone.now,
    },
    {
        # integrations: outbox messages whose after-commit kick was lost (broker down) or that wait for a retry.
        "name": "integrations: deliver due outbox messages",
        "func": "integrations.tasks.deliver_due_outbox",
        "schedule_type": Schedule.MINUTES,
        "next_run": timezone.now,
    },
]


def ensure_schedules() -> list[Schedule]:
    """Create or update every schedule in SCHEDULES; returns them."""
    out = []
    for spec in SCHEDULES:
        defaults = {
            "func": spec["func"],
            "schedule_type": spec["schedule_type"],
            "args": spec.get("args"),
            "repeats": -1,
        }
        schedule = Schedule.objects.filter(name=spec["name"]).first()
        if schedule is None:
            schedule = Schedule(name=spec["name"], next_run=spec["next_run"]())
        for field, value in defaults.items():
            setattr(schedule, field, value)
        schedule.save()
        Schedule.objects.filter(name=spec["name"]).exclude(pk=schedule.pk).delete()
        out.append(schedule)
    return out
