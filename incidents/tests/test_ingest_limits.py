"""What a client over the network may send (issue 12): timestamps in a window around now, a cap
on the services one request creates; and events stored before those limits (year 1, year 9999)
break neither correlation nor the dashboard."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from incidents.ingest import EventIn, TimestampWindow
from incidents.models import Event, Incident, Service
from incidents.pipeline import events_ingest
from incidents.tests.conftest import htmx

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


def ev(ts, **kw) -> dict:
    return {"timestamp": ts, "service": "checkout", "type": "alert", "severity": "critical", "message": "p99 above 2s", **kw}


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("ts, reason", [
    ("0001-01-01T00:00:00Z", "days in the past"),
    ("9999-12-31T23:59:59Z", "hours in the future"),
    (1e300, "out of range"),
    (-1e18, "out of range"),
])
def test_absurd_timestamps_are_refused_with_index_field_and_reason(api, ts, reason):
    r = api.post(URL, [ev(iso(timezone.now()), id="ok"), ev(ts, id="bad")])
    assert r.status_code == 400 and r["Content-Type"].startswith("application/json"), r.content
    [error] = r.json()["errors"]
    assert (error["index"], error["field"]) == (1, "timestamp") and reason in error["reason"], error
    assert not Event.objects.filter(client_id__in=["ok", "bad"]).exists()


def test_the_window_edges_follow_the_settings(api, settings):
    now = timezone.now()
    inside = [ev(iso(now - timedelta(days=29, hours=23)), id="old"), ev(iso(now + timedelta(hours=23)), id="ahead")]
    assert api.post(URL, inside).status_code == 202
    outside = [ev(iso(now - timedelta(days=30, minutes=5)), id="older"), ev(iso(now + timedelta(hours=25)), id="further")]
    errors = api.post(URL, outside).json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(0, "timestamp"), (1, "timestamp")]
    settings.INGEST_MAX_PAST_DAYS, settings.INGEST_MAX_FUTURE_HOURS = 60, 48
    assert api.post(URL, outside).status_code == 202


def test_the_window_names_the_range_it_accepts():
    window = TimestampWindow(now=datetime(2026, 12, 1, tzinfo=UTC), past=timedelta(days=30), future=timedelta(hours=24))
    assert window.problem(datetime(2026, 11, 15, tzinfo=UTC)) is None
    assert window.problem(datetime(1, 1, 1, tzinfo=UTC)) == (
        "0001-01-01T00:00:00+00:00 is more than 30 days in the past "
        "(accepted: 2026-11-01T00:00:00Z to 2026-12-02T00:00:00Z; INGEST_MAX_PAST_DAYS)"
    )


def test_new_services_per_request_are_capped_and_named(api, settings):
    settings.INGEST_MAX_NEW_SERVICES = 10
    now = iso(timezone.now())
    batch = [ev(now, id=f"s{i}", service=f"svc-{i}") for i in range(11)]
    r = api.post(URL, batch)
    assert r.status_code == 422 and r["Content-Type"].startswith("application/json")
    assert "11 new services; at most 10" in r.json()["detail"]
    assert not Service.objects.filter(name__startswith="svc-").exists() and not Event.objects.filter(client_id__startswith="s").exists()
    assert api.post(URL, batch[:10]).status_code == 202
    assert api.post(URL, batch).status_code == 202  # ten exist now: one new


@pytest.mark.parametrize("ts", [datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 3, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)])
def test_events_stored_at_absurd_times_break_neither_correlation_nor_the_dashboard(alice, ts):
    # As if stored before the window existed: straight through the pipeline, correlation inline.
    absurd = [EventIn(timestamp=ts, service="checkout", type="alert", severity="critical", message=f"boom {i}", client_id=f"absurd-{i}") for i in range(3)]
    result = events_ingest(events=absurd, correlate=True)
    assert result.accepted == 3 and result.incident_ids == []
    # Later batches at sane times still correlate around them.
    now = timezone.now()
    sane = [EventIn(timestamp=now - timedelta(seconds=i), service="checkout", type="alert", severity="critical", message="p99 above 2s", client_id=f"sane-{i}") for i in range(3)]
    assert events_ingest(events=sane, correlate=True).incident_ids
    for query in ("", "?range=all", "?range=24h", "?range=7d"):
        stats = alice.get("/" + query, **htmx("dashboard-stats"))
        assert stats.status_code == 200, (query, stats.status_code)
    assert alice.get("/").status_code == 200
    assert alice.get("/api/v1/stats").status_code == 200
    incident = Incident.objects.filter(events__client_id="sane-0").get()
    assert alice.get(f"/incidents/{incident.number}/timeline/").status_code == 200
