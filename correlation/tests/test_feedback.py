"""Feedback on root causes (correlation/feedback.py) and the task that takes it in."""
from __future__ import annotations

import pytest
from django_q.models import Task

from correlation import tasks
from correlation.feedback import feedback_apply
from incidents.models import Feedback, TimelineEvent
from incidents.services import feedback_record


def test_feedback_record_stores_audits_and_queues_the_update(seeded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        feedback = feedback_record(incident=seeded.main, user=seeded.users["bob"], verdict="no",
                                   correct_service=seeded.services["payments"], comment="it was the deploy")
    assert feedback.applied_at is None and feedback.suggested_root_cause == "payments"
    entry = TimelineEvent.objects.get(incident=seeded.main, kind="feedback")
    assert entry.actor == seeded.users["bob"] and "the right service is payments" in entry.message
    assert callbacks  # the queueing waits for the commit
    for callback in callbacks:
        callback()
    feedback.refresh_from_db()
    assert feedback.applied_at is not None
    assert Task.objects.filter(func="correlation.tasks.apply_feedback", success=True).exists()


def test_nothing_is_queued_when_the_transaction_rolls_back(seeded, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        feedback_record(incident=seeded.main, user=seeded.users["bob"], verdict="yes")
        raise RuntimeError
    assert not Feedback.objects.exists() and not Task.objects.exists()
    assert callbacks == []


def test_unknown_verdict_is_refused(seeded):
    with pytest.raises(ValueError, match="not a verdict"):
        feedback_record(incident=seeded.main, user=None, verdict="maybe")


def test_apply_feedback_task_is_idempotent(seeded):
    feedback = Feedback.objects.create(incident=seeded.main, verdict="yes")
    first = tasks.apply_feedback(feedback.pk)
    assert first["applied_at"] is not None
    again = tasks.apply_feedback(feedback.pk)
    assert again["applied_at"] == first["applied_at"]
    assert tasks.apply_feedback(10**9) == {"feedback": 10**9, "applied_at": None}
    assert feedback_apply(feedback_id=feedback.pk).applied_at.isoformat() == first["applied_at"]
