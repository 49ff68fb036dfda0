"""django-q2 entry points of the incidents app: take ids, load, call one function."""
from incidents import pipeline
from incidents.models import Event


def process_events(event_ids: list[int]) -> int:
    """Run the pipeline's stages (anomaly detection, correlation) on stored events whose inline
    processing failed."""
    events = list(Event.objects.filter(pk__in=event_ids).select_related("service"))
    pipeline.events_process(events=events)
    return len(events)
