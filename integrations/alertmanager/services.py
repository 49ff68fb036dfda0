"""Alertmanager in: keep the raw payload, then map and ingest it through the common pipeline."""
from __future__ import annotations

from django.utils import timezone

from incidents.models import Event
from incidents.pipeline import PipelineResult, events_ingest
from integrations.alertmanager.payload import batch_parse, batch_to_events
from integrations.models import InboundPayload


def alertmanager_receive(*, data) -> PipelineResult:
    """Validate a decoded webhook body (raising IngestValidationError), store it raw, ingest its alerts."""
    batch = batch_parse(data)
    record = InboundPayload.objects.create(source="alertmanager", body=data)
    result = events_ingest(events=batch_to_events(batch), source=Event.Source.ALERTMANAGER)
    InboundPayload.objects.filter(pk=record.pk).update(status=InboundPayload.Status.PROCESSED, processed_at=timezone.now())
    return result
