"""Correlation and learning: the model registry and the anomaly detectors' per-series state.

The pattern library and the feedback on root causes are incident data (incidents.models): the
console writes them and the engine reads them."""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ModelVersion(models.Model):
    """One trained model: what it is, what it was trained on, how it scored, and its artefact."""

    kind = models.CharField(max_length=50)
    version = models.PositiveIntegerField()
    trained_at = models.DateTimeField(default=timezone.now)
    parameters = models.JSONField(default=dict, blank=True)
    data_start = models.DateTimeField(null=True, blank=True)
    data_end = models.DateTimeField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    artefact = models.BinaryField(null=True, blank=True)
    active = models.BooleanField(default=False)
    notes = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="model_kind_version_unique"),
            models.UniqueConstraint(fields=["kind"], condition=Q(active=True), name="one_active_model_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version}{' (active)' if self.active else ''}"


class SeriesBaseline(models.Model):
    """What the anomaly detector has learnt about one metric series (service, metric, host).

    ``state`` is the detector's ``get_state()`` dict, pickled (plain numbers, numpy arrays and the
    LSTM's weight bytes; ~0.35 MB for an ensemble), a checkpoint that correlation.anomaly writes
    behind its cached detector and catches up from the stored events. Only Cleara writes it, so
    unpickling it is safe. ``last_timestamp`` is the newest point scored: older or repeated
    points are not fed again, so the detector stays causal when a batch arrives late.
    """

    service = models.ForeignKey("incidents.Service", on_delete=models.CASCADE, related_name="baselines")
    metric = models.CharField(max_length=200)
    host = models.CharField(max_length=255, blank=True, default="")
    detector = models.CharField(max_length=50, default="ensemble")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="baselines")
    state = models.BinaryField()
    points = models.PositiveIntegerField(default=0)
    anomalies = models.PositiveIntegerField(default=0)
    last_timestamp = models.DateTimeField(null=True, blank=True)
    last_score = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "metric", "host"], name="one_baseline_per_series"),
        ]

    def __str__(self) -> str:
        return f"{self.service_id}/{self.metric}/{self.host or '-'}"


class TemplateMinerState(models.Model):
    """The log template miner's state (correlation.templating): one row, locked while a batch is mined.

    ``stamp`` counts the writes: a process reuses the miner it holds while the stamp is the one it wrote.
    """

    state = models.JSONField(default=dict, blank=True)
    stamp = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class TrainingRun(models.Model):
    """One requested training, kept until it has produced its model version: a worker killed in the
    middle leaves the row leased and unfinished, and the sweep queues it again (correlation.runs)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    kind = models.CharField(max_length=50)
    parameters = models.JSONField(default=dict, blank=True)
    days = models.PositiveIntegerField()
    activate = models.BooleanField(default=False)
    reason = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "lease_until"], name="training_run_status_lease")]

    def __str__(self) -> str:
        return f"training {self.kind} #{self.pk} ({self.status})"
