"""Reads of the correlation app for the console."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Length

from correlation.models import ModelVersion, SeriesBaseline


def model_list(*, kind: str | None = None) -> QuerySet[ModelVersion]:
    """Model versions, newest first per kind; the Models page and /api/v1/ml/models read this."""
    # Artefacts can be large: leave them in the database and ask only for their size.
    versions = ModelVersion.objects.defer("artefact").annotate(artefact_bytes=Length("artefact")).order_by("kind", "-version")
    return versions.filter(kind=kind) if kind else versions


def series_baseline_summary() -> dict:
    return SeriesBaseline.objects.aggregate(
        series=Count("id"),
        warm=Count("id", filter=Q(points__gte=100)),
        points=Coalesce(Sum("points"), 0),
        anomalies=Coalesce(Sum("anomalies"), 0),
    )
