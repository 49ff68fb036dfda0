"""The console's views: every page and partial, their permissions, filters and forms."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from incidents.models import Feedback, Incident, Note, TimelineEvent
from incidents.tests.conftest import HTMX, htmx

STEP_NAMES = ["detail", "preview", "timeline", "rca", "map", "recommendations", "investigate", "collaborate", "resolve", "live", "feedback", "export_json", "export_csv"]
POST_NAMES = ["note_add", "assign", "status", "resolve", "feedback"]


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


# --- Permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STEP_NAMES)
def test_logged_out_user_is_sent_to_the_login_page(seeded, name):
    url = reverse(f"incidents:{name}", args=[seeded.main.number])
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("name", STEP_NAMES)
def test_logged_out_htmx_request_gets_hx_redirect(seeded, name):
    url = reverse(f"incidents:{name}", args=[seeded.main.number])
    response = Client().get(url, **htmx("incident-console"))
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/login/?next=")


@pytest.mark.parametrize("name", POST_NAMES)
def test_logged_out_post_changes_nothing(seeded, name):
    url = reverse(f"incidents:{name}", args=[seeded.main.number])
    response = Client().post(url, {"body": "x", "status": "resolved", "notes": "x", "verdict": "yes"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Incident.objects.get(pk=seeded.main.pk).status == Incident.Status.INVESTIGATING
    assert not Feedback.objects.exists()


def test_dashboard_and_patterns_need_a_login(db):
    for url in ("/", "/patterns/"):
        assert Client().get(url)["Location"].startswith("/login/")


def test_login_page_and_logout(seeded):
    client = Client()
    assert "Log in to Cleara" in body(client.get("/login/"))
    response = client.post("/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = body(client.get("/"))
    assert "alice" in page and "Log out" in page
    assert client.post("/logout/").status_code == 302
    assert client.get("/")["Location"].startswith("/login/")


def test_wrong_password_says_so(seeded):
    response = Client().post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "did not match" in body(response)


def test_unknown_incident_is_a_404_that_says_what_to_do(alice):
    response = alice.get("/incidents/99999/")
    assert response.status_code == 404
    assert "the incident list" in body(response)


def test_get_only_views_refuse_post(alice, seeded):
    assert alice.post(reverse("incidents:timeline", args=[seeded.main.number])).status_code == 405
    assert alice.get(reverse("incidents:note_add", args=[seeded.main.number])).status_code == 405


# --- 1: dashboard --------------------------------------------------------------------------------


def test_dashboard_lists_incidents_and_loads_its_stats_after(alice, seeded):
    response = alice.get("/")
    page = body(response)
    assert response.status_code == 200
    for incident in (seeded.main, seeded.memory, seeded.quiet):
        assert f'id="incident-{incident.pk}-row"' in page
    assert 'ws-connect="/ws/console/' in page
    assert 'hx-trigger="load, every 60s' in page and 'data-stat="incidents"' not in page
    assert f"static/{settings.PLOTLY_JS}" in page
    assert "cdn." not in page


def test_dashboard_stats_partial(alice, seeded):
    from incidents.models import Event

    response = alice.get("/", {"range": "24h"}, **htmx("dashboard-stats"))
    html = body(response)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="dashboard-stats"')
    assert 'hx-trigger="every 60s' in html  # loaded: it only polls now
    alerts = Event.objects.filter(type="alert", timestamp__gte=seeded.now - timedelta(hours=24)).count()
    assert f'data-stat="alerts">{alerts}<' in html
    assert "2 investigating" in html and "1 open" in html and 'data-stat="incidents">3<' in html
    assert 'id="stats-trend-chart"' in html


def test_dashboard_filters_by_severity_status_and_service(alice, seeded):
    page = body(alice.get("/", {"severity": "critical"}))
    assert f"incident-{seeded.main.pk}-row" in page and f"incident-{seeded.memory.pk}-row" not in page
    page = body(alice.get("/", {"status": ["open"]}))
    assert f"incident-{seeded.quiet.pk}-row" in page and f"incident-{seeded.main.pk}-row" not in page
    page = body(alice.get("/", {"service": "catalog"}))
    assert f"incident-{seeded.memory.pk}-row" in page and f"incident-{seeded.main.pk}-row" not in page


def test_dashboard_time_range_presets_and_custom(alice, seeded):
    page = body(alice.get("/", {"range": "1h"}))
    assert f"incident-{seeded.main.pk}-row" in page
    assert f"incident-{seeded.history[0].pk}-row" not in page  # 3 days old
    page = body(alice.get("/", {"range": "30d"}))
    assert f"incident-{seeded.history[2].pk}-row" in page
    day = seeded.history[0].started_at
    page = body(alice.get("/", {"range": "custom", "since": f"{day:%Y-%m-%dT%H:%M}", "until": f"{day.replace(hour=23, minute=59):%Y-%m-%dT%H:%M}"}))
    assert f"incident-{seeded.history[0].pk}-row" in page and f"incident-{seeded.main.pk}-row" not in page


def test_dashboard_filters_stay_in_the_url_of_the_poll_and_the_socket(alice, seeded):
    page = body(alice.get("/", {"severity": "critical", "range": "24h"}))
    assert 'hx-get="/?severity=critical&amp;range=24h"' in page
    assert 'ws-connect="/ws/console/?severity=critical&amp;range=24h"' in page
    assert 'value="critical" checked' in page


def test_dashboard_search_and_empty_state(alice, seeded):
    page = body(alice.get("/", {"q": "OOMKilled"}))
    assert f"incident-{seeded.memory.pk}-row" in page and f"incident-{seeded.main.pk}-row" not in page
    page = body(alice.get("/", {"q": "nothing matches this"}))
    assert "No incident matches these filters" in page and "clear all filters" in page


@pytest.mark.parametrize(
    "params, message",
    [
        ({"severity": "catastrophic"}, "Select a valid choice"),
        ({"status": "closed"}, "Select a valid choice"),
        ({"range": "forever"}, "Select a valid choice"),
        ({"service": "no-such-service"}, "There is no service named"),
        ({"range": "custom"}, "A custom range needs a start"),
        ({"range": "custom", "since": "yesterday"}, "Enter a valid date/time"),
        ({"range": "custom", "since": "2026-11-02T10:00", "until": "2026-11-01T10:00"}, "before its start"),
        ({"page": "two"}, "Enter a whole number"),
    ],
)
def test_malformed_filter_gets_a_clear_message_not_a_500(alice, seeded, params, message):
    response = alice.get("/", params)
    assert response.status_code == 422
    page = body(response)
    assert "These filters cannot be applied" in page and message in page
    assert "clear all filters" in page


def test_malformed_filter_over_htmx_is_a_swappable_422_fragment(alice, seeded):
    response = alice.get("/", {"severity": "nope"}, **htmx("dashboard-results"))
    assert response.status_code == 422
    page = body(response)
    assert page.lstrip().startswith('<div id="dashboard-results"') and "<html" not in page


def test_dashboard_partials_for_filters_and_polling(alice, seeded):
    rows = body(alice.get("/", {"severity": "critical"}, **htmx("incident-rows")))
    assert rows.lstrip().startswith('<section id="incident-rows"') and "<html" not in rows
    assert f"incident-{seeded.main.pk}-row" in rows and "dashboard-stats" not in rows
    stats = body(alice.get("/", **htmx("dashboard-stats")))
    assert stats.lstrip().startswith('<section id="dashboard-stats"') and "incident-rows-body" not in stats
    results = body(alice.get("/", **htmx("dashboard-results")))
    assert 'id="dashboard-stats"' in results and "incident-rows-body" in results and "incident-filters" not in results


def test_dashboard_paginates(alice, seeded, make_incident, settings):
    from incidents import selectors

    for _ in range(selectors.CONSOLE_PAGE_SIZE + 2):
        make_incident(started_at=seeded.now, last_event_at=seeded.now, services=["checkout"])
    page = body(alice.get("/", {"range": "30d"}))
    assert "Older →" in page and "Page 1 of 2" in page
    page2 = body(alice.get("/", {"range": "30d", "page": 2}))
    assert "← Newer" in page2 and "Page 2 of 2" in page2


# --- 2: preview ----------------------------------------------------------------------------------


def test_preview_panel_partial(alice, seeded):
    response = alice.get(reverse("incidents:preview", args=[seeded.main.number]), **htmx("incident-preview"))
    page = body(response)
    assert response.status_code == 200 and "<html" not in page
    assert page.lstrip().startswith('<section id="incident-preview"')
    assert seeded.main.title in page and "payments-db" in page and "72%" in page
    assert f'id="incident-{seeded.main.pk}-mini-timeline"' in page
    # Related: the resolved pool exhaustions share services, pattern and alert signature.
    for past in seeded.history[:3]:
        assert f'href="{past.get_absolute_url()}"' in page
    assert "Same services" in page and "Same pattern" in page and "Similar signature" in page
    assert f'href="{seeded.main.get_absolute_url()}"' in page  # "Open the investigation"


def test_the_overview_fetches_its_related_incidents_after_loading(alice, seeded):
    main = seeded.main
    page = body(alice.get(f"/incidents/{main.number}/"))
    related_url = reverse("incidents:related", args=[main.number])
    assert f'id="incident-{main.pk}-related"' in page and f'hx-get="{related_url}" hx-trigger="load"' in page
    assert "Same services" not in page
    response = alice.get(related_url, **htmx(f"incident-{main.pk}-related"))
    fragment = body(response)
    assert response.status_code == 200 and fragment.lstrip().startswith(f'<section class="related" id="incident-{main.pk}-related"')
    assert "Same services" in fragment and "Similar signature" in fragment and "<html" not in fragment
    for past in seeded.history[:3]:
        assert f'href="{past.get_absolute_url()}"' in fragment
    assert alice.get(reverse("incidents:related", args=[99999])).status_code == 404


def test_preview_and_recommendations_say_why_each_similar_incident_is_similar(alice, seeded):
    """Steps 2 and 6 list the incidents incidents.similarity scores highest, each with its score
    and the reasons it gives (not a match on severity alone)."""
    import re

    for name, target in (("preview", "incident-preview"), ("recommendations", None)):
        page = body(alice.get(reverse(f"incidents:{name}", args=[seeded.main.number]), **(htmx(target) if target else {})))
        reasons = re.findall(r'data-similarity="([0-9.]+)">[^<]*?(?:[Ss]imilarity) ([0-9.]+): ([^<]+)<', page)
        assert reasons, f"step {name} gives no reason for any similar incident"
        assert all(float(score) > 0 for score, _, _ in reasons)
        assert any("same root cause: payments-db" in why for _, _, why in reasons), reasons
        assert f'href="{seeded.history[0].get_absolute_url()}"' in page


def test_preview_full_page_has_the_dashboard_and_the_panel(alice, seeded):
    page = body(alice.get(reverse("incidents:preview", args=[seeded.main.number])))
    assert 'id="incident-filters"' in page and 'id="incident-preview"' in page and seeded.main.title in page


# --- Overview and steps 3-9 ----------------------------------------------------------------------


def test_incident_page_has_header_steps_socket_and_poller(alice, seeded):
    page = body(alice.get(seeded.main.get_absolute_url()))
    assert f'id="incident-{seeded.main.pk}-header"' in page
    assert f'ws-connect="/ws/incidents/{seeded.main.pk}/"' in page
    assert f'hx-get="/incidents/{seeded.main.number}/live/"' in page
    for name in ("timeline", "rca", "map", "recommendations", "investigate", "collaborate", "resolve"):
        assert f'href="{reverse("incidents:" + name, args=[seeded.main.number])}"' in page
    assert "data-copy-link" in page


@pytest.mark.parametrize("name", ["detail", "timeline", "rca", "map", "recommendations", "investigate", "collaborate", "resolve"])
def test_each_step_renders_as_page_and_as_console_partial(alice, seeded, name):
    url = reverse(f"incidents:{name}", args=[seeded.main.number])
    full = alice.get(url)
    assert full.status_code == 200 and "<html" in body(full)
    part = alice.get(url, **htmx("incident-console"))
    html = body(part)
    assert part.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div id="incident-console"') and 'aria-current="page"' in html


@pytest.mark.parametrize("name", ["detail", "timeline", "rca", "map", "recommendations", "investigate", "collaborate", "resolve"])
def test_each_step_has_an_empty_state_for_an_incident_without_data(alice, seeded, name):
    response = alice.get(reverse(f"incidents:{name}", args=[seeded.quiet.number]))
    assert response.status_code == 200


def test_timeline_draws_every_event_with_click_through(alice, seeded):
    page = body(alice.get(reverse("incidents:timeline", args=[seeded.main.number])))
    assert f'id="incident-{seeded.main.pk}-timeline-chart"' in page
    assert 'data-plotly-click="timeline-event"' in page and "<script>" not in page
    assert f'data-event-url="/incidents/{seeded.main.number}/events/0/"' in page
    assert f"{seeded.main.events.count()} events" in page


def test_timeline_filters(alice, seeded):
    url = reverse("incidents:timeline", args=[seeded.main.number])
    html = body(alice.get(url, {"type": "alert", "severity": "critical", "service": "payments-db"}, **htmx("timeline-results")))
    assert html.lstrip().startswith('<div id="timeline-results"')
    n = seeded.main.events.filter(type="alert", severity="critical", service__name="payments-db").count()
    assert f"{n} events" in html
    html = body(alice.get(url, {"q": "too many clients"}, **htmx("timeline-results")))
    assert "too many clients" in html and "Connection pool exhausted" not in html
    html = body(alice.get(url, {"q": "zzz-nothing"}, **htmx("timeline-results")))
    assert "No events match" in html


def test_timeline_malformed_filter_is_422_with_message(alice, seeded):
    response = alice.get(reverse("incidents:timeline", args=[seeded.main.number]), {"type": "trace"}, **htmx("timeline-results"))
    assert response.status_code == 422
    assert "These filters cannot be applied" in body(response)


def test_event_detail_partial_and_page(alice, seeded):
    event = seeded.main.events.filter(type="alert").first()
    url = reverse("incidents:event", args=[seeded.main.number, event.pk])
    html = body(alice.get(url, **htmx("event-detail")))
    assert html.lstrip().startswith('<aside id="event-detail"') and event.message in html and event.service.name in html
    page = body(alice.get(url))
    assert "<html" in page and event.message in page
    other = seeded.memory.events.first()
    assert alice.get(reverse("incidents:event", args=[seeded.main.number, other.pk])).status_code == 404


def test_rca_shows_cause_gauge_pattern_reasons_alternatives_and_evidence(alice, seeded):
    page = body(alice.get(reverse("incidents:rca", args=[seeded.main.number])))
    assert 'data-root-cause' in page and "payments-db" in page
    assert f'id="incident-{seeded.main.pk}-gauge"' in page
    assert seeded.patterns["db-connection-pool-exhaustion"].name in page
    assert "alerted first, 94 s before payments" in page
    assert "Alternative hypotheses" in page and "stripe-proxy" in page and "0.19" in page
    assert "Supporting evidence" in page and "Connection pool exhausted" in page


def test_rca_folds_alternatives_when_confident(alice, seeded):
    page = body(alice.get(reverse("incidents:rca", args=[seeded.memory.number])))
    assert "Alternative hypotheses" not in page
    assert "other candidate" in page


def test_rca_without_hypotheses_says_what_to_do(alice, seeded):
    page = body(alice.get(reverse("incidents:rca", args=[seeded.quiet.number])))
    assert "No root cause has been named yet" in page


def test_service_map(alice, seeded):
    page = body(alice.get(reverse("incidents:map", args=[seeded.main.number])))
    assert f'id="incident-{seeded.main.pk}-map"' in page
    assert "root cause" in page and "neighbour" in page
    assert "the failure spreads this way" in page
    assert 'href="https://runbooks.example.com/services/payments-db"' in page


def test_an_alternative_scored_zero_shows_its_figure_not_an_empty_bar(alice, seeded):
    main = seeded.main
    main.hypotheses = [{**h, "score": 0.0} if h["service"] == "stripe-proxy" else h for h in main.hypotheses]
    main.save(update_fields=["hypotheses"])
    page = body(alice.get(reverse("incidents:rca", args=[main.number])))
    row = re.search(r"<tr><td class=\"card-title\">stripe-proxy</td>(.*?)</tr>", page, re.S).group(1)
    assert "<meter" not in row and "&lt; 0.01" in row
    payments = re.search(r"<tr><td class=\"card-title\">payments</td>(.*?)</tr>", page, re.S).group(1)
    assert '<meter class="bar"' in payments and 'aria-label="score 0.19"' in payments


def test_recommendations(alice, seeded):
    page = body(alice.get(reverse("incidents:recommendations", args=[seeded.main.number])))
    pattern = seeded.patterns["db-connection-pool-exhaustion"]
    assert f"From the pattern <strong>{pattern.name}</strong>" in page
    assert 'data-eta>50 min<' in page and "median of 3 resolved incidents with a similar history (similarity-weighted)" in page
    assert f'href="{pattern.runbook_url}"' in page or not pattern.runbook_url
    assert 'href="https://runbooks.example.com/services/payments-db"' in page
    assert "Killed a runaway" in page and "<code>ledger_entries</code>" in page


def test_recommendations_without_history_or_pattern(alice, seeded):
    page = body(alice.get(reverse("incidents:recommendations", args=[seeded.quiet.number])))
    assert "general first steps" in page and "Not enough history yet" in page


def test_investigate_logs_metrics_alerts_and_exports(alice, seeded):
    url = reverse("incidents:investigate", args=[seeded.main.number])
    page = body(alice.get(url))
    assert f'id="incident-{seeded.main.pk}-metrics"' in page
    assert "Alert history" in page and "Connection pool exhausted" in page
    assert reverse("incidents:export_json", args=[seeded.main.number]) in page
    assert reverse("incidents:export_csv", args=[seeded.main.number]) in page


def test_log_search_highlights_and_goes_beyond_on_request(alice, seeded):
    url = reverse("incidents:investigate", args=[seeded.main.number])
    html = body(alice.get(url, {"q": "POOL"}, **htmx("log-results")))
    assert html.lstrip().startswith('<div id="log-results"')
    assert "<mark>pool</mark>" in html and "healthz" not in html
    html = body(alice.get(url, {"q": "healthz"}, **htmx("log-results")))
    assert "No log line contains" in html
    html = body(alice.get(url, {"q": "healthz", "beyond": "on"}, **htmx("log-results")))
    assert "<mark>healthz</mark>" in html and "around the incident" in html


def test_log_search_escapes_html(alice, seeded):
    from incidents.models import Event

    Event.objects.create(timestamp=seeded.main.started_at, service=seeded.services["payments"], type="log", message="<script>alert(1)</script> pool", incident=seeded.main)
    html = body(alice.get(reverse("incidents:investigate", args=[seeded.main.number]), {"q": "pool"}, **htmx("log-results")))
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_export_json_has_the_incident_and_all_its_events(alice, seeded):
    response = alice.get(reverse("incidents:export_json", args=[seeded.main.number]))
    assert response["Content-Disposition"] == f'attachment; filename="incident-{seeded.main.number}.json"'
    data = json.loads(body(response))
    assert data["number"] == seeded.main.number and data["root_cause_service"] == "payments-db"
    assert len(data["events"]) == seeded.main.events.count()
    assert {"timestamp", "service", "type", "severity", "message"} <= data["events"][0].keys()


def test_export_csv_has_one_row_per_event(alice, seeded):
    response = alice.get(reverse("incidents:export_csv", args=[seeded.main.number]))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert len(rows) == seeded.main.events.count()
    assert rows[0]["incident"] == str(seeded.main.number) and rows[0]["service"]


# --- 8: collaboration ----------------------------------------------------------------------------


def test_collaborate_page(alice, seeded):
    page = body(alice.get(reverse("incidents:collaborate", args=[seeded.main.number])))
    assert "<strong>200/200</strong>" in page  # Markdown rendered
    assert "via Slack" in page
    assert f'id="incident-{seeded.main.pk}-audit"' in page and "changed the status from" in page


def test_add_note_renders_markdown_safely_and_returns_live_fragments(alice, seeded):
    url = reverse("incidents:note_add", args=[seeded.main.number])
    response = alice.post(url, {"body": "**Found it** <script>alert(1)</script> [runbook](https://runbooks.example.com/x)"}, **HTMX)
    html = body(response)
    assert response.status_code == 200
    note = Note.objects.filter(incident=seeded.main).latest("created_at")
    assert note.author == seeded.users["alice"] and note.body.startswith("**Found it**")
    assert f'id="incident-{seeded.main.pk}-note-form"' in html
    assert f'id="incident-{seeded.main.pk}-notes" class="notes" hx-swap-oob="true"' in html
    assert "<strong>Found it</strong>" in html and "<script>" not in html
    assert 'href="https://runbooks.example.com/x"' in html
    assert TimelineEvent.objects.filter(incident=seeded.main, kind="note", actor=seeded.users["alice"]).exists()


def test_empty_note_is_422_with_the_form(alice, seeded):
    response = alice.post(reverse("incidents:note_add", args=[seeded.main.number]), {"body": "   "}, **HTMX)
    assert response.status_code == 422
    assert "Write something before adding the note" in body(response)


def test_note_without_htmx_redirects_back(alice, seeded):
    response = alice.post(reverse("incidents:note_add", args=[seeded.main.number]), {"body": "plain post"})
    assert response.status_code == 302 and response["Location"] == reverse("incidents:collaborate", args=[seeded.main.number])


def test_assign_and_audit(alice, seeded):
    response = alice.post(reverse("incidents:assign", args=[seeded.main.number]), {"assignee": "bob"}, **HTMX)
    html = body(response)
    assert response.status_code == 200
    assert Incident.objects.get(pk=seeded.main.pk).assignee == seeded.users["bob"]
    assert "data-incident-assignee>bob<" in html  # the header, out of band
    assert "assigned it to <em>bob</em>" in html


def test_assign_unknown_user_is_422(alice, seeded):
    response = alice.post(reverse("incidents:assign", args=[seeded.main.number]), {"assignee": "mallory"}, **HTMX)
    assert response.status_code == 422 and "does not exist" in body(response)


def test_unassign(alice, seeded):
    alice.post(reverse("incidents:assign", args=[seeded.main.number]), {"assignee": ""}, **HTMX)
    assert Incident.objects.get(pk=seeded.main.pk).assignee is None


def test_status_change_is_audited(alice, seeded):
    response = alice.post(reverse("incidents:status", args=[seeded.main.number]), {"status": "false_positive"}, **htmx(f"incident-{seeded.main.pk}-status-controls"))
    assert response.status_code == 200
    incident = Incident.objects.get(pk=seeded.main.pk)
    assert incident.status == "false_positive" and incident.resolved_at is not None
    entry = TimelineEvent.objects.filter(incident=incident, kind="status").latest("created_at")
    assert (entry.from_value, entry.to_value, entry.actor) == ("investigating", "false_positive", seeded.users["alice"])
    assert 'data-incident-status="false_positive"' in body(response)


def test_status_change_not_allowed_is_422_with_the_reason(alice, seeded):
    resolved = seeded.history[0]
    response = alice.post(reverse("incidents:status", args=[resolved.number]), {"status": "investigating"}, **HTMX)
    assert response.status_code == 422 and "cannot become investigating" in body(response)
    response = alice.post(reverse("incidents:status", args=[resolved.number]), {"status": "exploded"}, **HTMX)
    assert response.status_code == 422


def test_live_fragments_and_stop_polling_once_closed(alice, seeded):
    response = alice.get(reverse("incidents:live", args=[seeded.main.number]), **HTMX)
    html = body(response)
    assert response.status_code == 200
    parts = ("header", "notes", "audit", "status-controls", "assign-form")
    for part in parts:
        assert f'id="incident-{seeded.main.pk}-{part}"' in html
    assert html.count('hx-swap-oob="true"') == len(parts)
    assert alice.get(reverse("incidents:live", args=[seeded.history[0].number]), **HTMX).status_code == 286


# --- 9: resolution and learning ------------------------------------------------------------------


def test_resolve_with_notes_tags_and_type(alice, seeded):
    url = reverse("incidents:resolve", args=[seeded.main.number])
    response = alice.post(url, {"notes": "Killed the **settlement** batch.", "tags": "Database, capacity, database", "incident_type": "database"}, **htmx(f"incident-{seeded.main.pk}-resolve"))
    assert response.status_code == 200
    incident = Incident.objects.get(pk=seeded.main.pk)
    assert incident.status == "resolved" and incident.tags == ["capacity", "database"] and incident.incident_type == "database"
    assert incident.resolution_notes == "Killed the **settlement** batch."
    html = body(response)
    assert "Reopen" in html and "<strong>settlement</strong>" in html


def test_resolve_as_false_positive(alice, seeded):
    alice.post(reverse("incidents:resolve", args=[seeded.quiet.number]), {"notes": "Lag was a replay.", "false_positive": "on"}, **HTMX)
    assert Incident.objects.get(pk=seeded.quiet.pk).status == "false_positive"


def test_resolve_needs_notes(alice, seeded):
    response = alice.post(reverse("incidents:resolve", args=[seeded.main.number]), {"notes": ""}, **HTMX)
    assert response.status_code == 422 and "Say what fixed it" in body(response)
    assert Incident.objects.get(pk=seeded.main.pk).is_open


def test_reopen_from_the_resolution_step(alice, seeded):
    past = seeded.history[0]
    response = alice.post(reverse("incidents:status", args=[past.number]), {"status": "open"}, **htmx(f"incident-{past.pk}-resolve"))
    assert response.status_code == 200 and "Resolve incident" in body(response)
    assert Incident.objects.get(pk=past.pk).status == "open"


def test_feedback_is_stored_audited_and_applied_by_the_task(alice, seeded, django_capture_on_commit_callbacks):
    url = reverse("incidents:feedback", args=[seeded.main.number])
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(url, {"verdict": "partial", "correct_service": "payments", "comment": "the deploy mattered too"}, **HTMX)
    assert response.status_code == 200
    feedback = Feedback.objects.get(incident=seeded.main)
    assert (feedback.verdict, feedback.correct_service.name, feedback.user) == ("partial", "payments", seeded.users["alice"])
    assert feedback.applied_at is not None  # the django-q2 task ran (tests run tasks inline)
    assert TimelineEvent.objects.filter(incident=seeded.main, kind="feedback").exists()
    # The page says when the update ran, and stops polling.
    poll = alice.get(url, **HTMX)
    assert poll.status_code == 286 and "Model updated" in body(poll)


def test_feedback_pending_keeps_polling(alice, seeded):
    Feedback.objects.create(incident=seeded.main, verdict="yes")
    response = alice.get(reverse("incidents:feedback", args=[seeded.main.number]), **HTMX)
    html = body(response)
    assert response.status_code == 200 and "Model update queued" in html and 'hx-trigger="every 2s"' in html


def test_feedback_wrong_needs_the_right_service(alice, seeded):
    response = alice.post(reverse("incidents:feedback", args=[seeded.main.number]), {"verdict": "no"}, **HTMX)
    assert response.status_code == 422 and "say which service it really was" in body(response)
    response = alice.post(reverse("incidents:feedback", args=[seeded.main.number]), {"verdict": "partial"}, **HTMX)
    assert response.status_code == 422 and "which other service was involved" in body(response)
    response = alice.post(reverse("incidents:feedback", args=[seeded.main.number]), {"verdict": "maybe"}, **HTMX)
    assert response.status_code == 422
    assert not Feedback.objects.exists()


# --- The pattern library -------------------------------------------------------------------------


def test_pattern_library(alice, seeded):
    page = body(alice.get("/patterns/"))
    pattern = seeded.patterns["db-connection-pool-exhaustion"]
    assert pattern.name in page and "matched 4 incidents" in page
    assert "Curate in the admin" in page  # alice is staff


def test_pattern_library_shows_the_weekly_report_of_discovered_patterns(alice, seeded):
    from django.utils import timezone

    from incidents.models import Pattern

    now = timezone.now()
    for n, (days, state) in enumerate([(1, "proposed"), (3, "accepted"), (5, "rejected"), (9, "accepted"), (60, "accepted")]):
        Pattern.objects.create(slug=f"learned-{n}", name=f"Learned pattern {n}", incident_type="learned", origin=Pattern.Origin.LEARNED,
                               state=state, enabled=state == "accepted", created_at=now - timedelta(days=days),
                               signals={"keywords": ["x"]}, remediation=["y"])
    page = body(alice.get("/patterns/"))
    assert "Discovered patterns: the weekly report" in page
    assert "<strong data-discovered-7d>3</strong> discovered in the last 7 days; 1 waiting for a curator" in page
    rows = re.findall(r'<td data-label="Discovered">(\d+)</td><td data-label="Accepted">(\d+)</td><td data-label="Rejected">(\d+)</td><td data-label="Waiting">(\d+)</td>', page)
    assert rows[:3] == [("3", "1", "1", "1"), ("1", "1", "0", "0"), ("0", "0", "0", "0")]  # the 60-day-old one is out of the report
    assert "Learned pattern 0" in page and reverse("admin:incidents_pattern_change", args=[Pattern.objects.get(slug="learned-0").pk]) in page


def test_pattern_library_empty_state(db, user):
    client = Client()
    client.force_login(user)
    from incidents.models import Pattern

    Pattern.objects.all().delete()
    page = body(client.get("/patterns/"))
    assert "The pattern library is empty" in page and "Curate in the admin" not in page


def test_api_docs_load_swagger_ui_from_our_own_static_files(alice):
    page = body(alice.get("/api/v1/docs?try=1"))  # the reference itself loads no Swagger (cleara/tests/test_apidocs.py)
    assert "/static/ninja/swagger-ui-bundle.js" in page and "/static/ninja/swagger-ui.css" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert alice.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


def test_the_header_offers_quick_actions_on_every_step_and_pushed_parts_have_a_place(alice, seeded):
    open_incident = seeded.quiet if seeded.quiet.status == "open" else seeded.main
    for path in ("", "timeline/", "rca/", "resolve/"):
        page = body(alice.get(f"/incidents/{open_incident.number}/{path}"))
        assert 'data-action="assign-me"' in page and 'data-action="resolve"' in page
        assert f'id="incident-{open_incident.pk}-assign-me"' in page and 'name="assignee" value="alice"' in page
        assert page.count(f'id="incident-{open_incident.pk}-notes"') == 1
    page = body(alice.get(f"/incidents/{open_incident.number}/collaborate/"))
    assert 'class="live-sink"' not in page and page.count(f'id="incident-{open_incident.pk}-notes"') == 1


def test_an_action_on_a_state_changed_meanwhile_says_what_happened_and_who(alice, seeded):
    from incidents import services

    incident = seeded.main
    services.incident_set_status(incident=incident, status="open", by=seeded.users["bob"])
    # alice's page still showed "investigating" when she pressed a button.
    response = alice.post(reverse("incidents:status", args=[incident.number]), {"status": "resolved", "seen": "investigating"}, **HTMX)
    html = body(response)
    assert response.status_code == 422 and "Nothing changed: bob changed this" in html and "it is open now" in html
    assert Incident.objects.get(pk=incident.pk).status == "open"
    # The controls answered are the current ones.
    assert 'name="seen" value="open"' in html and "Start investigating" in html
    services.incident_assign(incident=incident, assignee=seeded.users["carol"], by=seeded.users["bob"])
    response = alice.post(reverse("incidents:assign", args=[incident.number]), {"assignee": "alice", "seen": ""}, **HTMX)
    assert response.status_code == 422 and "it is assigned to carol now" in body(response)
    assert Incident.objects.get(pk=incident.pk).assignee.username == "carol"
    response = alice.post(reverse("incidents:assign", args=[incident.number]), {"assignee": "alice", "seen": "carol"}, **HTMX)
    assert response.status_code == 200 and Incident.objects.get(pk=incident.pk).assignee.username == "alice"


def test_the_headers_quick_actions_know_their_viewer_and_answer_in_the_notice(alice, seeded):
    from incidents import services

    incident = seeded.quiet  # open, nobody assigned
    me = seeded.users["alice"]
    page = body(alice.get(f"/incidents/{incident.number}/rca/"))
    # The header is the same for everyone (it is pushed); the page's own rule says which viewer is "you".
    assert f'.incident-header[data-assignee="{me.pk}"] [data-unless-mine]' in page
    assert 'data-assignee=""' in page and re.search(r'name="seen" value=""[^>]*data-action="assign-me"', page)
    assert f'id="incident-{incident.pk}-quick-notice" class="field-error quick-notice" role="alert" hidden' in page
    notice = htmx(f"incident-{incident.pk}-quick-notice")

    services.incident_assign(incident=incident, assignee=seeded.users["carol"], by=seeded.users["bob"])
    response = alice.post(reverse("incidents:assign", args=[incident.number]), {"assignee": "alice", "seen": ""}, **notice)
    html = body(response)
    assert response.status_code == 422
    assert re.search(rf'id="incident-{incident.pk}-quick-notice"[^>]*role="alert">Nothing changed: bob changed this .* it is assigned to carol now', html)
    assert f'data-assignee="{seeded.users["carol"].pk}" hx-swap-oob="true"' in html  # the current header, out of band
    assert Incident.objects.get(pk=incident.pk).assignee == seeded.users["carol"]

    response = alice.post(reverse("incidents:status", args=[incident.number]), {"status": "investigating", "seen": "open"}, **notice)
    html = body(response)
    assert response.status_code == 200 and f'id="incident-{incident.pk}-quick-notice" class="field-error quick-notice" role="alert" hidden' in html
    assert 'data-incident-status="investigating"' in html and 'data-action="acknowledge"' not in html
    response = alice.post(reverse("incidents:status", args=[incident.number]), {"status": "investigating", "seen": "open"}, **notice)
    assert response.status_code == 422 and "it is investigating now" in body(response)
    response = alice.post(reverse("incidents:assign", args=[incident.number]), {"assignee": "alice", "seen": "carol"}, **notice)
    assert response.status_code == 200 and f'data-assignee="{me.pk}"' in body(response)


def test_resolving_an_incident_someone_closed_meanwhile_keeps_their_notes_and_says_who(alice, seeded):
    from incidents import services

    incident = seeded.quiet
    services.incident_resolve(incident=incident, by=seeded.users["bob"], notes="Restarted the consumer; lag gone.")
    response = alice.post(reverse("incidents:resolve", args=[incident.number]), {"notes": "Scaled the consumers.", "seen": "open"},
                          **htmx(f"incident-{incident.pk}-resolve"))
    html = body(response)
    assert response.status_code == 422 and "Nothing changed: bob changed this" in html and "it is resolved now" in html
    assert "Restarted the consumer" in html and 'name="seen" value="resolved"' in html  # the closed panel, with Reopen
    assert Incident.objects.get(pk=incident.pk).resolution_notes == "Restarted the consumer; lag gone."


def test_template_comments_are_single_line_or_comment_blocks():
    """Django's {# #} comments end at the line: a multi-line one is printed on the page."""
    from pathlib import Path

    root = Path(settings.BASE_DIR) / "templates"
    multiline = [f"{path.relative_to(root)}:{n}" for path in root.rglob("*.html")
                 for n, line in enumerate(path.read_text().splitlines(), start=1) if "{#" in line and "#}" not in line.split("{#", 1)[1]]
    assert multiline == []
