"""Pattern learning in the product: templates stored at ingest, /api/v1/ml/ endpoints (with bad
input), similar incidents, proposed patterns, the risk forecast, classifier versions from feedback."""
from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from correlation import insights, text_training
from correlation.models import ModelVersion
from incidents.models import Event, Incident, LogTemplate, Pattern

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def logs(n_users: int = 6) -> list[dict]:
    out = []
    for i in range(n_users):
        out.append({"id": f"log-{i}", "timestamp": (T0 + timedelta(seconds=i)).isoformat(), "service": "users", "type": "log",
                    "severity": "info", "message": f"session opened for user u{chr(97 + i)}x by (uid={1000 + i})"})
    out.append({"id": "log-x", "timestamp": T0.isoformat(), "service": "users", "type": "log", "severity": "warning",
                "message": "GC pause 412ms"})
    return out


@time_machine.travel(T0 + timedelta(hours=1), tick=True)  # the logs are dated T0: inside the ingest window
def test_ingest_stores_each_logs_template_and_parameters(api, settings):
    settings.CORRELATION_INLINE = True
    r = api.post("/api/v1/events", logs())
    assert r.status_code == 202, r.content
    events = {e.client_id: e for e in Event.objects.filter(type="log").select_related("template")}
    gc = events["log-x"]
    assert gc.template.text == "GC pause <*>" and gc.template_params == ["412ms"]
    # The user name became a parameter once enough names were seen; the first events follow the merge.
    live = {events[f"log-{i}"].template.live() for i in range(6)}
    assert len(live) == 1
    template = live.pop()
    assert template.text == "session opened for user <*> by (uid=<*>)"
    assert events["log-5"].template_params == ["ufx", "1005"]
    r = api.get("/api/v1/ml/templates", q="session")
    assert r.status_code == 200
    assert [t["template"] for t in r.json()["templates"]] == ["session opened for user <*> by (uid=<*>)"]


def test_templates_endpoint_refuses_a_bad_limit(api):
    assert api.get("/api/v1/ml/templates", limit=0).status_code == 400
    assert api.get("/api/v1/ml/templates", limit="many").status_code == 400


def test_classify_a_posted_text_and_refuse_empty_or_oversized(api):
    r = api.post("/api/v1/ml/classify", {"text": "FATAL: sorry, too many clients already"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["types"][0]["type"] == "database" and body["model"]["kind"] == text_training.KIND
    assert api.post("/api/v1/ml/classify", {"text": "   "}).status_code == 400
    assert api.post("/api/v1/ml/classify", {}).status_code == 400
    big = api.post("/api/v1/ml/classify", {"text": "x" * 20_001})
    assert big.status_code == 413 and "20000" in big.json()["detail"]


def test_similar_incidents_with_scores_and_reasons_and_unknown_ids(api, make_incident):
    now = make_incident(services=["postgres", "checkout"], incident_type="database")
    before = make_incident(services=["postgres", "checkout"], incident_type="database", status=Incident.Status.RESOLVED,
                           resolved_at=now.started_at - timedelta(hours=1), started_at=now.started_at - timedelta(hours=2))
    make_incident(services=["search"], incident_type="resource")
    r = api.get(f"/api/v1/ml/incidents/{now.pk}/similar")
    assert r.status_code == 200, r.content
    similar = r.json()["similar"]
    assert similar[0]["id"] == before.pk and similar[0]["score"] > 0.7
    assert "same root cause: postgres" in similar[0]["reasons"]
    assert r.json()["estimate"]["minutes"] == 60
    assert api.get("/api/v1/ml/incidents/999999/similar").status_code == 404
    assert api.get(f"/api/v1/ml/incidents/{now.pk}/similar", limit=0).status_code == 400


def test_discovered_patterns_wait_for_curation_and_take_part_once_accepted(api, make_incident):
    for i in range(4):
        incident = make_incident(services=["ci"], incident_type="ci")
        Event.objects.create(timestamp=T0, service=incident.services.first(), type="alert", severity="critical", incident=incident,
                             message=f"license server unreachable: seat checkout refused for build agent {i}")
    created = insights.patterns_discover()
    assert len(created) == 1
    pattern = created[0]
    assert pattern.origin == Pattern.Origin.LEARNED and pattern.state == Pattern.State.PROPOSED and not pattern.enabled
    assert insights.patterns_discover() == []  # proposed once
    body = api.get("/api/v1/ml/patterns/proposed").json()
    assert body["discovered_last_7_days"] == 1 and body["patterns"][0]["slug"] == pattern.slug
    from correlation.loading import patterns_load

    assert pattern.slug not in {p.slug for p in patterns_load()}
    Pattern.objects.filter(pk=pattern.pk).update(state=Pattern.State.ACCEPTED, enabled=True)
    assert pattern.slug in {p.slug for p in patterns_load()}


def test_forecast_ranks_services_and_refuses_a_bad_horizon(api, make_incident):
    r = api.get("/api/v1/ml/forecast")
    assert r.status_code == 200
    assert {"horizon_hours", "services", "trained"} <= set(r.json())
    assert api.get("/api/v1/ml/forecast", horizon=0).status_code == 400
    assert api.get("/api/v1/ml/forecast", horizon=100).status_code == 400


def test_retraining_the_type_classifier_is_a_new_version_with_before_and_after(make_incident):
    first = text_training.type_classifier_train()
    for i in range(3):
        incident = make_incident(services=["web"], status=Incident.Status.RESOLVED, incident_type="feature-flag",
                                 resolved_at=T0 + timedelta(hours=i))
        Event.objects.create(timestamp=T0, service=incident.services.first(), type="alert", severity="critical", incident=incident,
                             message=f"feature flag rollout-{i} turned on for all users, checkout errors rising")
    second = text_training.type_classifier_train(reason="feedback")
    assert second.version == first.version + 1 and second.active
    assert not ModelVersion.objects.get(pk=first.pk).active
    assert "feature-flag" in second.metrics["labels"]
    assert set(second.metrics["before"]) == set(second.metrics["after"]) == {"incidents_macro_f1", "simulated_macro_f1"}
    types, _ = text_training.text_classify("feature flag dark-mode turned on for all users")
    assert types[0][0] == "feature-flag"


def test_log_template_live_follows_merges():
    a = LogTemplate.objects.create(pk=1, text="x <*>", size=3)
    b = LogTemplate.objects.create(pk=2, text="y", size=1, merged_into=a)
    assert b.live() == a and a.live() == a


def test_typed_feedback_retrains_the_type_classifier_as_a_new_version(seeded, django_capture_on_commit_callbacks):
    from incidents.services import feedback_record

    Incident.objects.filter(pk=seeded.main.pk).update(incident_type="database")
    seeded.main.refresh_from_db()
    from django_q.models import Schedule

    from correlation.tasks import retrain_type_classifier

    with django_capture_on_commit_callbacks(execute=True):
        feedback_record(incident=seeded.main, user=None, verdict="yes")
        feedback_record(incident=seeded.main, user=None, verdict="partial")
    planned = Schedule.objects.get(name="correlation: incident-type retrain after feedback")  # one for the burst
    assert planned.func == "correlation.tasks.retrain_type_classifier" and planned.schedule_type == Schedule.ONCE
    retrain_type_classifier(ast.literal_eval(planned.args))  # what the worker runs when it is due
    version = ModelVersion.objects.get(kind=text_training.KIND, active=True)
    assert version.notes.startswith("feedback") and "after" in version.metrics


def test_dashboard_shows_the_root_cause_hit_rate_and_loads_the_forecast_panel(seeded, logged_in_client):
    from incidents.models import Feedback

    Feedback.objects.create(incident=seeded.main, verdict="yes")
    Feedback.objects.create(incident=seeded.main, verdict="partial")
    page = logged_in_client.get("/", {"range": "30d"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="dashboard-stats")
    html = page.content.decode()
    assert 'data-stat="rca-hit-rate">75%' in html and "feedback on 2 incidents" in html
    assert 'hx-get="/forecast/"' in logged_in_client.get("/").content.decode()
    panel = logged_in_client.get("/forecast/")
    assert panel.status_code == 200
    names = {s.name for s in seeded.services.values()}
    shown = panel.content.decode()
    assert "Risk, next 2 h" in shown and sum(name in shown for name in names) >= 3
