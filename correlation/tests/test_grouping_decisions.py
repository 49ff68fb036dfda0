"""The engine's decisions on plain values, without a database (correlation.grouping.Correlator):
an in-memory store stands in for correlation.loading.Store. No test here asks for `db`, so any
query would fail the test."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from correlation import rca
from correlation.grouping import Correlator, Item

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class MemoryStore:
    """The events of one batch, pending; no incident open yet."""

    def __init__(self, deps: dict[str, set[str]], items: list[Item]):
        self.topology = rca.Topology(deps, {"db": "database"})
        self.ids = {name: i for i, name in enumerate(sorted(deps), start=1)}
        self.items = items

    def patterns(self):
        return []

    def priors(self):
        return {}

    def corrections(self):
        return []

    def ranker(self):
        return None

    def open_incidents(self, *, since, started_before):
        return []

    def signals(self, *, since, until):
        return [(i.pk, i.ts, i.service, i.type, i.severity, i.fingerprint, i.firing, i.client_id, i.message, i.metric, None)
                for i in sorted(self.items, key=lambda i: (i.ts, i.pk)) if i.is_signal and since <= i.ts <= until]

    def error_log_times(self, *, since, until):
        return {}

    def pending_logs(self, *, services, since, until):
        return []

    def log_templates(self, *, services, since, until):
        return {}

    def attached(self, pks):
        return set()

    def client_ids(self, pks):
        return {i.pk: i.client_id for i in self.items if i.pk in pks}


def alert(pk: int, minute: float, service: str, severity: str = "critical") -> Item:
    return Item(pk=pk, ts=T0 + timedelta(minutes=minute), service=service, type="alert", severity=severity,
                fingerprint=f"{service}:down", firing=True, client_id=f"evt-{pk}", message=f"{service} down")


DEPS = {"web": {"api"}, "api": {"db"}, "db": set(), "mail": set()}


def test_a_cascade_opens_one_incident_rooted_at_its_deepest_service():
    items = [alert(1, 0, "db"), alert(2, 1, "api", "warning"), alert(3, 2, "web", "warning")]
    [decision] = Correlator(items, MemoryStore(DEPS, items)).run()
    assert decision.state.incident is None  # to open
    assert sorted(i.pk for i in decision.state.new) == [1, 2, 3]
    analysis = decision.analysis
    assert analysis.root == "db" and analysis.root_cause_service_id == MemoryStore(DEPS, []).ids["db"]
    assert analysis.severity == "critical" and analysis.alert_count == 3 and analysis.title.startswith("db degraded")
    top = analysis.hypotheses[0]
    assert [(e.event, e.client_id) for e in top.evidence] == [(1, "evt-1")]
    assert sorted(decision.new_services) == sorted(MemoryStore(DEPS, []).ids[s] for s in ("api", "db", "web"))


def test_a_lone_warning_opens_nothing():
    items = [alert(1, 0, "mail", "warning")]
    assert Correlator(items, MemoryStore(DEPS, items)).run() == []


def resolved(pk: int, minute: float, service: str, of: Item) -> Item:
    return Item(pk=pk, ts=T0 + timedelta(minutes=minute), service=service, type="alert", severity=of.severity,
                fingerprint=of.fingerprint, firing=False, client_id=f"evt-{pk}", message=of.message)


def incidents_of(items: list[Item], deps: dict[str, set[str]]) -> list[list[int]]:
    """The events of each incident the engine opens from one batch, in the order opened."""
    return [sorted(i.pk for i in d.state.new) for d in Correlator(items, MemoryStore(deps, items)).run()]


SHOP = {"web": {"api"}, "api": {"orders", "catalog"}, "orders": {"db"}, "catalog": {"db"}, "db": set()}


def test_an_incident_whose_alerts_have_all_resolved_takes_no_new_trouble():
    first = [alert(1, 0, "db"), alert(2, 1, "api")]
    later = alert(5, 9, "api")
    later.fingerprint = "api:latency"
    items = [*first, resolved(3, 4, "db", first[0]), resolved(4, 4.5, "api", first[1]), later]
    assert incidents_of(items, DEPS) == [[1, 2, 3, 4], [5]]


def test_a_shared_front_door_does_not_glue_a_later_independent_fault_to_the_first():
    # catalog fails and recovers; web and api (which call everything) are still firing when orders fails.
    catalog, api, web = alert(1, 0, "catalog"), alert(2, 0.5, "api"), alert(3, 1, "web")
    orders = alert(5, 6, "orders")
    items = [catalog, api, web, resolved(4, 4, "catalog", catalog), orders]
    opened = incidents_of(items, SHOP)
    assert opened == [[1, 2, 3, 4], [5]]


def test_a_sibling_of_the_origin_that_only_shares_a_caller_opens_its_own_incident():
    items = [alert(1, 0, "catalog"), alert(2, 1, "api"), alert(3, 3, "orders")]
    assert incidents_of(items, SHOP) == [[1, 2], [3]]


def test_a_deeper_cause_of_an_origin_still_in_trouble_joins_its_incident():
    # dependants first: the callers alert, then the database they all use.
    items = [alert(1, 0, "catalog"), alert(2, 1, "api"), alert(3, 4, "db")]
    [decision] = Correlator(items, MemoryStore(SHOP, items)).run()
    assert sorted(i.pk for i in decision.state.new) == [1, 2, 3]
    assert "db" in [h.service for h in decision.analysis.hypotheses]


def test_a_late_alert_of_a_caller_of_a_recovered_origin_still_joins_its_incident():
    db = alert(1, 0, "db")
    items = [db, alert(2, 1, "orders"), resolved(3, 3, "db", db), alert(4, 3.5, "api", "warning")]
    [decision] = Correlator(items, MemoryStore(SHOP, items)).run()
    assert sorted(i.pk for i in decision.state.new) == [1, 2, 3, 4]
