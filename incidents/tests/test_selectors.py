"""The console's reads, on seeded data."""
from __future__ import annotations

import importlib

from datetime import timedelta

from incidents import screens, selectors
from incidents.models import Event, Incident


def test_existing_selectors_keep_their_shape(seeded):
    stats = selectors.stats_for_range(since=seeded.now - timedelta(hours=1), until=None)
    assert stats["incidents"] >= 2 and stats["alerts"] > 0 and 0 <= stats["noise_reduction"] <= 1
    assert selectors.incident_to_api(seeded.main)["root_cause_candidates"][0] == "payments-db"


def test_incident_list_for_console_prefetches_services(seeded, django_assert_num_queries):
    rows = list(selectors.incident_list_for_console(filters=selectors.IncidentFilters(severity=["critical"])))
    with django_assert_num_queries(0):
        names = [[s.name for s in i.services.all()] for i in rows]
    assert all(names)


def test_stats_trend_buckets_by_span(seeded):
    hourly = selectors.stats_trend(since=seeded.now - timedelta(hours=24), until=None, now=seeded.now)
    assert hourly["unit"] == "hour" and sum(hourly["alerts"]) == Event.objects.filter(type="alert", timestamp__gte=seeded.now - timedelta(hours=24)).count()
    daily = selectors.stats_trend(since=None, until=None, now=seeded.now)
    assert daily["unit"] == "day" and sum(daily["incidents"]) == Incident.objects.count()
    assert selectors.stats_trend(since=seeded.now - timedelta(hours=1), until=None, now=seeded.now)["unit"] == "minute"


def test_related_incidents(seeded):
    related = selectors.incident_related(incident=seeded.main)
    history = set(seeded.history[:3])
    assert history <= set(related["same_pattern"])
    assert history <= set(related["similar_signature"])  # their alerts share a fingerprint
    assert seeded.main not in related["same_services"] and related["same_services"]
    assert seeded.memory not in related["same_pattern"]


def test_related_incidents_without_pattern_or_alerts(seeded, make_incident):
    lonely = make_incident(services=["kafka"], pattern=None)
    related = selectors.incident_related(incident=lonely)
    assert related["same_pattern"] == [] and related["similar_signature"] == []


def test_timeline_events_filters(seeded):
    events, total = selectors.incident_timeline_events(incident=seeded.main, filters=selectors.TimelineFilters(types=["anomaly"]))
    assert total == len(events) == 4 and {e.type for e in events} == {"anomaly"}
    events, _ = selectors.incident_timeline_events(incident=seeded.main, filters=selectors.TimelineFilters(severities=["critical"], service="payments-db"))
    assert events and all(e.severity == "critical" and e.service.name == "payments-db" for e in events)
    events, _ = selectors.incident_timeline_events(incident=seeded.main, filters=selectors.TimelineFilters(q="TOO MANY"))
    assert events and all("too many" in e.message.lower() for e in events)
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)


def test_timeline_thins_logs_and_metrics_but_keeps_alerts(seeded, monkeypatch):
    monkeypatch.setattr(selectors, "TIMELINE_MAX_POINTS", 60)
    events, total = selectors.incident_timeline_events(incident=seeded.main, filters=selectors.TimelineFilters())
    alerts = seeded.main.events.filter(type__in=["alert", "anomaly"]).count()
    assert total == selectors.incident_timeline_scope(incident=seeded.main).count() > 60
    assert len(events) <= 60 and sum(e.type in ("alert", "anomaly") for e in events) == alerts


def test_rca_evidence_weights_and_alternatives(seeded):
    rca = screens.incident_rca(incident=seeded.main)
    assert rca["top"].service == "payments-db" and rca["pattern"].slug == "db-connection-pool-exhaustion"
    assert rca["show_alternatives"] and [a["service"] for a in rca["alternatives"]] == ["payments", "checkout", "stripe-proxy"]
    assert rca["alternatives"][0]["pattern"].slug == "bad-deploy"
    weights = [e["weight"] for e in rca["evidence"]]
    assert abs(sum(weights) - 1) < 1e-9 and weights == sorted(weights, reverse=True)
    # Critical alerts outweigh warning logs.
    top = rca["evidence"][0]["event"]
    assert top.type == "alert" and top.severity == "critical"
    assert not screens.incident_rca(incident=seeded.memory)["show_alternatives"]


def test_rca_accepts_explicit_weights_and_skips_events_gone(seeded):
    a, b = seeded.main.events.filter(type="alert")[:2]
    seeded.main.hypotheses = [{"service": "payments-db", "score": 0.7, "evidence": [
        {"event": a.pk, "weight": 3}, {"event": b.pk, "client_id": "evt-b", "weight": 1}, {"event": 10**9}]}]
    rca = screens.incident_rca(incident=seeded.main)
    assert [(e["event"].pk, e["weight"]) for e in rca["evidence"]] == [(a.pk, 0.75), (b.pk, 0.25)]


def test_stored_hypotheses_of_every_older_shape_are_rewritten_to_the_one_shape(seeded):
    """Migration incidents 0005: bare ids, client ids and id/pk keys become {"event", "client_id", "weight"}."""
    from django.apps import apps

    migration = importlib.import_module("incidents.migrations.0005_hypotheses_one_shape")
    a, b, c = seeded.main.events.filter(type="alert")[:3]
    Event.objects.filter(pk=b.pk).update(client_id="evt-b")
    Incident.objects.filter(pk=seeded.main.pk).update(hypotheses=[
        {"service": "payments-db", "evidence": [a.pk, "evt-b", {"id": c.pk, "weight": 2}, "evt-gone"]},
        {"service": "payments", "score": 0.2, "pattern": "bad-deploy", "reasons": ["deployed"], "evidence": [{"pk": a.pk}]},
        {"no": "service"},
    ])
    migration.forwards(apps, None)
    seeded.main.refresh_from_db()
    assert seeded.main.hypotheses == [
        {"service": "payments-db", "score": 0.0, "pattern": None, "reasons": [], "evidence": [
            {"event": a.pk, "client_id": a.client_id, "weight": None}, {"event": b.pk, "client_id": "evt-b", "weight": None},
            {"event": c.pk, "client_id": c.client_id, "weight": 2.0}]},
        {"service": "payments", "score": 0.2, "pattern": "bad-deploy", "reasons": ["deployed"], "evidence": [
            {"event": a.pk, "client_id": a.client_id, "weight": None}]},
    ]
    assert [h.service for h in seeded.main.analysis] == ["payments-db", "payments"]


def test_service_map_roles_health_and_cascade(seeded):
    graph = screens.incident_service_map(incident=seeded.main, now=seeded.now)
    by_name = {n["name"]: n for n in graph["nodes"]}
    assert by_name["payments-db"]["role"] == "root_cause" and graph["nodes"][0]["name"] == "payments-db"
    assert by_name["checkout"]["role"] == "affected" and by_name["cart"]["role"] == "neighbour"
    assert by_name["payments-db"]["health"]["status"] == "critical"
    assert by_name["web-frontend"]["health"]["status"] == "degraded"
    assert by_name["fraud-check"]["health"]["status"] == "healthy"
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    cascade = {(e["source"], e["target"]) for e in graph["edges"] if e["cascade"]}
    assert (ids["payments"], ids["payments-db"]) in cascade and (ids["checkout"], ids["cart"]) not in cascade
    assert (ids["checkout"], ids["payments"]) in cascade and (ids["web-frontend"], ids["api-gateway"]) in cascade


def test_service_map_cascade_starts_at_the_root_cause(seeded):
    # api-gateway is affected, and so is catalog now; but catalog does not depend on payments-db,
    # so the failure did not spread through catalog -> the link api-gateway -> catalog is no cascade.
    seeded.main.services.add(seeded.services["catalog"])
    graph = screens.incident_service_map(incident=seeded.main, now=seeded.now)
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    cascade = {(e["source"], e["target"]) for e in graph["edges"] if e["cascade"]}
    assert (ids["api-gateway"], ids["catalog"]) not in cascade
    assert (ids["api-gateway"], ids["checkout"]) in cascade


def test_recommendations_estimate_from_the_most_similar_resolved_incidents(seeded):
    rec = screens.incident_recommendations(incident=seeded.main)
    assert not rec["generic"] and rec["steps"]
    # The three past pool exhaustions of payments-db first (same root cause, pattern, services,
    # alerts); the checkout deploy, which said other things, is not offered (below MIN_SCORE since
    # the weights favour what the systems said: bench/similarity.py); the estimate is their
    # similarity-weighted median.
    assert rec["estimate"]["basis"] == "a similar history (similarity-weighted)" and rec["estimate"]["minutes"] == 50
    assert sorted(s.minutes_to_resolve for s in rec["similar"][:3]) == [35, 50, 80]
    assert all("same root cause: payments-db" in s.similarity_reasons for s in rec["similar"][:3])
    assert len(rec["similar"]) == 3 and all(s.minutes_to_resolve != 25 for s in rec["similar"])
    kinds = [r["kind"] for r in rec["runbooks"]]
    assert kinds[0] == "pattern" and "payments-db" in rec["runbooks"][1]["label"]


def test_recommendations_fall_back_to_severity_then_to_nothing(seeded, make_incident):
    rec = screens.incident_recommendations(incident=seeded.quiet)
    assert rec["generic"] and rec["estimate"] is None
    other = make_incident(severity="critical", services=["kafka"], pattern=None, root_cause_service=None)
    rec = screens.incident_recommendations(incident=other)
    assert rec["estimate"]["basis"].startswith("the same severity") and rec["estimate"]["count"] == 4


def test_logs_search_and_beyond(seeded):
    logs, more = selectors.incident_logs(incident=seeded.main, q="", now=seeded.now)
    assert not more and len(logs) == seeded.main.events.filter(type="log").count()
    assert logs[0].timestamp >= logs[-1].timestamp
    logs, _ = selectors.incident_logs(incident=seeded.main, q="healthz", now=seeded.now)
    assert logs == []
    logs, _ = selectors.incident_logs(incident=seeded.main, q="healthz", beyond=True, now=seeded.now)
    assert logs and all(e.incident_id is None for e in logs)


def test_logs_are_capped(seeded, monkeypatch):
    monkeypatch.setattr(selectors, "LOG_LIMIT", 5)
    logs, more = selectors.incident_logs(incident=seeded.main, now=seeded.now)
    assert len(logs) == 5 and more


def test_metric_series_and_anomalies(seeded, monkeypatch):
    data = selectors.incident_metric_series(incident=seeded.main, now=seeded.now)
    assert {"db_connections_active", "error_rate", "latency_p99_ms"} <= set(data["metrics"])
    assert set(data["metrics"]["error_rate"]) == {"payments", "checkout"}
    assert data["anomalies"]["db_connections_active"][0][1] == 200
    monkeypatch.setattr(selectors, "METRIC_MAX_POINTS_PER_SERIES", 10)
    thin = selectors.incident_metric_series(incident=seeded.main, now=seeded.now)
    assert all(len(points) == 10 for by in thin["metrics"].values() for points in by.values())


def test_alert_history_covers_the_services_past_incidents(seeded):
    alerts = selectors.incident_alert_history(incident=seeded.main, now=seeded.now)
    incidents = {a.incident_id for a in alerts}
    assert seeded.main.pk in incidents and seeded.history[0].pk in incidents
    assert seeded.history[2].pk not in incidents  # 20 days ago: outside the 7 days
    assert all(a.type == "alert" for a in alerts)


def test_audit_trail_notes_feedback_and_types(seeded):
    assert [t.kind for t in selectors.incident_audit_trail(incident=seeded.main)][:2] == ["opened", "status"]
    assert len(selectors.incident_notes(incident=seeded.main)) == 2
    assert selectors.incident_feedback(incident=seeded.main) == []
    from incidents.models import Pattern

    types = set(selectors.incident_types())
    assert {"database", "deploy"} <= types  # the resolved incidents' own
    assert set(Pattern.objects.values_list("incident_type", flat=True)) <= types


def test_pattern_list_counts_incidents(seeded):
    counts = {p.slug: p.incident_count for p in selectors.pattern_list()}
    assert counts["db-connection-pool-exhaustion"] == 4


def test_export_streams_every_event(seeded):
    assert sum(1 for _ in selectors.incident_events_for_export(incident=seeded.main)) == seeded.main.events.count()


def test_the_timeline_shows_the_services_metrics_and_anomalies_around_the_incident(seeded):
    from incidents.selectors import TimelineFilters, incident_timeline_events

    incident = seeded.main
    service = incident.services.first()
    during = incident.started_at + (incident.last_event_at - incident.started_at) / 2
    loose = Event.objects.create(timestamp=during, service=service, type="metric", metric="cpu_percent", value=97.0, severity="info")
    blip = Event.objects.create(timestamp=during, service=service, type="anomaly", metric="cpu_percent", value=97.0, severity="warning",
                                message="cpu_percent = 97 is far outside its usual range")
    long_before = Event.objects.create(timestamp=incident.started_at - timedelta(hours=3), service=service, type="metric", metric="cpu_percent", value=1.0)
    events, _ = incident_timeline_events(incident=incident, filters=TimelineFilters(types=["metric", "anomaly"]))
    ids = {e.pk for e in events}
    assert {loose.pk, blip.pk} <= ids and long_before.pk not in ids
