"""Online correlation: each arriving alert or anomaly joins the open incident it belongs to, or opens one.

`events_correlate` takes the batch's stored events and returns the ids of the incidents it
created or changed.
"""
from __future__ import annotations

from incidents.models import Event


def events_correlate(*, events: list[Event]) -> list[int]:
    # The correlation engine (issue 2) replaces this.
    return []
