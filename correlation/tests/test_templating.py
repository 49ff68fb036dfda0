"""Templating at ingest (correlation.templating): every log line is mined in the component
partition's order; the warning and error lines' templates are written with their batch, the info
lines' wait in pending rows for the deferred drain, and correlation's template history reads a
pending line as it reads a written one."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from correlation.loading import Store
from correlation.models import PendingTemplate
from correlation.templating import events_template, templates_drain
from incidents.ingest import batch_validate
from incidents.models import Event
from incidents.pipeline import events_ingest

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def line(cid: str, service: str, at: datetime, severity: str, message: str) -> dict:
    return {"id": cid, "timestamp": at.isoformat(), "service": service, "type": "log", "severity": severity, "message": message}


def stored(*lines: dict) -> list[Event]:
    """Stored and not processed (as a worker loads them: the service attached)."""
    ids = events_ingest(events=batch_validate(list(lines)), correlate=False).event_ids
    return list(Event.objects.filter(pk__in=ids).select_related("service").order_by("timestamp", "pk"))


def test_info_lines_wait_as_pending_rows_until_the_drain_writes_them_to_their_events():
    events = stored(
        line("i1", "payments", T0, "info", "request served in 12ms"),
        line("i2", "payments", T0 + timedelta(seconds=1), "info", "request served in 40ms"),
        line("e1", "payments", T0 + timedelta(seconds=2), "critical", "dial tcp 10.0.3.1:443: connection refused"),
        line("w1", "payments", T0 + timedelta(seconds=3), "warning", "retrying in 2s"),
    )
    events_template(events)
    mined = {e.client_id: (e.template_id, e.template_params) for e in events}  # what the miner gave, in memory
    written = {e.client_id: (e.template_id, e.template_params) for e in Event.objects.all()}
    assert written["e1"] == mined["e1"] and written["w1"] == mined["w1"]  # read by correlation: written with the batch
    assert written["i1"] == written["i2"] == (None, None)  # not yet
    pending = {p.event_id: p for p in PendingTemplate.objects.all()}
    by_cid = {e.client_id: e for e in events}
    assert set(pending) == {by_cid["i1"].pk, by_cid["i2"].pk}
    assert all((pending[by_cid[c].pk].template_id, pending[by_cid[c].pk].params) == mined[c] for c in ("i1", "i2"))
    assert mined["i1"][0] == mined["i2"][0] and mined["i2"][1] == ["40ms"]

    assert templates_drain(limit=1) == 1  # at most `limit`, oldest event first
    assert Event.objects.get(client_id="i1").template_id == mined["i1"][0] and PendingTemplate.objects.count() == 1
    assert templates_drain() == 1 and templates_drain() == 0
    assert {e.client_id: (e.template_id, e.template_params) for e in Event.objects.all()} == mined


def test_a_template_known_from_a_pending_info_line_is_old_news_before_and_after_the_drain():
    # payments logged the line at info level an hour before; now it logs it as an error. checkout
    # never logged it before.
    before = stored(line("old", "payments", T0 - timedelta(hours=1), "info", "disk usage at 91% on /data"))
    events_template(before)
    now = stored(line("p", "payments", T0, "critical", "disk usage at 97% on /data"),
                 line("c", "checkout", T0, "critical", "disk usage at 98% on /data"))
    events_template(now)
    assert PendingTemplate.objects.get().template_id == Event.objects.get(client_id="p").template_id  # one template

    def new_flags() -> dict[str, bool]:
        found = Store().log_templates(services={"payments", "checkout"}, since=T0 - timedelta(minutes=1), until=T0 + timedelta(minutes=1))
        return {service: rows[0][5] for service, rows in found.items()}

    assert new_flags() == {"payments": False, "checkout": True}  # the history read the pending row
    templates_drain()
    assert not PendingTemplate.objects.exists()
    assert new_flags() == {"payments": False, "checkout": True}  # and now the event: the same answer


def test_inline_processing_writes_every_lines_template_before_it_answers(settings):
    events_ingest(events=batch_validate([line("i", "users", T0, "info", "session opened for user ann"),
                                         line("e", "users", T0, "critical", "out of memory")]), correlate=True)
    assert not PendingTemplate.objects.exists()
    assert Event.objects.filter(template__isnull=True).count() == 0
