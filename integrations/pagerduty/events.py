"""PagerDuty Events API v2 payloads and REST notes, built from plain data (no HTTP, no database).

The dedup key is derived from the incident's number, `cleara-INC-<number>`: it never changes
(the grouping key can, when an incident is reopened), it is unique, and a person reading
PagerDuty can tell which Cleara incident an alert is. Trigger, acknowledge and resolve of one
incident all carry it, and PagerDuty folds repeated triggers with it into one alert.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from integrations.facts import IncidentFacts

MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
DEDUP_PREFIX = "cleara-INC-"
SEVERITY_MAP = {"critical": "critical", "warning": "warning", "info": "info"}
SEVERITY_RANK = {"info": 1, "warning": 2, "critical": 3}
NOTE_MARKER = "— sent by Cleara, ref "
_DEDUP_RE = re.compile(r"^cleara-INC-(\d+)$")

Action = Literal["trigger", "acknowledge", "resolve"]


@dataclass(frozen=True)
class PagerDutyEvent:
    action: Action
    dedup_key: str
    payload: dict | None = None
    links: list[dict] | None = None
    client: str | None = None
    client_url: str | None = None

    def to_json(self) -> dict:
        """The body PagerDuty receives, minus the routing key the client adds."""
        body: dict = {"event_action": self.action, "dedup_key": self.dedup_key}
        for name in ("payload", "links", "client", "client_url"):
            value = getattr(self, name)
            if value:
                body[name] = value
        return body


def dedup_key_for(number: int) -> str:
    return f"{DEDUP_PREFIX}{number}"


def number_from_dedup_key(key: str | None) -> int | None:
    match = _DEDUP_RE.match(key or "")
    return int(match.group(1)) if match else None


def severity_meets(severity: str, minimum: str) -> bool:
    """Whether an incident of `severity` pages, given the PAGERDUTY_MIN_SEVERITY threshold."""
    return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(minimum, SEVERITY_RANK["critical"])


def trigger_event(facts: IncidentFacts) -> PagerDutyEvent:
    cause = f" (root cause: {facts.root_cause}, {round(facts.confidence * 100)}%)" if facts.root_cause else ""
    summary = f"#{facts.number} {facts.title}{cause}"
    payload = {
        "summary": summary[:MAX_SUMMARY],
        "source": facts.root_cause or (facts.services[0] if facts.services else "cleara"),
        "severity": SEVERITY_MAP.get(facts.severity, "warning"),
        "component": facts.root_cause or "",
        "class": "incident",
        "custom_details": {
            "root_cause": facts.root_cause,
            "confidence": round(facts.confidence, 4),
            "affected_services": facts.services,
            "alternatives": [{"service": s, "confidence": round(c, 4)} for s, c in facts.alternatives],
            "summary": facts.summary[:2000],
            "reasons": facts.reasons,
            "evidence": facts.evidence,
            "console_url": facts.url,
        },
    }
    if facts.started_at:
        payload["timestamp"] = facts.started_at
    if not payload["component"]:
        del payload["component"]
    return PagerDutyEvent(
        action="trigger",
        dedup_key=dedup_key_for(facts.number),
        payload=payload,
        links=[{"href": facts.url, "text": f"Cleara incident #{facts.number}"}],
        client="Cleara",
        client_url=facts.url,
    )


def acknowledge_event(number: int) -> PagerDutyEvent:
    return PagerDutyEvent(action="acknowledge", dedup_key=dedup_key_for(number))


def resolve_event(number: int) -> PagerDutyEvent:
    return PagerDutyEvent(action="resolve", dedup_key=dedup_key_for(number))


def action_for_status(status: str) -> Action | None:
    """What a Cleara status means in PagerDuty. `open` (a reopen, or back from investigating)
    triggers again: PagerDuty has no un-acknowledge in the Events API."""
    return {"open": "trigger", "investigating": "acknowledge", "resolved": "resolve", "false_positive": "resolve"}.get(status)


def note_marker(key: str) -> str:
    return f"{NOTE_MARKER}{key}"


def is_cleara_note(content: str) -> bool:
    """A note Cleara wrote itself (its webhook echo must not come back as a new Cleara note)."""
    return NOTE_MARKER in (content or "")


def rca_note(facts: IncidentFacts, *, previous: str | None = None) -> str:
    """The root cause, its confidence and evidence, as a PagerDuty incident note."""
    if previous and previous != facts.root_cause:
        head = f"Root-cause hypothesis changed: {previous} → {facts.root_cause} ({round(facts.confidence * 100)}% confidence)"
    elif facts.root_cause:
        head = f"Probable root cause: {facts.root_cause} ({round(facts.confidence * 100)}% confidence)"
    else:
        head = "Root cause not known yet"
    lines = [head]
    if facts.alternatives:
        lines.append("Alternatives: " + ", ".join(f"{s} ({round(c * 100)}%)" for s, c in facts.alternatives))
    if facts.reasons:
        lines.append("Why: " + "; ".join(facts.reasons))
    if facts.evidence:
        lines.append("Evidence:")
        lines.extend(f"- {e}" for e in facts.evidence)
    lines.append(f"Details: {facts.url}")
    return "\n".join(lines)


def text_note(text: str, *, key: str) -> str:
    """A note's content as sent: the text and, last, the marker that says Cleara wrote it."""
    return f"{text}\n{note_marker(key)}"
