"""Alertmanager in: keep the raw payload, then map and ingest it through the common pipeline."""
from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from incidents.ingest import TimestampWindow, services_new_check
from incidents.models import Event
from incidents.pipeline import PipelineResult, events_ingest
from integrations.alertmanager.payload import batch_parse, batch_to_events
from integrations.models import InboundPayload


def alertmanager_receive(*, data) -> tuple[PipelineResult, list[dict]]:
    """Validate a decoded webhook body (IngestValidationError, IngestRejected), store it raw, ingest
    its alerts; also return the alerts left out (firing since before the ingest window)."""
    batch = batch_parse(data, window=TimestampWindow.from_settings(), max_alerts=settings.ALERTMANAGER_MAX_ALERTS)
    events = batch_to_events(batch)
    services_new_check({e.service for e in events})
    record = InboundPayload.objects.create(source="alertmanager", body=data)
    result = events_ingest(events=events, source=Event.Source.ALERTMANAGER)
    InboundPayload.objects.filter(pk=record.pk).update(status=InboundPayload.Status.PROCESSED, processed_at=timezone.now())
    return result, batch.skipped
