"""Reads of the correlation app for the console."""
from __future__ import annotations

from django.db.models import Count, Q
from django.db.models.functions import Length

from correlation.models import ModelVersion, SeriesBaseline


def model_list_for_console() -> list[ModelVersion]:
    # Artefacts can be large: leave them in the database and ask only for their size.
    return list(
        ModelVersion.objects.defer("artefact").annotate(artefact_bytes=Length("artefact")).order_by("kind", "-version")
    )


def series_baseline_summary() -> dict:
    return SeriesBaseline.objects.aggregate(
        series=Count("id"),
        warm=Count("id", filter=Q(points__gte=100)),
    )
