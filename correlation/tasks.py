"""django-q2 entry points of the correlation app: take ids, load, call a domain function."""
from correlation.pipeline import events_process
from incidents.models import Event


def correlate_events(event_ids: list[int]) -> int:
    """Correlate stored events whose inline correlation failed."""
    events = list(Event.objects.filter(pk__in=event_ids).select_related("service"))
    events_process(events=events)
    return len(events)
