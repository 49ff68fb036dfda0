"""Correlating a stored batch: load (correlation.loading), decide (correlation.grouping), write
(incidents.services).

`events_correlate` runs the whole step under the locks of the batch's component partitions
(incidents.partitions; PostgreSQL advisory locks, taken in order; SQLite serialises writers
already), so that two batches that could share an incident never open it twice: the decisions
read the open incidents and pending signals, and must not race another batch's writes. Services
join an incident only through the topology (hops, cones, neighbours), so batches of services in
different components cannot share one and run side by side. The partitions are computed from the
topology the step reads, whichever worker (or request) runs it. One exception is left: an alert
whose explicit `fingerprint` is shared by services of two components joins an incident holding that
fingerprint still firing; two such batches in different partitions at the same moment may each
open their own. The incidents' numbering does not rely on the locks
(incidents.services.incident_number_next).
"""
from __future__ import annotations

from django.db import connection, transaction

from correlation.grouping import Correlator, Decision, is_candidate, item_of
from correlation.loading import Store
from incidents import partitions
from incidents.models import Event
from incidents.services import incident_analysis_update, incident_open, incident_split_record


def events_correlate(*, events: list[Event]) -> list[int]:
    """Correlate one stored batch; returns the ids of the incidents created or changed."""
    candidates = [e for e in events if is_candidate(e)]
    if not candidates:
        return []
    with transaction.atomic():
        store = Store()
        component_of = partitions.components(store.topology.deps)
        _lock(sorted({partitions.component_partition(store.names[e.service_id], component_of) for e in candidates}))
        decisions = Correlator([item_of(e, store.names[e.service_id]) for e in candidates], store).run()
        return [decision_write(d).pk for d in decisions]


def _lock(keys: list[int]) -> None:
    """Take the advisory locks of these component partitions, in order (no deadlock between two
    batches that need several)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for key in keys:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [partitions.COMPONENT_LOCK_KEY, key])
    # SQLite: the transaction is IMMEDIATE (settings), so it already holds the write lock.


def apart_note(incidents: list, origin: tuple | None = None, reason: str = "") -> str:
    """The timeline's record of a split by evidence: which open incidents this one was kept apart
    from, and, for a new origin inside their cone (correlation.grouping.Correlator._new_origin) or
    unrelated to theirs (`reason`: Correlator._unrelated_origin), which service and since when."""
    if not incidents:
        return ""
    numbers = ", ".join(f"#{i.number}" for i in incidents)
    if origin is not None and reason:
        service, onset = origin
        return f" Split from {numbers}: {service}, in trouble from {onset:%H:%M:%S} UTC, {reason}: a new origin, not its spread."
    if origin is not None:
        service, onset = origin
        return (f" Split from {numbers}: {service} logged errors of its own from {onset:%H:%M:%S} UTC, after {numbers} began, "
                "naming nothing it calls: a new origin inside that incident's cone, not its spread.")
    return (f" Kept apart from {numbers}, open at the time: {'it does' if len(incidents) == 1 else 'they do'} not explain this "
            "(a new origin with its own onset, or trouble that had resolved).")


def decision_write(decision: Decision):
    """Open the incident or write its new analysis, with its new events and services."""
    state, analysis = decision.state, decision.analysis
    event_ids = [i.pk for i in state.new]
    if state.incident is None:
        seed = state.seed
        services = sorted({k[0] for k in state.groups})
        state.incident = incident_open(
            grouping_key=f"corr:{seed.service}:{seed.pk}",
            analysis=analysis,
            event_ids=event_ids,
            service_ids=decision.new_services,
            message=f"Opened by correlation from {analysis.alert_count} alert(s) on {', '.join(services)}. {analysis.summary}"
            + apart_note([s.incident for s in state.apart_from if s.incident is not None], state.origin, state.split_reason),
        )
        if state.origin is not None:
            service, onset = state.origin
            for source in {s.incident for s in state.apart_from if s.incident is not None}:
                message = (f"Split: #{state.incident.number} opened for {service}, in trouble from {onset:%H:%M:%S} UTC, which "
                           f"{state.split_reason}: a new origin, not this incident's spread." if state.split_reason else
                           f"Split: #{state.incident.number} opened for {service}, which logged errors of its own from "
                           f"{onset:%H:%M:%S} UTC, naming nothing it calls: a new origin inside this incident's cone, not its spread.")
                incident_split_record(source=source, split=state.incident, message=message)
    else:
        incident_analysis_update(incident=state.incident, analysis=analysis, event_ids=event_ids, service_ids=decision.new_services)
    return state.incident
