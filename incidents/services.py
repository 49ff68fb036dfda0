"""Writes of the incident domain: opening an incident and writing its analysis (the correlation
engine decides, these write), the lifecycle, assignment, notes and feedback on root causes.

Every state change writes a TimelineEvent (the audit trail) and tells incidents.hooks inside the
same transaction, so that the console's live update and the integrations' outbox follow it.
"""
from __future__ import annotations

import zlib

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from incidents import hooks
from incidents.errors import IncidentTransitionError
from incidents.analysis import IncidentAnalysis
from incidents.models import SEVERITY_RANK, Event, Feedback, Incident, Note, Service, TimelineEvent

S = Incident.Status
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    S.OPEN: {S.INVESTIGATING, S.RESOLVED, S.FALSE_POSITIVE},
    S.INVESTIGATING: {S.OPEN, S.RESOLVED, S.FALSE_POSITIVE},
    S.RESOLVED: {S.OPEN},  # reopen
    S.FALSE_POSITIVE: {S.OPEN},
}


def timeline_event_record(
    *,
    incident: Incident,
    kind: str,
    actor: AbstractBaseUser | None = None,
    origin: str = TimelineEvent.Origin.SYSTEM,
    from_value: str = "",
    to_value: str = "",
    message: str = "",
) -> TimelineEvent:
    return TimelineEvent.objects.create(
        incident=incident,
        kind=kind,
        actor=actor if actor is not None and actor.is_authenticated else None,
        origin=origin,
        from_value=str(from_value)[:200],
        to_value=str(to_value)[:200],
        message=message,
    )


NUMBER_LOCK = zlib.crc32(b"cleara.incident_number") & 0x7FFFFFFF
ATTACH_CHUNK = 2000


def incident_number_next() -> int:
    """The next incident number. Call inside the transaction that creates the incident: on
    PostgreSQL it takes a transaction-level advisory lock, so that two writers (the engine, a
    test, a future manual "open incident") never pick the same number, whatever lock they hold
    themselves; SQLite serialises writers already (IMMEDIATE transactions, settings)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [NUMBER_LOCK])
    return (Incident.objects.aggregate(m=Max("number"))["m"] or 0) + 1


def incident_events_attach(*, incident: Incident, event_ids: list[int], service_ids: set[int] | list[int] = ()) -> None:
    """Attach stored events to an incident (only events still unattached) and add their services."""
    for start in range(0, len(event_ids), ATTACH_CHUNK):
        Event.objects.filter(pk__in=event_ids[start : start + ATTACH_CHUNK], incident__isnull=True).update(incident_id=incident.pk)
    if service_ids:
        incident.services.add(*service_ids)


@transaction.atomic
def incident_open(
    *,
    grouping_key: str,
    analysis: IncidentAnalysis,
    event_ids: list[int] = (),
    service_ids: set[int] | list[int] = (),
    message: str = "",
    origin: str = TimelineEvent.Origin.SYSTEM,
) -> Incident:
    """Open an incident with its analysis (numbered here), attach its events, audit and tell the hooks."""
    # Plain create, no full_clean(): the engine computes every field, and the validation queries
    # (unique number, open-key constraint) would cost more than the insert; the constraints hold.
    incident = Incident.objects.create(
        number=incident_number_next(), grouping_key=grouping_key[:200], status=Incident.Status.OPEN, **analysis.fields()
    )
    incident_events_attach(incident=incident, event_ids=list(event_ids), service_ids=service_ids)
    timeline_event_record(incident=incident, kind=TimelineEvent.Kind.OPENED, origin=origin, to_value=incident.severity, message=message)
    hooks.incident_changed(hooks.IncidentChange(incident.pk, "opened", origin))
    return incident


@transaction.atomic
def incident_split_record(*, source: Incident, split: Incident, message: str, origin: str = TimelineEvent.Origin.SYSTEM) -> None:
    """Say in `source`'s timeline that `split` was opened apart from it (the engine found a new
    origin inside its cone), and tell the hooks, as for any change to it."""
    note = timeline_event_record(incident=source, kind=TimelineEvent.Kind.NOTE, origin=origin, to_value=f"#{split.number}", message=message)
    hooks.incident_changed(hooks.IncidentChange(source.pk, "split", origin, {"split": split.number, "timeline_id": note.pk}))


@transaction.atomic
def incident_analysis_update(
    *,
    incident: Incident,
    analysis: IncidentAnalysis,
    event_ids: list[int] = (),
    service_ids: set[int] | list[int] = (),
    origin: str = TimelineEvent.Origin.SYSTEM,
) -> Incident:
    """Write a new analysis of an open incident (title, severity, root cause, hypotheses, counts)
    and attach its new events. A changed root cause and a raised severity are audited and told to
    the hooks as such; anything else as "updated". An incident type set by a person is kept."""
    before_root = incident.root_cause_service.name if incident.root_cause_service_id else None
    before_severity = incident.severity
    fields = analysis.fields()
    if incident.incident_type and incident.incident_type != (incident.pattern.incident_type if incident.pattern_id else ""):
        fields.pop("incident_type")  # set by a person: keep it
    for name, value in fields.items():
        setattr(incident, name, value)
    incident.save(update_fields=[*fields, "updated_at"])
    incident_events_attach(incident=incident, event_ids=list(event_ids), service_ids=service_ids)
    changes = []
    root = analysis.root
    if root and before_root and root != before_root:
        timeline_event_record(
            incident=incident, kind=TimelineEvent.Kind.ROOT_CAUSE, origin=origin, from_value=before_root, to_value=root, message=analysis.summary,
        )
        changes.append(("root_cause", {"from": before_root, "to": root}))
    if SEVERITY_RANK[incident.severity] > SEVERITY_RANK[before_severity]:
        timeline_event_record(incident=incident, kind=TimelineEvent.Kind.SEVERITY, origin=origin, from_value=before_severity, to_value=incident.severity)
        changes.append(("severity", {"from": before_severity, "to": incident.severity}))
    for kind, data in changes or [("updated", {"events": len(event_ids)})]:
        hooks.incident_changed(hooks.IncidentChange(incident.pk, kind, origin, data))
    return incident


@transaction.atomic
def incident_set_status(
    *,
    incident: Incident,
    status: str,
    by: AbstractBaseUser | None = None,
    origin: str = TimelineEvent.Origin.CONSOLE,
    message: str = "",
) -> Incident:
    """Move an incident to `status`; a no-op when it is already there."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if status not in S.values:
        raise IncidentTransitionError(f"{status!r} is not a status; use one of {', '.join(S.values)}")
    if incident.status == status:
        return incident
    if status not in ALLOWED_TRANSITIONS[incident.status]:
        raise IncidentTransitionError(
            f"incident #{incident.number} is {incident.get_status_display().lower()}; it cannot become {S(status).label.lower()}"
        )
    if status == S.OPEN and Incident.objects.filter(grouping_key=incident.grouping_key, status__in=Incident.OPEN_STATUSES).exclude(pk=incident.pk).exists():
        # A newer incident already holds this key open; reopening keeps the history but not the key.
        incident.grouping_key = f"{incident.grouping_key[:180]}#reopened-{incident.number}"
    previous = incident.status
    incident.status = status
    incident.resolved_at = timezone.now() if status in (S.RESOLVED, S.FALSE_POSITIVE) else None
    incident.save(update_fields=["status", "resolved_at", "grouping_key", "updated_at"])
    timeline_event_record(
        incident=incident, kind=TimelineEvent.Kind.STATUS, actor=by, origin=origin,
        from_value=previous, to_value=status, message=message,
    )
    hooks.incident_changed(hooks.IncidentChange(incident.pk, "status", origin, {"from": previous, "to": status}))
    return incident


@transaction.atomic
def incident_resolve(
    *,
    incident: Incident,
    by: AbstractBaseUser | None = None,
    origin: str = TimelineEvent.Origin.CONSOLE,
    notes: str = "",
    tags: list[str] | None = None,
    incident_type: str = "",
    false_positive: bool = False,
) -> Incident:
    """Resolve (or close as a false positive) with resolution notes and tags."""
    target = S.FALSE_POSITIVE if false_positive else S.RESOLVED
    incident = incident_set_status(incident=incident, status=target, by=by, origin=origin, message=notes)
    fields = []
    if notes:
        incident.resolution_notes = notes
        fields.append("resolution_notes")
    if tags is not None:
        incident.tags = sorted({t.strip() for t in tags if t.strip()})
        fields.append("tags")
    if incident_type:
        incident.incident_type = incident_type
        fields.append("incident_type")
    if fields:
        incident.save(update_fields=[*fields, "updated_at"])
    return incident


@transaction.atomic
def incident_assign(
    *,
    incident: Incident,
    assignee: AbstractBaseUser | None,
    by: AbstractBaseUser | None = None,
    origin: str = TimelineEvent.Origin.CONSOLE,
) -> Incident:
    previous = incident.assignee.get_username() if incident.assignee_id else ""
    incident.assignee = assignee
    incident.save(update_fields=["assignee", "updated_at"])
    timeline_event_record(
        incident=incident, kind=TimelineEvent.Kind.ASSIGNED, actor=by, origin=origin,
        from_value=previous, to_value=assignee.get_username() if assignee else "",
    )
    hooks.incident_changed(hooks.IncidentChange(incident.pk, "assigned", origin))
    return incident


@transaction.atomic
def note_add(
    *,
    incident: Incident,
    body: str,
    author: AbstractBaseUser | None = None,
    author_name: str = "",
    origin: str = Note.Origin.CONSOLE,
    external_id: str = "",
) -> Note:
    body = body.strip()
    if not body:
        raise IncidentTransitionError("a note needs some text")
    if external_id and Note.objects.filter(incident=incident, external_id=external_id).exists():
        return Note.objects.get(incident=incident, external_id=external_id)
    note = Note.objects.create(
        incident=incident,
        body=body,
        author=author if author is not None and author.is_authenticated else None,
        author_name=author_name or (author.get_username() if author is not None and author.is_authenticated else ""),
        origin=origin,
        external_id=external_id,
    )
    timeline_event_record(incident=incident, kind=TimelineEvent.Kind.NOTE, actor=author, origin=origin, message=body[:500])
    hooks.incident_changed(hooks.IncidentChange(incident.pk, "note", origin, {"note_id": note.pk}))
    return note


@transaction.atomic
def feedback_record(
    *,
    incident: Incident,
    user: AbstractBaseUser | None,
    verdict: str,
    correct_service: Service | None = None,
    comment: str = "",
    origin: str = TimelineEvent.Origin.CONSOLE,
) -> Feedback:
    """Store the verdict and audit it. What learns from it listens on incidents.hooks (the change
    carries `feedback_id`): correlation queues the model update once the row has committed."""
    if verdict not in Feedback.Verdict.values:
        raise ValueError(f"{verdict!r} is not a verdict; use one of {', '.join(Feedback.Verdict.values)}")
    feedback = Feedback(
        incident=incident,
        user=user if user is not None and user.is_authenticated else None,
        verdict=verdict,
        correct_service=correct_service,
        suggested_root_cause=correct_service.name if correct_service else None,
        comment=comment,
    )
    feedback.full_clean()
    feedback.save()
    label = Feedback.Verdict(verdict).label.lower()
    said = f"root cause {incident.root_cause_service.name if incident.root_cause_service_id else '(none)'}: {label}"
    if correct_service:
        said += f"; the right service is {correct_service.name}"
    timeline_event_record(
        incident=incident, kind=TimelineEvent.Kind.FEEDBACK, actor=user, origin=origin,
        to_value=verdict, message=f"{said}. {comment}".strip(),
    )
    hooks.incident_changed(hooks.IncidentChange(incident.pk, "updated", origin, {"feedback_id": feedback.pk}))
    return feedback
