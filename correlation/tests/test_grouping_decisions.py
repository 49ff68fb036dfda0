"""The engine's decisions on plain values, without a database (correlation.grouping.Correlator):
an in-memory store stands in for correlation.loading.Store. No test here asks for `db`, so any
query would fail the test."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from correlation import rca
from correlation.grouping import NOISE_REASON, OWN_ONSET_REASON, UNRELATED_REASON, Correlator, Item

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
        times: dict[str, list[datetime]] = {}
        for i in sorted(self.items, key=lambda i: i.ts):
            if i.type == "log" and i.severity == "critical" and since <= i.ts <= until:
                times.setdefault(i.service, []).append(i.ts)
        return times

    def error_log_lines(self, *, since, until):
        lines: dict[str, list] = {}
        for i in sorted(self.items, key=lambda i: i.ts):
            if i.type == "log" and i.severity == "critical" and since <= i.ts <= until:
                lines.setdefault(i.service, []).append((i.ts, i.message))
        return lines

    def pending_logs(self, *, services, since, until):
        return [(i.pk, i.ts, i.service, i.severity, i.fingerprint, i.client_id, i.message)
                for i in sorted(self.items, key=lambda i: i.ts) if i.type == "log" and i.service in services and since <= i.ts <= until]

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


def error_log(pk: int, minute: float, service: str, message: str) -> Item:
    return Item(pk=pk, ts=T0 + timedelta(minutes=minute), service=service, type="log", severity="critical",
                fingerprint=f"{service}:{message[:12]}", firing=True, client_id=f"evt-{pk}", message=message)


def errors(pk: int, minute: float, service: str, n: int = 3) -> list[Item]:
    """`n` error lines of `service` of its own (naming nothing), a few seconds apart from `minute` on."""
    return [error_log(pk + k, minute + 0.1 * k, service, "unhandled exception in request handler: KeyError('tenant_id')") for k in range(n)]


def alert_events(items: list[Item], deps: dict[str, set[str]]) -> list[list[int]]:
    """incidents_of, the alerts only (error logs join as evidence)."""
    return [[pk for pk in incident if pk < 100] for incident in incidents_of(items, deps)]


def test_a_warning_at_a_service_logging_errors_opens_an_incident():
    # a latency warning alone is a blip; after ten error lines of its service it is a fault.
    items = [*errors(100, 0, "mail", n=10), alert(1, 1, "mail", "warning")]
    assert alert_events(items, DEPS) == [[1]]


def test_error_lines_that_come_after_a_warning_do_not_open_it():
    # a replay holds them already; live, they would not have arrived when the warning was placed.
    items = [alert(1, 0, "mail", "warning"), *errors(100, 0.1, "mail", n=10)]
    assert alert_events(items, DEPS) == []


def test_an_incident_whose_alerts_have_all_resolved_takes_no_new_trouble():
    first = [alert(1, 0, "db"), alert(2, 1, "api")]
    later = alert(5, 9, "api")
    later.fingerprint = "api:latency"
    items = [*first, resolved(3, 4, "db", first[0]), resolved(4, 4.5, "api", first[1]), *errors(100, 8.5, "api"), later]
    assert alert_events(items, DEPS) == [[1, 2, 3, 4], [5]]




def test_a_shared_front_door_does_not_glue_a_later_independent_fault_to_the_first():
    # catalog fails and recovers; web and api (which call everything) are still firing when orders fails.
    catalog, api, web = alert(1, 0, "catalog"), alert(2, 0.5, "api"), alert(3, 1, "web")
    orders = alert(5, 6, "orders")
    items = [catalog, api, web, resolved(4, 4, "catalog", catalog), *errors(100, 5.5, "orders"), orders]
    assert alert_events(items, SHOP) == [[1, 2, 3, 4], [5]]


def test_a_sibling_of_the_origin_that_only_shares_a_caller_opens_its_own_incident():
    items = [alert(1, 0, "catalog"), alert(2, 1, "api"), *errors(100, 2.5, "orders"), alert(3, 3, "orders")]
    assert alert_events(items, SHOP) == [[1, 2], [3]]


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


def test_a_dependency_failing_well_after_the_origin_with_errors_of_its_own_opens_its_own_incident():
    # catalog fails on its own (its errors name nothing below it); minutes later the database
    # fails too: a second fault inside the first's cone, not the deeper cause of the first.
    own = [error_log(10 + k, 0.2 * k, "catalog", "unhandled exception in request handler: KeyError('tenant_id')") for k in range(3)]
    db_errors = [error_log(20 + k, 8 + 0.1 * k, "db", "could not write to file pg_wal: no space left on device") for k in range(3)]
    items = [*own, alert(1, 0, "catalog"), alert(2, 1, "api"), *db_errors, alert(3, 9, "db")]
    opened = [[pk for pk in incident if pk < 10] for incident in incidents_of(items, SHOP)]
    assert opened == [[1, 2], [3]]


def test_a_dependency_its_callers_named_from_the_start_joins_as_the_deeper_cause_however_late_it_alerts():
    # dependants first: catalog's errors name the database from its first minute; the database's
    # own alert waits nine minutes.
    named = [error_log(10 + k, 0.2 * k, "catalog", "connection to db timed out after 30000ms") for k in range(3)]
    db_errors = [error_log(20 + k, 8 + 0.1 * k, "db", "could not write to file pg_wal: no space left on device") for k in range(3)]
    items = [*named, alert(1, 0, "catalog"), alert(2, 1, "api"), *db_errors, alert(3, 9, "db")]
    [decision] = Correlator(items, MemoryStore(SHOP, items)).run()
    assert {1, 2, 3} <= {i.pk for i in decision.state.new}
    assert "db" in [h.service for h in decision.analysis.hypotheses]


def test_a_late_lone_blip_of_a_dependency_joins_as_before():
    # no error line of its own around it: nothing says a new fault started there.
    items = [alert(1, 0, "catalog"), alert(2, 1, "api"), alert(3, 9, "db")]
    [decision] = Correlator(items, MemoryStore(SHOP, items)).run()
    assert sorted(i.pk for i in decision.state.new) == [1, 2, 3]


def test_trouble_forty_seconds_after_every_alert_resolved_does_not_join_the_finished_incident():
    # the chaos lab's cadence: a fault ends, its alerts resolve, the next fault's front-door
    # latency warnings come less than a minute later.
    payments, api = alert(1, 0, "payments"), alert(2, 0.2, "api")
    web_slow, api_slow = alert(5, 3.7, "web", "warning"), alert(6, 3.7, "api", "warning")
    web_slow.fingerprint, api_slow.fingerprint = "web:latency", "api:latency"
    deps = {"web": {"api"}, "api": {"payments", "catalog"}, "payments": set(), "catalog": set()}
    items = [payments, api, resolved(3, 3, "payments", payments), resolved(4, 3, "api", api), web_slow, api_slow]
    assert alert_events(items, deps) == [[1, 2, 3, 4]]


def named(pk: int, minute: float, service: str, dep: str, n: int = 3) -> list[Item]:
    """`n` error lines of `service` that name the dependency it calls."""
    return [error_log(pk + k, minute + 0.1 * k, service, f"context deadline exceeded calling {dep}") for k in range(n)]


def database_outage() -> list[Item]:
    """db fails and orders, which calls it, says so: one incident, its origin db."""
    wal = [error_log(200 + k, 0.1 * k, "db", "could not write to file pg_wal: no space left on device") for k in range(3)]
    return [*wal, alert(1, 0, "db"), *named(210, 0.5, "orders", "db"), alert(2, 1, "orders")]


def test_a_caller_of_the_origin_failing_later_with_errors_of_its_own_opens_its_own_incident():
    # minutes into the database's outage, catalog (which calls the database too) starts failing
    # with errors that name nothing it calls: a bad deploy of its own, not the outage spreading.
    items = [*database_outage(), *errors(300, 7.5, "catalog"), alert(3, 8, "catalog")]
    decisions = Correlator(items, MemoryStore(SHOP, items)).run()
    assert [sorted(i.pk for i in d.state.new if i.pk < 10) for d in decisions] == [[1, 2], [3]]
    split = decisions[1]
    assert split.analysis.root == "catalog"
    assert split.state.origin == ("catalog", T0 + timedelta(minutes=7.5)) and split.state.apart_from == [decisions[0].state]


def test_a_caller_failing_later_that_names_the_failing_dependency_is_the_outage_spreading():
    items = [*database_outage(), *named(300, 7.5, "catalog", "db"), alert(3, 8, "catalog")]
    assert alert_events(items, SHOP) == [[1, 2, 3]]


def test_a_caller_failing_later_that_logs_what_the_others_log_is_the_outage_spreading():
    # a broken mesh: every caller logs the same line, which names nothing.
    mesh = "upstream connect error or disconnect/reset before headers"
    items = [*database_outage(), *[error_log(220 + k, 0.5 + 0.1 * k, "orders", mesh) for k in range(3)],
             *[error_log(300 + k, 7.5 + 0.1 * k, "catalog", mesh) for k in range(3)], alert(3, 8, "catalog")]
    assert alert_events(items, SHOP) == [[1, 2, 3]]


def test_a_caller_whose_own_errors_began_with_the_incident_is_not_a_new_origin():
    items = [*database_outage(), *errors(300, 0.2, "catalog"), *errors(310, 7.5, "catalog"), alert(3, 8, "catalog")]
    assert alert_events(items, SHOP) == [[1, 2, 3]]


def test_blame_followed_down_the_chain_to_a_new_origin_splits_its_callers_too():
    # the gateway alerts first, naming catalog; catalog's own errors began minutes into the outage.
    items = [*database_outage(), *errors(300, 7.5, "catalog"), *named(310, 8, "api", "catalog"), alert(3, 8.5, "api"),
             alert(4, 10, "catalog", "warning")]
    assert alert_events(items, SHOP) == [[1, 2], [3, 4]]


def test_a_split_takes_none_of_its_origins_lines_about_what_it_calls():
    # catalog was already failing with the outage (naming the database) when its own fault began.
    items = [*database_outage(), *named(400, 6.5, "catalog", "db"), *errors(300, 7.5, "catalog"), alert(3, 8, "catalog")]
    decisions = Correlator(items, MemoryStore(SHOP, items)).run()
    split = decisions[-1].state
    assert split.origin is not None and {i.pk for i in split.new} >= {300, 301, 302}
    assert not {i.pk for i in split.new} & {400, 401, 402}


def test_a_dependency_failing_later_seen_only_through_its_callers_errors_opens_its_own_incident():
    # orders fails on its own; minutes later the database (which says nothing) fails under it, and
    # orders' new latency alert comes with errors naming the database: a second fault deeper down.
    latency = alert(3, 8, "orders", "warning")
    latency.fingerprint = "orders:latency"
    items = [*errors(200, 0, "orders"), alert(1, 0, "orders"), alert(2, 1, "api"), *named(300, 7.5, "orders", "db"), latency]
    decisions = Correlator(items, MemoryStore(SHOP, items)).run()
    assert [sorted(i.pk for i in d.state.new if i.pk < 10) for d in decisions] == [[1, 2], [3]]
    assert decisions[1].state.origin == ("db", T0 + timedelta(minutes=7.5))
    assert {300, 301, 302} <= {i.pk for i in decisions[1].state.new}  # the lines naming the database go with it


def test_a_dependency_its_callers_named_from_the_start_stays_the_deeper_cause_of_a_later_alert():
    latency = alert(3, 8, "orders", "warning")
    latency.fingerprint = "orders:latency"
    items = [*named(200, 0, "orders", "db"), alert(1, 0, "orders"), alert(2, 1, "api"), *named(300, 7.5, "orders", "db"), latency]
    assert alert_events(items, SHOP) == [[1, 2, 3]]


def test_lines_from_before_two_incidents_go_to_the_one_that_began_soonest_after_them():
    # api's errors come half a minute before catalog's alert; orders fails on its own seven minutes
    # later. Both incidents take api's lines (api calls both), from EARLY before their first signal:
    # the lines are catalog's trouble beginning, not orders'.
    items = [*errors(100, -0.5, "api"), alert(1, 0, "catalog"), alert(2, 7, "orders")]
    decisions = Correlator(items, MemoryStore(SHOP, items)).run()
    assert [sorted(i.pk for i in d.state.new) for d in decisions] == [[1, 100, 101, 102], [2]]


BANK = {"web": {"api"}, "api": {"orders", "payments"}, "orders": {"db"}, "payments": {"bank"}, "db": set(), "bank": set()}


def says(pk: int, minute: float, service: str, message: str, severity: str = "critical") -> Item:
    """An alert of its own kind (a fingerprint of its own) whose message says what failed."""
    item = alert(pk, minute, service, severity)
    item.fingerprint, item.message = f"{service}:{message[:20]}", f"HTTP5xxRateHigh on {service}: {message}"
    return item


def db_outage() -> list[Item]:
    """db fails; orders and the gateway say so."""
    return [alert(1, 0, "db"), *named(200, 0.3, "orders", "db"), says(2, 0.5, "orders", "calls to db failing"),
            says(3, 0.8, "api", "calls to orders failing")]


def two_unrelated_faults() -> list[Item]:
    """db_outage; a minute later the bank, which nothing of db's calls, stops answering payments: the
    gateway, which calls both, alerts again, naming payments, and then payments itself."""
    return [*db_outage(), *named(300, 1.2, "payments", "bank"), says(4, 1.5, "api", "calls to payments failing"),
            says(5, 2, "payments", "calls to bank failing")]


def test_a_shared_callers_alert_naming_an_unrelated_failing_service_opens_an_incident_for_it():
    items = two_unrelated_faults()
    decisions = Correlator(items, MemoryStore(BANK, items)).run()
    assert [sorted(i.pk for i in d.state.new if i.pk < 10) for d in decisions] == [[1, 2, 3], [4, 5]]
    split = decisions[1].state
    assert split.origin == ("bank", T0 + timedelta(minutes=1.2)) and split.apart_from == [decisions[0].state]
    assert split.split_reason == UNRELATED_REASON
    assert {300, 301, 302} <= {i.pk for i in split.new}  # payments' lines naming the bank go with it
    assert "db" in [h.service for h in decisions[0].analysis.hypotheses]


def test_a_shared_callers_alert_naming_a_service_on_the_way_to_the_origin_is_the_outage_spreading():
    items = [*db_outage(), says(4, 1.5, "api", "calls to orders timing out")]
    assert alert_events(items, BANK) == [[1, 2, 3, 4]]


def test_an_unrelated_dependency_named_without_lines_of_its_own_is_followed_no_further_than_its_name():
    # payments logs nothing: the gateway's alert names payments, which neither calls nor is called
    # by db: payments itself is the new origin.
    items = [*db_outage(), says(4, 1.5, "api", "calls to payments failing")]
    decisions = Correlator(items, MemoryStore(BANK, items)).run()
    assert [sorted(i.pk for i in d.state.new if i.pk < 10) for d in decisions] == [[1, 2, 3], [4]]
    assert decisions[1].state.origin == ("payments", T0 + timedelta(minutes=1.5))


STORE = {"shop": {"cart", "search"}, "cart": {"db"}, "search": {"index"}, "index": {"db"}, "db": set()}


def test_a_caller_two_hops_up_whose_way_to_the_origin_is_healthy_opens_its_own_incident_at_once():
    # db fails and cart says so; half a minute later search's disk fills: search reaches db only
    # through index, which is fine, so db's failure did not reach search: an origin of its own.
    disk = says(3, 0.8, "search", "no space left on device")
    disk.message = "DiskSpaceCritical on search"
    items = [alert(1, 0, "db"), *named(200, 0.2, "cart", "db"), says(2, 0.3, "cart", "calls to db failing"), *errors(300, 0.6, "search"), disk]
    decisions = Correlator(items, MemoryStore(STORE, items)).run()
    assert [sorted(i.pk for i in d.state.new if i.pk < 10) for d in decisions] == [[1, 2], [3]]
    assert decisions[1].state.origin == ("search", T0 + timedelta(minutes=0.6))
    assert decisions[1].state.split_reason == OWN_ONSET_REASON


def test_a_caller_two_hops_up_whose_way_to_the_origin_is_in_trouble_is_the_outage_spreading():
    disk = says(3, 0.8, "search", "request failed")
    disk.message = "HTTP5xxRateHigh on search"
    items = [alert(1, 0, "db"), *named(200, 0.2, "cart", "db"), says(2, 0.3, "cart", "calls to db failing"),
             *named(400, 0.4, "index", "db"), *errors(300, 0.6, "search"), disk]
    assert alert_events(items, STORE) == [[1, 2, 3]]

def storm(pk: int, minute: float, service: str) -> Item:
    """A noise storm's warning: a scrape timing out, naming nothing, with no error line behind it."""
    item = alert(pk, minute, service, "warning")
    item.fingerprint, item.message = f"{service}:scrape", f"ScrapeTimeout on {service}"
    return item


def crash(pk: int, minute: float, service: str) -> Item:
    item = alert(pk, minute, service)
    item.fingerprint, item.message = f"{service}:crashloop", f"KubePodCrashLooping on {service}"
    return item


def test_a_fault_arriving_in_an_incident_that_noise_opened_opens_its_own_incident():
    # a storm of scrape warnings piles up into an incident rooted at catalog; eight minutes later
    # the database under it crash-loops. By where it sits it is catalog's deeper cause, but nothing
    # in that incident said a fault was under way: the crash is not the storm's to root.
    items = [storm(1, 0, "web"), storm(2, 0.5, "api"), storm(3, 1, "catalog"), crash(4, 8, "db")]
    decisions = Correlator(items, MemoryStore(SHOP, items)).run()
    assert [sorted(i.pk for i in d.state.new) for d in decisions] == [[1, 2, 3], [4]]
    split = decisions[1]
    assert split.analysis.root == "db"
    assert split.state.origin == ("db", T0 + timedelta(minutes=8)) and split.state.split_reason == NOISE_REASON
    assert split.state.apart_from == [decisions[0].state]


def test_a_fault_arriving_in_an_incident_with_errors_behind_it_joins_as_before():
    # the same warnings, but catalog logs errors under them: that incident is a fault already.
    items = [storm(1, 0, "web"), storm(2, 0.5, "api"), *errors(100, 0.6, "catalog"), storm(3, 1, "catalog"), crash(4, 8, "db")]
    assert alert_events(items, SHOP) == [[1, 2, 3, 4]]


def test_warnings_that_name_what_they_call_are_a_fault_not_noise():
    # dependants first: the callers' warnings name what they call; the database's alert comes late.
    web, api = says(1, 0, "web", "calls to api failing"), says(2, 0.5, "api", "calls to catalog failing")
    web.severity = api.severity = "warning"
    items = [web, api, storm(3, 1, "catalog"), crash(4, 8, "db")]
    assert alert_events(items, SHOP) == [[1, 2, 3, 4]]


def test_a_service_whose_own_warnings_turn_critical_stays_with_them():
    # catalog's memory warnings, then its OOM kill: one trouble, whatever else warned meanwhile.
    items = [storm(1, 0, "web"), storm(2, 0.5, "api"), storm(3, 1, "catalog"), crash(4, 8, "catalog")]
    assert alert_events(items, SHOP) == [[1, 2, 3, 4]]


# What a live engine could have seen: a replay stores hours of a stream before correlating it, but
# live an alert is correlated before the lines logged after it have arrived.


def test_a_callers_own_errors_that_come_after_its_alert_do_not_split_it_from_the_outage():
    # catalog alerts eight minutes into the database's outage; its own errors come half a minute
    # after the alert. When the alert was placed nothing said catalog failed on its own.
    items = [*database_outage(), alert(3, 8, "catalog"), *errors(300, 8.5, "catalog")]
    assert alert_events(items, SHOP) == [[1, 2, 3]]


def test_lines_naming_a_dependency_that_come_after_a_late_alert_do_not_split_it():
    # the mirror for a deeper fault (_late_deeper): orders' lines naming the database come after its alert.
    latency = alert(3, 8, "orders", "warning")
    latency.fingerprint = "orders:latency"
    items = [*errors(200, 0, "orders"), alert(1, 0, "orders"), alert(2, 1, "api"), latency, *named(300, 8.2, "orders", "db")]
    assert alert_events(items, SHOP) == [[1, 2, 3]]


def test_a_callers_own_errors_from_before_its_alert_still_make_it_a_new_origin():
    # the same, the errors half a minute before the alert: a new origin, as before.
    items = [*database_outage(), *errors(300, 7.5, "catalog"), alert(3, 8, "catalog")]
    assert alert_events(items, SHOP) == [[1, 2], [3]]


def test_callers_of_one_silent_dependency_are_one_incident_whichever_alerted_first():
    # db is blackholed: it neither alerts nor logs. orders and catalog, which both call it, fail
    # within a minute, each naming db; neither calls the other, but their trouble points at the
    # same service, so the second joins the first's incident, where db is a candidate.
    items = [*named(200, 0, "orders", "db"), says(1, 0.3, "orders", "calls to db failing"),
             *named(210, 0.4, "catalog", "db"), says(2, 0.8, "catalog", "calls to db timing out")]
    decisions = Correlator(items, MemoryStore(SHOP, items)).run()
    assert [sorted(i.pk for i in d.state.new if i.pk < 10) for d in decisions] == [[1, 2]]
    assert "db" in [h.service for h in decisions[0].analysis.hypotheses]


def test_a_sibling_naming_another_dependency_still_opens_its_own_incident():
    deps = {**SHOP, "catalog": {"db", "index"}, "index": set()}
    items = [*named(200, 0, "orders", "db"), says(1, 0.3, "orders", "calls to db failing"),
             *named(210, 0.4, "catalog", "index"), says(2, 0.8, "catalog", "calls to index timing out")]
    assert alert_events(items, deps) == [[1], [2]]
