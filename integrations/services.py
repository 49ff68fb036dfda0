"""Writes of the integrations app that are not one provider's: the test notification."""
from __future__ import annotations

from django.db import transaction

from integrations.pagerduty.services import pagerduty_test_enqueue
from integrations.slack.notifier import slack_test_enqueue


@transaction.atomic
def integration_test_notify() -> dict[str, int]:
    """Queue a test message to every configured integration; returns how many per provider."""
    return {"slack": slack_test_enqueue(), "pagerduty": pagerduty_test_enqueue()}
