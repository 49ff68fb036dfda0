"""Who hears about incident changes, without incidents/ importing them.

Other apps subscribe in their AppConfig.ready(): the console's live updates, the integrations'
outbox. Listeners run inside the transaction that changed the incident, so that an outbox row
commits or rolls back with the change itself; anything with a side effect outside the database
(a WebSocket push, a task) must be deferred by the listener with transaction.on_commit.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IncidentChange:
    incident_id: int
    # opened | status | severity | root_cause | assigned | note | split | updated (split: the engine
    # opened another incident apart from this one; data: {"split": its number, "timeline_id": the note})
    kind: str
    # Where the change came from: system | console | api | slack | pagerduty. A listener that
    # mirrors changes to an outside service skips the ones that came from that service.
    origin: str = "system"
    data: dict = field(default_factory=dict)


Listener = Callable[[IncidentChange], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def incident_changed(change: IncidentChange) -> None:
    """Tell every listener; call inside the transaction that made the change."""
    for listener in list(_listeners):
        listener(change)
