"""Online correlation through the real ingest pipeline: what opens an incident, what joins it, what does not."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from incidents import hooks
from incidents.ingest import batch_validate
from incidents.models import Event, Incident, TimelineEvent
from incidents.pipeline import events_ingest
from incidents.topology import topology_apply

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TOPOLOGY = {
    "frontend": ["api-gateway"],
    "api-gateway": ["checkout", "search", "users"],
    "checkout": ["payments", "inventory", "postgres"],
    "payments": ["postgres", "payment-provider"],
    "inventory": ["postgres"],
    "users": ["postgres"],
    "search": ["elasticsearch"],
    "notifications": ["kafka"],
    "postgres": [],
    "elasticsearch": [],
    "kafka": [],
    "payment-provider": [],
}
TIERS = {"postgres": "database", "elasticsearch": "search", "kafka": "queue", "payment-provider": "external"}

_counter = {"n": 0}


def ev(service: str, minute: float, *, type: str = "alert", severity: str = "warning", message: str = "", **kw) -> dict:
    _counter["n"] += 1
    data = {
        "id": kw.pop("id", f"t-{_counter['n']}"),
        "timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
        "service": service,
        "type": type,
        "severity": severity,
        "message": message or f"{service} {type} {severity}",
    }
    data.update(kw)
    return data


def ingest(*events: dict):
    return events_ingest(events=batch_validate(list(events)), correlate=True)


def topology_load_for_tests() -> None:
    topology_apply(services=[{"name": n, "tier": TIERS.get(n, "backend"), "depends_on": d} for n, d in TOPOLOGY.items()])


@pytest.fixture
def topology(db):
    topology_load_for_tests()


@pytest.fixture
def changes():
    seen: list[hooks.IncidentChange] = []
    hooks.subscribe(seen.append)
    yield seen
    hooks._listeners.remove(seen.append)


def cascade(start: float = 0.0) -> list[dict]:
    """postgres runs out of connections; its callers fail a little later."""
    return [
        ev("postgres", start + 0.0, severity="critical", message="remaining connection slots are reserved (too many connections)"),
        ev("postgres", start + 0.2, type="log", severity="critical", message="FATAL: sorry, too many clients already"),
        ev("inventory", start + 1.0, message="inventory error rate above 5%"),
        ev("inventory", start + 0.8, type="log", severity="critical", message="could not obtain connection from pool within 5000ms"),
        ev("checkout", start + 2.0, message="checkout p99 latency above 2s"),
        ev("payments", start + 1.5, message="payments error rate above 5%"),
        ev("api-gateway", start + 3.0, message="api-gateway 5xx rate above 2%"),
    ]


def test_a_cascade_is_one_incident_with_its_root_cause(topology, changes):
    result = ingest(*cascade())
    assert len(result.incident_ids) == 1
    incident = Incident.objects.get()
    assert incident.root_cause_service.name == "postgres"
    assert incident.pattern.slug == "db-connection-pool-exhaustion"
    assert incident.severity == "critical"
    assert incident.started_at == T0
    assert sorted(s.name for s in incident.services.all()) == ["api-gateway", "checkout", "inventory", "payments", "postgres"]
    assert incident.event_count == 7 and incident.alert_count == 5
    assert incident.grouping_key.startswith("corr:postgres:")
    assert 0.5 < incident.confidence <= 1.0
    top = incident.hypotheses[0]
    assert top["service"] == "postgres" and top["reasons"] and top["evidence"]
    assert {"event", "client_id", "weight"} <= set(top["evidence"][0])
    assert Event.objects.filter(incident=incident).count() == 7
    assert TimelineEvent.objects.filter(incident=incident, kind=TimelineEvent.Kind.OPENED).count() == 1
    assert [(c.incident_id, c.kind) for c in changes] == [(incident.pk, "opened")]


def test_an_isolated_warning_and_a_flapping_warning_open_nothing(topology):
    ingest(ev("search", 0, message="search p99 latency above 500ms"))
    flaps = []
    for i in range(8):
        flaps.append(ev("notifications", 5 + i * 7, message="disk usage above 80% on notifications-1", fingerprint="disk-notif"))
        flaps.append(ev("notifications", 8 + i * 7, severity="info", message="RESOLVED: disk usage above 80%",
                        fingerprint="disk-notif", attributes={"alert_status": "resolved"}))
    ingest(*flaps[:6])
    ingest(*flaps[6:])
    assert Incident.objects.count() == 0
    assert Event.objects.filter(incident__isnull=False).count() == 0


def test_resolved_alerts_never_open_incidents(topology):
    ingest(*[
        ev("postgres", i, severity="critical", message="primary down", attributes={"alert_status": "resolved"})
        for i in range(3)
    ])
    assert Incident.objects.count() == 0


def test_a_resolution_rejoins_the_incident_of_its_alert(topology):
    ingest(ev("payments", 0, severity="critical", message="payments down", fingerprint="am:PaymentsDown:1"))
    incident = Incident.objects.get()
    # Resolved two hours later: long after the incident went quiet, but it is the same alert.
    ingest(ev("payments", 120, severity="info", message="RESOLVED: payments down", fingerprint="am:PaymentsDown:1",
              attributes={"alert_status": "resolved"}))
    assert Incident.objects.count() == 1
    incident.refresh_from_db()
    assert incident.alert_count == 2


def test_warnings_from_several_fingerprints_pile_up_into_an_incident(topology):
    ingest(ev("checkout", 0, message="checkout p99 latency above 2s"))
    assert Incident.objects.count() == 0
    ingest(ev("payments", 1, message="payments error rate above 5%"))
    assert Incident.objects.count() == 0
    ingest(ev("inventory", 2, message="inventory error rate above 5%"))
    incident = Incident.objects.get()
    assert incident.alert_count == 3 and incident.severity == "warning"
    assert incident.started_at == T0


def test_late_and_out_of_order_events_join_by_event_time(topology, changes):
    # The callers' alerts arrive first; the root's alert, two minutes older, arrives in a later batch.
    ingest(
        ev("checkout", 2, severity="critical", message="checkout p99 latency above 2s"),
        ev("api-gateway", 3, message="api-gateway 5xx rate above 2%"),
    )
    incident = Incident.objects.get()
    assert incident.root_cause_service.name == "checkout"
    ingest(
        ev("postgres", 0, severity="critical", message="remaining connection slots are reserved"),
        ev("inventory", 1, message="could not obtain connection from pool"),
        ev("payments", 1.5, message="payments error rate above 5%"),
    )
    incident = Incident.objects.get()
    assert incident.started_at == T0
    assert incident.root_cause_service.name == "postgres"
    change = TimelineEvent.objects.get(incident=incident, kind=TimelineEvent.Kind.ROOT_CAUSE)
    assert (change.from_value, change.to_value) == ("checkout", "postgres")
    assert [c.kind for c in changes] == ["opened", "root_cause"]


def test_simultaneous_faults_on_unrelated_services_are_separate_incidents(topology):
    ingest(
        *cascade(),
        ev("elasticsearch", 0.5, severity="critical", message="elasticsearch cluster status red"),
        ev("search", 1.5, message="search p99 latency above 500ms"),
        ev("kafka", 1.0, severity="critical", message="kafka under-replicated partitions"),
        ev("notifications", 2.0, message="notifications consumer lag above 10000"),
    )
    incidents = {i.root_cause_service.name: sorted(s.name for s in i.services.all()) for i in Incident.objects.all()}
    assert incidents == {
        "postgres": ["api-gateway", "checkout", "inventory", "payments", "postgres"],
        "elasticsearch": ["elasticsearch", "search"],
        "kafka": ["kafka", "notifications"],
    }


def test_re_ingesting_the_same_events_changes_nothing(topology, changes):
    batch = cascade()
    ingest(*batch)
    first = Incident.objects.get()
    again = ingest(*batch)
    assert again.accepted == 0 and again.duplicates == len(batch) and again.incident_ids == []
    assert Incident.objects.get().event_count == first.event_count
    assert len(changes) == 1


def test_a_quiet_incident_stops_accepting_and_a_later_burst_opens_a_new_one(topology):
    ingest(*cascade(0))
    ingest(*cascade(90))
    incidents = list(Incident.objects.order_by("number"))
    assert len(incidents) == 2
    assert incidents[0].number + 1 == incidents[1].number
    assert incidents[0].grouping_key != incidents[1].grouping_key
    assert incidents[0].last_event_at < incidents[1].started_at


def test_evidence_logs_join_but_info_logs_metrics_and_unrelated_logs_do_not(topology):
    ingest(
        ev("checkout", -3, type="log", severity="critical", message="TimeoutError talking to payments"),
        ev("checkout", -2.5, type="log", severity="info", message="GET /cart 200"),
        ev("checkout", -2, type="metric", severity="info", metric="latency_p99_ms", value=2400.0, message=""),
        ev("search", -2, type="log", severity="critical", message="shard failure"),
    )
    ingest(ev("payments", 0, severity="critical", message="payments error rate above 20%"))
    ingest(ev("checkout", 5, type="log", severity="warning", message="retrying payment call"),
           ev("payments", 40, type="log", severity="critical", message="a later unrelated error"))
    incident = Incident.objects.get()
    messages = sorted(Event.objects.filter(incident=incident).values_list("message", flat=True))
    assert messages == ["TimeoutError talking to payments", "payments error rate above 20%", "retrying payment call"]
    assert incident.started_at == T0 - timedelta(minutes=3)


def test_a_later_critical_alert_raises_the_severity(topology, changes):
    ingest(ev("checkout", 0, message="a"), ev("payments", 0.5, message="b"), ev("inventory", 1, message="c"))
    ingest(ev("inventory", 2, severity="critical", message="inventory down"))
    incident = Incident.objects.get()
    assert incident.severity == "critical"
    assert TimelineEvent.objects.filter(incident=incident, kind=TimelineEvent.Kind.SEVERITY, to_value="critical").exists()
    assert "severity" in [c.kind for c in changes]


def test_a_resolved_incident_is_not_reused(topology):
    from incidents.services import incident_resolve

    ingest(*cascade(0))
    incident_resolve(incident=Incident.objects.get(), notes="pool size raised")
    ingest(ev("checkout", 4, severity="critical", message="checkout p99 latency above 2s"))
    assert Incident.objects.count() == 2
    assert Incident.objects.filter(status="open").count() == 1


def test_anomalies_corroborate_alerts_but_open_nothing_alone(topology):
    from correlation.writing import events_correlate
    from incidents.ingest import EventIn, events_store

    def anomalies(*specs):
        stored = events_store(events=[
            EventIn(timestamp=T0 + timedelta(minutes=minute), service=service, type="anomaly", severity=severity,
                    message=f"Anomalous {metric} on {service}", metric=metric, value=1.0)
            for service, minute, severity, metric in specs
        ], source=Event.Source.DETECTOR).events
        return stored, events_correlate(events=stored)

    _, changed = anomalies(("search", 0, "critical", "latency_p99_ms"))
    assert changed == [] and Incident.objects.count() == 0

    ingest(*cascade(10))
    incident = Incident.objects.get()
    stored, changed = anomalies(("checkout", 11, "warning", "error_rate"))
    assert changed == [incident.pk] and Event.objects.get(pk=stored[0].pk).incident_id == incident.pk

    # Anomalies alone, however many, open nothing; with two warnings on the same branch they do.
    anomalies(("elasticsearch", 60, "critical", "disk_used_pct"), ("search", 61, "critical", "latency_p99_ms"),
              ("search", 61.5, "critical", "error_rate"), ("elasticsearch", 61.5, "warning", "latency_p99_ms"))
    assert Incident.objects.count() == 1
    ingest(ev("search", 62, message="search p99 latency above 800ms"), ev("elasticsearch", 62.5, message="elasticsearch heap above 90%"))
    second = Incident.objects.exclude(pk=incident.pk).get()
    assert second.root_cause_service.name == "elasticsearch"
    assert second.events.filter(type="anomaly").count() == 4 and second.alert_count == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_correlate_one_after_the_other():
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers by itself; the advisory lock is PostgreSQL's")
    topology_load_for_tests()
    for round_ in range(4):
        start = round_ * 120
        parts = [
            [ev("postgres", start, severity="critical", message="too many connections"), ev("inventory", start + 1, message="inventory errors")],
            [ev("checkout", start + 1.5, severity="critical", message="checkout errors"), ev("payments", start + 1, message="payments errors")],
        ]
        barrier = threading.Barrier(2)
        failures = []

        def send(part):
            try:
                barrier.wait()
                ingest(*part)
            except Exception as exc:  # reported below: an assertion in a thread would be lost
                failures.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=send, args=(p,)) for p in parts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures
        assert Incident.objects.count() == round_ + 1, f"round {round_}: the two halves of one cascade opened two incidents"
        assert Incident.objects.order_by("-number").first().alert_count == 4


def test_a_new_origin_behind_a_shared_gateway_opens_its_own_incident_and_the_split_is_in_the_timeline(topology):
    # elasticsearch fails (search and the gateway alert); while the gateway still alerts, kafka fails.
    ingest(
        ev("elasticsearch", 0, severity="critical", message="elasticsearch cluster status red"),
        ev("search", 1, severity="critical", message="search 5xx rate above 5%"),
        ev("api-gateway", 2, severity="critical", message="api-gateway 5xx rate above 2%"),
    )
    first = Incident.objects.get()
    ingest(
        ev("kafka", 5, severity="critical", message="kafka under-replicated partitions"),
        ev("notifications", 6, message="notifications consumer lag above 10000"),
    )
    second = Incident.objects.exclude(pk=first.pk).get()
    assert second.root_cause_service.name == "kafka"
    assert sorted(s.name for s in second.services.all()) == ["kafka", "notifications"]
    opened = TimelineEvent.objects.get(incident=second, kind=TimelineEvent.Kind.OPENED)
    assert f"Kept apart from #{first.number}" in opened.message
    assert "Kept apart" not in TimelineEvent.objects.get(incident=first, kind=TimelineEvent.Kind.OPENED).message


def test_a_caller_failing_later_with_errors_of_its_own_is_split_off_and_both_timelines_say_so(topology, changes):
    # postgres fails and inventory says so; eight minutes on, users (which calls postgres too)
    # fails with errors that name nothing it calls: a bad deploy of its own.
    ingest(
        *[ev("postgres", 0.1 * k, type="log", severity="critical", message="could not write to file pg_wal: no space left") for k in range(3)],
        ev("postgres", 0, severity="critical", message="postgres disk full"),
        *[ev("inventory", 0.5 + 0.1 * k, type="log", severity="critical", message="timeout calling postgres") for k in range(3)],
        ev("inventory", 1, message="inventory latency high"),
    )
    first = Incident.objects.get()
    changes.clear()
    ingest(
        *[ev("users", 7.5 + 0.1 * k, type="log", severity="critical", message="TypeError: cannot read 'id' of undefined") for k in range(3)],
        ev("users", 8, severity="critical", message="users 5xx rate above 5%"),
    )
    split = Incident.objects.exclude(pk=first.pk).get()
    assert split.root_cause_service.name == "users"
    assert f"Split from #{first.number}: users" in TimelineEvent.objects.get(incident=split, kind=TimelineEvent.Kind.OPENED).message
    note = TimelineEvent.objects.get(incident=first, kind=TimelineEvent.Kind.NOTE)
    assert note.to_value == f"#{split.number}" and "users" in note.message
    assert {(c.incident_id, c.kind) for c in changes} >= {(split.pk, "opened"), (first.pk, "split")}


def test_a_shared_callers_alert_naming_an_unrelated_failing_dependency_is_split_off_and_both_timelines_say_so(topology, changes):
    # postgres fails and inventory says so; a minute on, the payment provider (which postgres neither
    # calls nor is called by) stops answering: payments, which calls postgres too, alerts naming it.
    ingest(
        ev("postgres", 0, severity="critical", message="postgres disk full"),
        *[ev("inventory", 0.3 + 0.1 * k, type="log", severity="critical", message="timeout calling postgres") for k in range(3)],
        ev("inventory", 0.5, severity="critical", message="HTTP5xxRateHigh on inventory: calls to postgres failing"),
    )
    first = Incident.objects.get()
    changes.clear()
    ingest(
        *[ev("payments", 1.2 + 0.1 * k, type="log", severity="critical", message="timeout calling payment-provider") for k in range(3)],
        ev("payments", 1.5, severity="critical", message="HTTP5xxRateHigh on payments: calls to payment-provider failing"),
    )
    split = Incident.objects.exclude(pk=first.pk).get()
    assert split.root_cause_service.name in ("payment-provider", "payments")
    assert sorted(s.name for s in first.services.all()) == ["inventory", "postgres"]
    opened = TimelineEvent.objects.get(incident=split, kind=TimelineEvent.Kind.OPENED).message
    assert f"Split from #{first.number}: payment-provider, in trouble from 09:01:12 UTC" in opened
    note = TimelineEvent.objects.get(incident=first, kind=TimelineEvent.Kind.NOTE)
    assert note.to_value == f"#{split.number}" and "payment-provider" in note.message and "neither calls nor is called by" in note.message
    assert {(c.incident_id, c.kind) for c in changes} >= {(split.pk, "opened"), (first.pk, "split")}


def test_kinds_of_error_line_a_service_never_logged_before_are_evidence_and_name_a_silent_dependency(topology):
    # The day before: payments logs requests, and a stray error now and then.
    ingest(
        ev("payments", -600, type="log", severity="info", message="request completed in 12ms"),
        ev("payments", -120, type="log", severity="critical", message="unexpected EOF from client"),
    )
    # The payment provider (a third party: it sends nothing) goes down; payments says so in a new kind of line.
    refused = [ev("payments", 0.5 + 0.1 * k, type="log", severity="critical",
                  message=f"dial tcp 10.0.3.{k}:443: connect: connection refused (payment-provider)") for k in range(4)]
    ingest(
        ev("payments", 1.0, severity="critical", message="payments error rate above 5%"),
        ev("checkout", 2.0, message="checkout p99 latency above 2s"),
        ev("payments", 1.2, type="log", severity="critical", message="unexpected EOF from client"),
        *refused,
    )
    incident = Incident.objects.get()
    by_service = {h.service: h for h in incident.analysis}
    payments = dict(by_service["payments"].features)
    assert payments["new_templates"] == round(1 / 3, 4)  # the refused line; the EOF line is old news
    assert payments["new_onset"] == 1.0  # the first new kind of line of the incident
    assert any("never logged before" in r for r in by_service["payments"].reasons)
    first_refused = Event.objects.get(client_id=refused[0]["id"])
    assert first_refused.pk in {e.event for e in by_service["payments"].evidence}
    provider = dict(by_service["payment-provider"].features)
    assert provider["silent"] == 1.0 and provider["new_named"] == 1.0
    assert any("new kinds of error line of 1 caller" in r for r in by_service["payment-provider"].reasons)
    assert dict(by_service["checkout"].features)["new_templates"] == 0.0
