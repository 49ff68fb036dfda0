"""Learning from feedback on root causes.

The verdict itself is incident data: `incidents.services.feedback_record` is the write the console
(and later Slack) calls, and it tells incidents.hooks. This module listens (`feedback_recorded`
queues the learning once the row has committed); `feedback_apply` is what the django-q2 task
`correlation.tasks.apply_feedback` runs: it retrains the root-cause priors from all
feedback (correlation.learning, a new registry version), queues a retraining of the anomaly
detector (at most one an hour), marks the row as taken in (`applied_at`) and tells the
incident's open pages.
"""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from correlation.learning import rca_priors_train
from correlation.models import ModelVersion
from incidents import hooks
from incidents.models import Feedback, TimelineEvent


def feedback_recorded(change: hooks.IncidentChange) -> None:
    """The incidents.hooks listener (CorrelationConfig.ready()): feedback recorded by the console
    (incidents.services.feedback_record) is queued for learning once its row has committed."""
    feedback_id = change.data.get("feedback_id")
    if feedback_id is None or change.data.get("applied"):
        return

    def queue() -> None:
        from django_q.tasks import async_task

        async_task("correlation.tasks.apply_feedback", feedback_id, task_name=f"apply_feedback:{feedback_id}")

    transaction.on_commit(queue)


@transaction.atomic
def feedback_apply(*, feedback_id: int) -> Feedback | None:
    """Take one feedback row into the model; idempotent (a row already applied is left alone)."""
    feedback = Feedback.objects.select_for_update().select_related("incident").filter(pk=feedback_id).first()
    if feedback is None or feedback.applied_at is not None:
        return feedback
    rca_priors_train()
    _anomaly_retrain_queue()
    if feedback.incident.incident_type or feedback.incident.tags:
        _type_retrain_queue()
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

    from correlation.runs import training_request

    training_request(kind=ANOMALY_KIND, days=TRAIN_DAYS, activate=True, reason="feedback")


TYPE_RETRAIN_AFTER = timedelta(minutes=10)


def _type_retrain_queue() -> None:
    """Plan one retraining of the incident-type classifier TYPE_RETRAIN_AFTER from now (the
    incident was typed): a burst of feedback makes one new version, not one per verdict."""
    from django_q.models import Schedule

    name = "correlation: incident-type retrain after feedback"
    if Schedule.objects.filter(name=name, next_run__gt=timezone.now()).exists():
        return
    Schedule.objects.filter(name=name).delete()
    Schedule.objects.create(name=name, func="correlation.tasks.retrain_type_classifier", args="'feedback'",
                            schedule_type=Schedule.ONCE, repeats=1, next_run=timezone.now() + TYPE_RETRAIN_AFTER)
