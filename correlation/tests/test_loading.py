"""What correlation reads (correlation.loading): a template's history, answered per (service,
template) pair from the events within the window, the same through the index as through the
former query."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from correlation.loading import Store, templates_seen
from correlation.templating import events_template
from incidents.ingest import batch_validate
from incidents.models import Event
from incidents.pipeline import events_ingest

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def line(cid: str, service: str, at: datetime, severity: str, message: str) -> dict:
    return {"id": cid, "timestamp": at.isoformat(), "service": service, "type": "log", "severity": severity, "message": message}


def templated(*lines: dict) -> None:
    """Stored, then templated as the component stage does (not correlated)."""
    ids = events_ingest(events=batch_validate(list(lines)), correlate=False).event_ids
    events_template(list(Event.objects.filter(pk__in=ids).select_related("service").order_by("timestamp", "pk")))


def test_templates_seen_answers_for_each_pair_from_the_lines_within_the_window():
    templated(line("a", "payments", T0 - timedelta(hours=2), "critical", "disk usage at 91% on /data"),
              line("b", "payments", T0 - timedelta(hours=1), "info", "cache warmed in 12ms"),
              line("c", "checkout", T0, "critical", "disk usage at 95% on /data"))
    tid = {e.client_id: (e.service_id, e.template_id) for e in Event.objects.all()}
    assert tid["c"][1] == tid["a"][1]  # one template, logged by payments in the day, by checkout only at `until`
    day = {"since": T0 - timedelta(days=1), "until": T0}
    asked = {tid["a"], tid["b"], tid["c"], (tid["a"][0], tid["b"][1] + 1000)}
    assert templates_seen(asked, **day) == {tid["a"], tid["b"]}  # at any severity; c is at `until`: outside
    assert templates_seen(asked, since=T0 - timedelta(minutes=90), until=T0) == {tid["b"]}  # a is before `since`
    assert templates_seen({(tid["b"][0], tid["b"][1])}, since=T0 - timedelta(hours=1), until=T0) == {tid["b"]}  # `since` counts
    assert templates_seen(set(), **day) == set()


def test_a_template_the_service_logged_the_day_before_at_any_severity_is_old_news():
    templated(line("old", "payments", T0 - timedelta(hours=1), "info", "disk usage at 91% on /data"))
    templated(line("p", "payments", T0, "critical", "disk usage at 97% on /data"),
              line("c", "checkout", T0, "critical", "disk usage at 98% on /data"))
    found = Store().log_templates(services={"payments", "checkout"}, since=T0 - timedelta(minutes=1), until=T0 + timedelta(minutes=1))
    assert {service: rows[0][5] for service, rows in found.items()} == {"payments": False, "checkout": True}
    assert found["payments"][0][0] == found["checkout"][0][0]  # one template: new for checkout only
