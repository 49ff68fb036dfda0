"""What crosses Cleara's border: raw inbound webhook payloads (kept so nothing accepted is lost)."""
from django.db import models
from django.utils import timezone


class InboundPayload(models.Model):
    """A webhook body exactly as received, stored before it is processed."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=50)
    received_at = models.DateTimeField(default=timezone.now)
    body = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["source", "received_at"], name="inbound_source_received")]
