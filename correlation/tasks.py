"""django-q2 entry points of the correlation app: take ids, load, call a domain function."""
from correlation.pipeline import events_process
from incidents.models import Event


def correlate_events(event_ids: list[int]) -> int:
    """Correlate stored events (this app's pipeline stage only). Failed inline processing is
    retried by incidents.tasks.process_events; this entry point stays for tasks queued before."""
    events = list(Event.objects.filter(pk__in=event_ids).select_related("service"))
    events_process(events)
    return len(events)


def apply_feedback(feedback_id: int) -> dict:
    """Take an engineer's root-cause feedback into the model (queued by feedback_record)."""
    from correlation.feedback import feedback_apply

    feedback = feedback_apply(feedback_id=feedback_id)
    return {"feedback": feedback_id, "applied_at": feedback.applied_at.isoformat() if feedback and feedback.applied_at else None}
