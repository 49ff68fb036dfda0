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

    def open_incidents(self, *, since, started_before):
        return []

    def signals(self, *, since, until):
        return [(i.pk, i.ts, i.service, i.type, i.severity, i.fingerprint, i.firing, i.client_id, i.message, i.metric, None)
                for i in sorted(self.items, key=lambda i: (i.ts, i.pk)) if i.is_signal and since <= i.ts <= until]

    def error_log_times(self, *, since, until):
        return {}

    def pending_logs(self, *, services, since, until):
        return []

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
