"""Feedback on root causes: an engineer's verdict, stored, audited and queued for learning.

`feedback_record` is the write the console (and later Slack) calls; `feedback_apply` is what the
django-q2 task `correlation.tasks.apply_feedback` runs: it retrains the root-cause priors from all
feedback (correlation.learning, a new registry version), queues a retraining of the anomaly
detector (at most one an hour), marks the row as taken in (`applied_at`) and tells the
incident's open pages.
"""
from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from correlation.learning import rca_priors_train
from correlation.models import Feedback, ModelVersion
from incidents import hooks
from incidents.models import Incident, Service, TimelineEvent
from incidents.services import timeline_event_record


@transaction.atomic
def feedback_record(
    *,
    incident: Incident,
    user: AbstractBaseUser | None,
    verdict: str,
    correct_service: Service | None = None,
    comment: str = "",
    origin: str = TimelineEvent.Origin.CONSOLE,
) -> Feedback:
    """Store the verdict, audit it, and queue the model update once the row has committed."""
    if verdict not in Feedback.Verdict.values:
        raise ValueError(f"{verdict!r} is not a verdict; use one of {', '.join(Feedback.Verdict.values)}")
    feedback = Feedback(
        incident=incident,
        user=user if user is not None and user.is_authenticated else None,
        verdict=verdict,
        correct_service=correct_service,
        suggested_root_cause=correct_service.name if correct_service else None,
        comment=comment,
    )
    feedback.full_clean()
    feedback.save()
    label = Feedback.Verdict(verdict).label.lower()
    said = f"root cause {incident.root_cause_service.name if incident.root_cause_service_id else '(none)'}: {label}"
    if correct_service:
        said += f"; the right service is {correct_service.name}"
    timeline_event_record(
        incident=incident, kind=TimelineEvent.Kind.FEEDBACK, actor=user, origin=origin,
        to_value=verdict, message=f"{said}. {comment}".strip(),
    )
    hooks.incident_changed(hooks.IncidentChange(incident.pk, "updated", origin, {"feedback_id": feedback.pk}))
    feedback_id = feedback.pk

    def queue() -> None:
        from django_q.tasks import async_task

        async_task("correlation.tasks.apply_feedback", feedback_id, task_name=f"apply_feedback:{feedback_id}")

    transaction.on_commit(queue)
    return feedback


@transaction.atomic
def feedback_apply(*, feedback_id: int) -> Feedback | None:
    """Take one feedback row into the model; idempotent (a row already applied is left alone)."""
    feedback = Feedback.objects.select_for_update().filter(pk=feedback_id).first()
    if feedback is None or feedback.applied_at is not None:
        return feedback
    rca_priors_train()
    _anomaly_retrain_queue()
    feedback.applied_at = timezone.now()
    feedback.save(update_fields=["applied_at"])
    hooks.incident_changed(hooks.IncidentChange(feedback.incident_id, "updated", TimelineEvent.Origin.SYSTEM, {"feedback_id": feedback.pk, "applied": True}))
    return feedback


RETRAIN_AT_MOST_EVERY = timedelta(hours=1)


def _anomaly_retrain_queue() -> None:
    """Queue a retraining of the live anomaly detector, unless one was trained within the hour."""
    from correlation.training import ANOMALY_KIND, TRAIN_DAYS

    recent = ModelVersion.objects.filter(kind=ANOMALY_KIND, trained_at__gte=timezone.now() - RETRAIN_AT_MOST_EVERY).exists()
    if recent:
        return

    def queue() -> None:
        from django_q.tasks import async_task

        async_task("correlation.training.model_train_task", ANOMALY_KIND, None, TRAIN_DAYS, True, task_name="retrain:feedback")

    transaction.on_commit(queue)
