"""What incidents/ tells the integrations: one listener on incidents.hooks, fanning out to the
enabled notifiers.

The listener runs inside the transaction that changed the incident (IntegrationsConfig.ready()
subscribes it), so each notifier writes its outbox rows in that same transaction: the change and
its notifications commit together or not at all, and delivery starts after the commit. A notifier
skips changes that came from its own service (origin), so nothing loops back.
"""
from __future__ import annotations

import logging
from typing import Protocol

from incidents.hooks import IncidentChange
from incidents.models import Incident
from integrations.pagerduty.services import PagerDutyNotifier
from integrations.slack.notifier import SlackNotifier

log = logging.getLogger(__name__)

# Kinds of change that are worth telling another system about.
NOTIFIED_KINDS = {"opened", "status", "severity", "root_cause", "note", "assigned", "split", "updated"}


class Notifier(Protocol):
    provider: str

    def enabled(self) -> bool: ...

    def incident_changed(self, change: IncidentChange, incident: Incident) -> None: ...


NOTIFIERS: list[Notifier] = [SlackNotifier(), PagerDutyNotifier()]


def enabled_notifiers() -> list[Notifier]:
    return [n for n in NOTIFIERS if n.enabled()]


def incident_changed(change: IncidentChange) -> None:
    """The incidents.hooks listener: write the outbox rows for one change."""
    if change.kind not in NOTIFIED_KINDS:
        return
    notifiers = enabled_notifiers()
    if not notifiers:
        return
    incident = Incident.objects.select_related("root_cause_service", "assignee").get(pk=change.incident_id)
    for notifier in notifiers:
        notifier.incident_changed(change, incident)
