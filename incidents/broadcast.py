"""Push rendered incident fragments to the console's WebSocket groups.

Call only after the change has committed: IncidentsConfig.ready() subscribes a listener to
incidents.hooks that defers `incident_changed` with transaction.on_commit. Two groups:

- `console`: every dashboard. The message carries the incident's row (the same partial the
  dashboard renders) and its facts; each ConsoleConsumer decides, from its own filters, whether
  to insert the row (a new incident), replace it in place, or stay silent.
- `incident.<pk>`: every open console page of that incident. The message is HTML: the header,
  the collaborate step's status controls and assignee form,
  notes and audit trail fragments, each swapped by its id (htmx ws extension, oob swap).

With the in-memory channel layer, a change made by the worker or the simulator (another
process) never reaches the web server's sockets; the pages poll as a fallback (see base.html).
"""
from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.template.loader import render_to_string

from incidents import selectors
from incidents.models import Incident

log = logging.getLogger(__name__)

ROW_TEMPLATE = "incidents/partials/incident_row.html"
DETAIL = "incidents/incident_detail.html"
# Frequent system changes (events joining, a re-ranked root cause) only touch the header.
HEADER_ONLY_KINDS = frozenset({"opened", "updated", "severity", "root_cause"})


def console_group() -> str:
    return "console"


def incident_group(incident_id: int) -> str:
    return f"incident.{incident_id}"


def incident_facts(incident: Incident) -> dict:
    """What a dashboard's filters look at, so that a consumer can match without a query."""
    d = selectors.incident_data(incident)
    return {
        "status": d.status,
        "severity": d.severity,
        "services": sorted(set(d.services) | ({incident.root_cause_service.name} if incident.root_cause_service_id else set())),
        "started_at": d.started_at.isoformat(),
        "last_event_at": d.last_event_at.isoformat(),
        "text": f"{d.title}\n{d.summary}".lower(),
    }


def facts_match(facts: dict, filters: selectors.IncidentFilters) -> bool:
    """Whether an incident with these facts belongs in a list with these filters (as incident_list decides)."""
    from datetime import datetime

    if filters.status and facts["status"] not in filters.status:
        return False
    if filters.severity and facts["severity"] not in filters.severity:
        return False
    if filters.service and filters.service not in facts["services"]:
        return False
    if filters.since and datetime.fromisoformat(facts["last_event_at"]) < filters.since:
        return False
    if filters.until and datetime.fromisoformat(facts["started_at"]) > filters.until:
        return False
    if filters.q and filters.q.lower() not in facts["text"]:
        return False
    return True


def row_html(incident: Incident) -> str:
    return render_to_string(ROW_TEMPLATE, {"incident": incident}).strip()


def incident_fragments(*, incident: Incident, oob: bool = True, header_only: bool = False) -> str:
    """The live parts of an incident's page, each a root element with its id.

    `oob` adds hx-swap-oob so that the same HTML works as an htmx response (the polling
    fallback, the answer to a POST); the ws extension swaps by id either way.
    """
    context = {"incident": incident, "oob": oob}
    html = render_to_string("incidents/partials/incident_header.html", context)
    if not header_only:
        from incidents.forms import AssignForm
        from incidents.services import ALLOWED_TRANSITIONS

        context.update(notes=selectors.incident_notes(incident=incident), audit=selectors.incident_audit_trail(incident=incident))
        html += render_to_string("incidents/partials/incident_notes.html", context)
        html += render_to_string("incidents/partials/incident_audit.html", context)
        # The collaborate step's controls follow the state for every viewer (a second viewer no
        # longer sees "Start investigating" on an incident someone is investigating already).
        context.update(transitions=ALLOWED_TRANSITIONS[incident.status], statuses=Incident.Status, users=selectors.assignable_users(),
                       assign_form=AssignForm(initial={"assignee": incident.assignee.get_username() if incident.assignee_id else ""}))
        html += render_to_string(f"{DETAIL}#status-controls", context)
        html += render_to_string(f"{DETAIL}#assign-form", context)
    return html


def incident_changed(*, incident_id: int, kinds: frozenset[str] = frozenset({"updated"})) -> None:
    """Render the incident's fragments and send them to both groups. Call after commit."""
    incident = selectors.incident_get_for_row(incident_id=incident_id)
    if incident is None:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    send = async_to_sync(layer.group_send)
    send(console_group(), {"type": "incident.changed", "row": row_html(incident), "new": "opened" in kinds, "facts": incident_facts(incident)})
    header_only = kinds <= HEADER_ONLY_KINDS
    send(incident_group(incident.pk), {"type": "incident.changed", "html": incident_fragments(incident=incident, header_only=header_only)})


def warm_up() -> None:
    """Load what the first push needs (the templates, the URL resolver, the channel layer) before
    a process's first incident does: 0.8 s on a quiet machine, then 13 ms a push. A long-running
    process that pushes (the ingest worker) calls this when it starts."""
    from django.template.loader import get_template
    from django.urls import get_resolver

    get_resolver()._populate()
    for name in (ROW_TEMPLATE, "incidents/partials/incident_header.html", "incidents/partials/incident_notes.html",
                 "incidents/partials/incident_audit.html", DETAIL):
        get_template(name)
    get_channel_layer()


class _PendingPush:
    """One on-commit push per incident per transaction, however many changes it made."""

    def __init__(self, incident_id: int):
        self.incident_id = incident_id
        self.kinds: set[str] = set()
        # Django names a failing robust callback by its __qualname__ when it logs it.
        self.__qualname__ = f"broadcast.incident_changed(incident_id={incident_id})"

    def __call__(self) -> None:
        incident_changed(incident_id=self.incident_id, kinds=frozenset(self.kinds))


def push_after_commit(change) -> None:
    """The incidents.hooks listener: defer the push until the change has committed.

    A rolled-back change pushes nothing. A failing push (say, Redis is down) is logged, not
    raised: the change is committed already, and the pages' polling fallback catches up.
    """
    from django.db import transaction

    connection = transaction.get_connection()
    for _, callback, *_ in connection.run_on_commit:
        if isinstance(callback, _PendingPush) and callback.incident_id == change.incident_id:
            callback.kinds.add(change.kind)
            return
    push = _PendingPush(change.incident_id)
    push.kinds.add(change.kind)
    transaction.on_commit(push, robust=True)
