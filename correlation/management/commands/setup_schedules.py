"""manage.py setup_schedules: upsert the django-q2 schedules declared in correlation/schedules.py."""
from django.core.management.base import BaseCommand

from correlation.schedules import ensure_schedules


class Command(BaseCommand):
    help = "Create or update the recurring jobs (nightly model retraining)."

    def handle(self, *args, **opts):
        for schedule in ensure_schedules():
            self.stdout.write(f"{schedule.name}: {schedule.func} ({schedule.get_schedule_type_display()}), next run {schedule.next_run:%Y-%m-%d %H:%M %Z}")
