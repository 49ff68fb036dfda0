"""django-q2 entry points of the integrations app: take ids, call one function, return a little."""
from integrations import outbox
from integrations.pagerduty.services import pagerduty_webhook_process
from integrations.slack.interactions import slack_interaction_process


def deliver_stream(provider: str, target: str, incident_id: int | None) -> int:
    """Deliver one stream's due outbox messages, in order."""
    return outbox.stream_deliver(provider=provider, target=target, incident_id=incident_id)


def deliver_due_outbox() -> int:
    """The periodic sweep: every stream with a due message (a kick lost with a broker outage, a retry)."""
    return outbox.outbox_deliver_due()


def process_slack_interaction(payload_id: int) -> str:
    return slack_interaction_process(payload_id=payload_id)


def process_pagerduty_webhook(payload_id: int) -> str:
    return pagerduty_webhook_process(payload_id=payload_id)
