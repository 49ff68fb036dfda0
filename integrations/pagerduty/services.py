"""PagerDuty: what a change sends, how each outbox message kind is delivered, and webhooks in.

Out (through the outbox): an incident at or above PAGERDUTY_MIN_SEVERITY triggers an alert
(`pagerduty.event`), its status changes acknowledge / resolve / re-trigger it with the same dedup
key, and its root cause (with confidence and evidence) is added as a note through the REST API
(`pagerduty.note`), again whenever the hypothesis changes. A change that came from PagerDuty is
not sent back to it.

In: webhooks v3 are verified, stored raw, and processed by a task: acknowledged → investigating,
unacknowledged / reopened → open, resolved → resolved, annotated → a Cleara note. Each change is
made with origin "pagerduty", so it goes to Slack but not back to PagerDuty.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from access import audit
from incidents import services as incident_services
from incidents.errors import IncidentError
from incidents.hooks import IncidentChange
from incidents.models import Incident, Note, TimelineEvent
from integrations import errors, outbox
from integrations.facts import incident_facts, split_facts
from integrations.models import InboundPayload, OutboxMessage, PagerDutyIncident
from integrations.pagerduty import events, webhooks
from integrations.pagerduty.client import PagerDutyEventsClient, PagerDutyRestClient

log = logging.getLogger(__name__)

PROVIDER = OutboxMessage.Provider.PAGERDUTY
EVENT, NOTE, TEST = "pagerduty.event", "pagerduty.note", "pagerduty.test"
STATUS_FROM_WEBHOOK = {
    "incident.acknowledged": Incident.Status.INVESTIGATING,
    "incident.unacknowledged": Incident.Status.OPEN,
    "incident.reopened": Incident.Status.OPEN,
    "incident.resolved": Incident.Status.RESOLVED,
}


def events_client() -> PagerDutyEventsClient:
    return PagerDutyEventsClient(routing_key=settings.PAGERDUTY_ROUTING_KEY, base_url=settings.PAGERDUTY_EVENTS_URL)


def rest_client() -> PagerDutyRestClient:
    if not settings.PAGERDUTY_API_ENABLED:
        raise errors.IntegrationAuthError("the PagerDuty REST API is not configured (PAGERDUTY_API_TOKEN, PAGERDUTY_FROM_EMAIL)")
    return PagerDutyRestClient(token=settings.PAGERDUTY_API_TOKEN, from_email=settings.PAGERDUTY_FROM_EMAIL, base_url=settings.PAGERDUTY_API_URL)


# --- what a change sends (called by notifiers, inside the change's transaction) ----------------


def _event_enqueue(incident: Incident, action: str) -> None:
    outbox.outbox_enqueue(provider=PROVIDER, kind=EVENT, incident=incident, payload={"action": action})


def _note_enqueue(incident: Incident, text: str) -> None:
    if settings.PAGERDUTY_API_ENABLED:
        outbox.outbox_enqueue(provider=PROVIDER, kind=NOTE, incident=incident, payload={"text": text})


def _trigger(incident: Incident) -> None:
    """Page for the incident: the alert, then the root-cause note."""
    # pd_incident_id is cleared: a trigger after a resolve makes a new PagerDuty incident.
    PagerDutyIncident.objects.update_or_create(
        incident=incident, defaults={"dedup_key": events.dedup_key_for(incident.number), "pd_incident_id": "", "triggered_at": timezone.now()}
    )
    _event_enqueue(incident, "trigger")
    _note_enqueue(incident, events.rca_note(incident_facts(incident)))


def _root_cause_previous(change: IncidentChange, incident: Incident) -> str:
    if change.data.get("from"):
        return change.data["from"]
    event = incident.timeline.filter(kind=TimelineEvent.Kind.ROOT_CAUSE).order_by("-created_at", "-id").first()
    return event.from_value if event is not None else ""


class PagerDutyNotifier:
    provider = PROVIDER

    def enabled(self) -> bool:
        return settings.PAGERDUTY_ENABLED

    def incident_changed(self, change: IncidentChange, incident: Incident) -> None:
        if change.origin == TimelineEvent.Origin.PAGERDUTY:
            return  # it came from PagerDuty: sending it back would loop
        paged = PagerDutyIncident.objects.filter(incident=incident).exists()
        pages = events.severity_meets(incident.severity, settings.PAGERDUTY_MIN_SEVERITY)
        if change.kind in ("opened", "severity") and not paged:
            if pages and incident.is_open:
                _trigger(incident)
            return
        if not paged:
            if change.kind == "status" and incident.status == Incident.Status.OPEN and pages:
                _trigger(incident)  # reopened, and it had never paged
            return
        if change.kind == "status":
            action = events.action_for_status(incident.status)
            if action == "trigger" and change.data.get("from") in (Incident.Status.RESOLVED, Incident.Status.FALSE_POSITIVE):
                _trigger(incident)  # reopened: a new PagerDuty incident, with the root cause again
            elif action:
                _event_enqueue(incident, action)
        elif change.kind == "root_cause":
            facts = incident_facts(incident)
            previous = _root_cause_previous(change, incident)
            if facts.root_cause and previous != facts.root_cause:
                _note_enqueue(incident, events.rca_note(facts, previous=previous))
        elif change.kind == "split":
            split = split_facts(incident, timeline_id=change.data.get("timeline_id"), number=change.data.get("split"))
            if split is not None:
                _note_enqueue(incident, f"{split.message}\nIncident #{split.number} in Cleara: {split.url}")
        elif change.kind == "note":
            note = Note.objects.filter(pk=change.data.get("note_id")).first()
            if note is not None:
                by = f" by {note.author_name}" if note.author_name else ""
                _note_enqueue(incident, f"Note in Cleara{by}:\n{note.body}")


# --- delivery of each kind (called by the outbox) ----------------------------------------------


def _event_send(message: OutboxMessage) -> str:
    incident = Incident.objects.get(pk=message.incident_id)
    action = message.payload["action"]
    if action == "trigger":
        event = events.trigger_event(incident_facts(incident))
    elif action == "acknowledge":
        event = events.acknowledge_event(incident.number)
    else:
        event = events.resolve_event(incident.number)
    client = events_client()
    try:
        return client.send(event)
    finally:
        client.close()


def _pd_incident_id(client: PagerDutyRestClient, incident_id: int) -> str:
    record = PagerDutyIncident.objects.get(incident_id=incident_id)
    if record.pd_incident_id:
        return record.pd_incident_id
    found = client.incident_id_for_key(record.dedup_key)
    if not found:
        triggered = OutboxMessage.objects.filter(
            provider=PROVIDER, incident_id=incident_id, kind=EVENT, payload__action="trigger", status=OutboxMessage.Status.DELIVERED
        ).exists()
        if not triggered:
            raise errors.IntegrationRejected(f"PagerDuty has no incident for {record.dedup_key}: its trigger was not accepted")
        # PagerDuty creates the incident from the event asynchronously: ask again later.
        raise errors.IntegrationUnavailable(f"PagerDuty has no incident for {record.dedup_key} yet", maybe_sent=False)
    PagerDutyIncident.objects.filter(pk=record.pk).update(pd_incident_id=found)
    return found


def _note_add(message: OutboxMessage) -> str:
    client = rest_client()
    try:
        pd_id = _pd_incident_id(client, message.incident_id)
        return client.note_add(pd_id, events.text_note(message.payload["text"], key=message.key))
    finally:
        client.close()


def _note_verify(message: OutboxMessage) -> str | None:
    client = rest_client()
    try:
        pd_id = _pd_incident_id(client, message.incident_id)
        marker = events.note_marker(message.key)
        return next((n["id"] for n in client.notes(pd_id) if marker in (n.get("content") or "")), None)
    finally:
        client.close()


def _test_send(message: OutboxMessage) -> str:
    client = events_client()
    try:
        client.change(
            summary="Test notification from Cleara: PagerDuty is connected",
            source="cleara",
            links=[{"href": f"{settings.CLEARA_BASE_URL.rstrip('/')}/integrations/", "text": "Cleara integrations"}],
        )
    finally:
        client.close()
    return ""


def kinds_register() -> None:
    """Tell the outbox how to deliver each PagerDuty kind (IntegrationsConfig.ready())."""
    # Events are idempotent through the dedup key (a repeated trigger folds into the same alert;
    # acknowledge and resolve are states), so they are simply sent again.
    outbox.kind_register(EVENT, outbox.Kind(deliver=_event_send))
    outbox.kind_register(NOTE, outbox.Kind(deliver=_note_add, verify=_note_verify))
    # A change event has nothing to look up afterwards; a test is not worth a duplicate.
    outbox.kind_register(TEST, outbox.Kind(deliver=_test_send, retry_when_unsure=False))


def pagerduty_test_enqueue() -> int:
    if not settings.PAGERDUTY_ENABLED:
        return 0
    outbox.outbox_enqueue(provider=PROVIDER, kind=TEST)
    return 1


# --- webhooks in -------------------------------------------------------------------------------


class WebhookSignatureInvalid(Exception):
    pass


@dataclass(frozen=True)
class WebhookReceipt:
    record: InboundPayload
    duplicate: bool  # the same event id was received before: nothing stored or queued again


def pagerduty_webhook_receive(*, body: bytes, signature: str) -> WebhookReceipt:
    """Verify (WebhookSignatureInvalid), parse (webhooks.WebhookInvalid), store, queue.

    PagerDuty delivers at least once (it retries when our answer is slow or lost), and a replayed
    request carries a valid signature: each event id is stored and applied once (the
    `inbound_once_per_external_id` constraint decides, also between concurrent deliveries)."""
    if not webhooks.signature_valid(body=body, header=signature, secrets=settings.PAGERDUTY_WEBHOOK_SECRET):
        raise WebhookSignatureInvalid(
            "missing X-PagerDuty-Signature" if not signature else
            ("PAGERDUTY_WEBHOOK_SECRET is not set" if not settings.PAGERDUTY_WEBHOOK_SECRET else "signature does not match")
        )
    event = webhooks.event_parse(body)
    external_id = event.id[:200]
    try:
        with transaction.atomic():
            record = InboundPayload.objects.create(source="pagerduty", body=json.loads(body), external_id=external_id)
            transaction.on_commit(lambda: _process_later(record.pk), robust=True)
    except IntegrityError:
        if not external_id:
            raise
        record = InboundPayload.objects.get(source="pagerduty", external_id=external_id)
        log.info("pagerduty webhook %s (%s) received again: already stored as #%s", external_id, event.event_type, record.pk)
        return WebhookReceipt(record=record, duplicate=True)
    log.info("pagerduty webhook %s %s stored as #%s", event.event_type, event.incident_id, record.pk)
    return WebhookReceipt(record=record, duplicate=False)


def _process_later(payload_id: int) -> None:
    from django_q.tasks import async_task

    async_task("integrations.tasks.process_pagerduty_webhook", payload_id, task_name=f"pagerduty webhook {payload_id}")


def _incident_for(event: webhooks.WebhookEvent) -> Incident | None:
    """The Cleara incident a PagerDuty incident stands for: by our dedup key, by the PagerDuty id
    we know, or by asking the REST API for the incident's key."""
    number = events.number_from_dedup_key(event.incident_key)
    if number is None:
        record = PagerDutyIncident.objects.filter(pd_incident_id=event.incident_id).select_related("incident").first()
        if record is not None:
            return record.incident
        if settings.PAGERDUTY_API_ENABLED and event.incident_id:
            client = rest_client()
            try:
                number = events.number_from_dedup_key(client.incident(event.incident_id).get("incident_key"))
            finally:
                client.close()
    if number is None:
        return None
    incident = Incident.objects.filter(number=number).first()
    if incident is not None and event.incident_id and event.incident_key:
        # The incident PagerDuty talks about is the live one for this key (notes go there).
        PagerDutyIncident.objects.filter(incident=incident).update(pd_incident_id=event.incident_id)
    return incident


def pagerduty_webhook_process(*, payload_id: int) -> str:
    """Apply a stored webhook to Cleara; returns what was done (for the task's result)."""
    record = InboundPayload.objects.get(pk=payload_id, source="pagerduty")
    if record.status != InboundPayload.Status.RECEIVED:
        return record.status
    event = webhooks.event_from_data(record.body)
    try:
        incident = _incident_for(event)
    except errors.IntegrationError as exc:
        InboundPayload.objects.filter(pk=record.pk).update(status=InboundPayload.Status.FAILED, error=exc.reason, processed_at=timezone.now())
        return "failed"
    outcome = "ignored"
    who = f" by {event.agent}" if event.agent else ""
    with transaction.atomic():
        locked = InboundPayload.objects.select_for_update().get(pk=record.pk)
        if locked.status != InboundPayload.Status.RECEIVED:
            return locked.status
        if incident is not None and event.event_type in STATUS_FROM_WEBHOOK:
            try:
                with transaction.atomic():
                    incident_services.incident_set_status(
                        incident=incident, status=STATUS_FROM_WEBHOOK[event.event_type], origin=TimelineEvent.Origin.PAGERDUTY,
                        message=f"{event.event_type.split('.')[-1]} in PagerDuty{who}",
                    )
                outcome = STATUS_FROM_WEBHOOK[event.event_type]
            except IncidentError as exc:
                outcome = f"not applied: {exc}"  # e.g. resolved in PagerDuty, already a false positive here
        elif (
            incident is not None and event.event_type == "incident.annotated"
            and (event.note_content or "").strip() and not events.is_cleara_note(event.note_content or "")
        ):
            incident_services.note_add(
                incident=incident, body=event.note_content or "", author_name=event.agent or "PagerDuty",
                origin=Note.Origin.PAGERDUTY, external_id=f"pagerduty:{event.note_id}",
            )
            outcome = "note"
        InboundPayload.objects.filter(pk=record.pk).update(
            status=InboundPayload.Status.PROCESSED, processed_at=timezone.now(), error="" if incident else "no Cleara incident for this PagerDuty incident"
        )
    if incident is not None and outcome != "ignored":
        # A change made in PagerDuty, by a PagerDuty user (no Cleara user): the audit log says who.
        audit.record(actor_label=f"pagerduty:{event.agent or 'unknown'}", via="webhook", action=f"pagerduty:{event.event_type}",
                     target=f"incident {incident.number}", allowed=not outcome.startswith("not applied"), details={"outcome": outcome[:200]})
    return outcome
