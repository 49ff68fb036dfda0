"""django-q2 entry points of the incidents app: take ids, load, call one function."""
from incidents import pipeline
from incidents.models import Event


def process_events(event_ids: list[int]) -> int:
    """Run the pipeline's stages (anomaly detection, correlation) on stored events whose inline
    processing failed."""
    events = list(Event.objects.filter(pk__in=event_ids).select_related("service"))
    pipeline.events_process(events=events)
    return len(events)


def events_retention() -> dict:
    """Hourly: drop the events past EVENT_RETENTION_DAYS (whole partitions on PostgreSQL) and make
    the partitions ahead (incidents.retention)."""
    from incidents import retention

    result = retention.events_retention()
    return {"created": result.created, "dropped": result.dropped, "deleted_events": result.deleted_events,
            "deleted_client_ids": result.deleted_client_ids}
