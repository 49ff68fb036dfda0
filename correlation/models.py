"""Correlation and learning: the pattern library, feedback on root causes, and the model registry."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Pattern(models.Model):
    """A known failure mode: how it is recognised and what to do about it."""

    class Origin(models.TextChoices):
        BUILTIN = "builtin", "Built-in"
        LEARNED = "learned", "Learned"
        CURATED = "curated", "Curated"

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    incident_type = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    # How it is recognised: {"keywords": [...], "metrics": [...], "min_score": float}
    signals = models.JSONField(default=dict, blank=True)
    remediation = models.JSONField(default=list, blank=True, help_text="Ordered remediation steps.")
    runbook_url = models.URLField(max_length=500, blank=True, default="")
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.CURATED)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Feedback(models.Model):
    """An engineer's verdict on an incident's root cause; it feeds retraining."""

    class Verdict(models.TextChoices):
        YES = "yes", "Correct"
        NO = "no", "Wrong"
        PARTIAL = "partial", "Partly right"

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    suggested_root_cause = models.CharField(max_length=200, null=True, blank=True)
    correct_service = models.ForeignKey(
        "incidents.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True, help_text="When a model update took this feedback in.")

    class Meta:
        ordering = ["-created_at"]


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
