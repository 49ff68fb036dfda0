"""Prometheus Alertmanager's webhook payload (version 4) and its mapping to Cleara events.

Alertmanager re-sends a group on every repeat_interval: an alert's client id is derived from its
fingerprint, status and start, so a re-sent alert is not stored twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from incidents.errors import IngestValidationError
from incidents.ingest import EventIn, timestamp_parse
from incidents.models import Event, Severity

SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "job", "container", "namespace")
SEVERITY_MAP = {
    "critical": Severity.CRITICAL, "page": Severity.CRITICAL, "error": Severity.CRITICAL, "high": Severity.CRITICAL,
    "fatal": Severity.CRITICAL, "emergency": Severity.CRITICAL, "disaster": Severity.CRITICAL,
    "warning": Severity.WARNING, "warn": Severity.WARNING, "medium": Severity.WARNING, "major": Severity.WARNING,
    "minor": Severity.WARNING, "info": Severity.INFO, "low": Severity.INFO, "none": Severity.INFO, "informational": Severity.INFO,
}


@dataclass
class AlertmanagerAlert:
    status: str
    labels: dict
    annotations: dict
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str


@dataclass
class AlertmanagerBatch:
    version: str
    group_key: str
    status: str
    receiver: str
    external_url: str
    common_labels: dict = field(default_factory=dict)
    alerts: list[AlertmanagerAlert] = field(default_factory=list)
    truncated_alerts: int = 0


def batch_parse(data) -> AlertmanagerBatch:
    """Check a decoded webhook body and turn it into a batch; every problem is named."""
    errors: list[dict] = []
    if not isinstance(data, dict):
        raise IngestValidationError([{"index": None, "field": "", "reason": "expected a JSON object"}], "not an Alertmanager webhook payload")
    version = str(data.get("version", ""))
    if version != "4":
        errors.append({"index": None, "field": "version", "reason": f"expected \"4\" (Alertmanager webhook format), got {version!r}"})
    alerts_raw = data.get("alerts")
    if not isinstance(alerts_raw, list):
        errors.append({"index": None, "field": "alerts", "reason": "required, a list"})
        alerts_raw = []
    alerts = []
    for i, raw in enumerate(alerts_raw):
        if not isinstance(raw, dict):
            errors.append({"index": i, "field": "", "reason": "expected an object"})
            continue
        status = raw.get("status")
        if status not in ("firing", "resolved"):
            errors.append({"index": i, "field": "status", "reason": f"expected firing or resolved, got {status!r}"})
        labels = raw.get("labels")
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            errors.append({"index": i, "field": "labels", "reason": "required, an object of strings"})
            labels = {}
        annotations = raw.get("annotations") or {}
        if not isinstance(annotations, dict):
            errors.append({"index": i, "field": "annotations", "reason": "expected an object"})
            annotations = {}
        try:
            starts_at = timestamp_parse(raw.get("startsAt"))
        except ValueError as exc:
            errors.append({"index": i, "field": "startsAt", "reason": str(exc)})
            starts_at = None
        ends_at = None
        if raw.get("endsAt"):
            try:
                ends_at = timestamp_parse(raw["endsAt"])
            except ValueError as exc:
                errors.append({"index": i, "field": "endsAt", "reason": str(exc)})
            if ends_at is not None and ends_at.year <= 1:  # Go's zero time: "not ended"
                ends_at = None
        if status == "resolved" and ends_at is None and not any(e["index"] == i for e in errors):
            errors.append({"index": i, "field": "endsAt", "reason": "a resolved alert needs endsAt"})
        fingerprint = raw.get("fingerprint") or ""
        if not isinstance(fingerprint, str):
            errors.append({"index": i, "field": "fingerprint", "reason": "expected a string"})
            fingerprint = ""
        alerts.append(
            AlertmanagerAlert(
                status=status, labels=labels, annotations=annotations, starts_at=starts_at, ends_at=ends_at,
                generator_url=str(raw.get("generatorURL") or ""), fingerprint=fingerprint,
            )
        )
    if errors:
        raise IngestValidationError(errors, "invalid Alertmanager payload: no alert was stored")
    return AlertmanagerBatch(
        version=version, group_key=str(data.get("groupKey", "")), status=str(data.get("status", "")),
        receiver=str(data.get("receiver", "")), external_url=str(data.get("externalURL", "")),
        common_labels=data.get("commonLabels") or {}, alerts=alerts, truncated_alerts=int(data.get("truncatedAlerts") or 0),
    )


def alert_service(alert: AlertmanagerAlert, batch: AlertmanagerBatch) -> str:
    for key in SERVICE_LABELS:
        value = alert.labels.get(key) or batch.common_labels.get(key)
        if value:
            return value
    return alert.labels.get("instance", "unknown").split(":")[0] or "unknown"


def batch_to_events(batch: AlertmanagerBatch) -> list[EventIn]:
    events = []
    for alert in batch.alerts:
        name = alert.labels.get("alertname", "alert")
        summary = alert.annotations.get("summary") or alert.annotations.get("description") or name
        firing = alert.status == "firing"
        severity = SEVERITY_MAP.get(alert.labels.get("severity", "").lower(), Severity.WARNING) if firing else Severity.INFO
        fingerprint = alert.fingerprint or name
        events.append(
            EventIn(
                timestamp=alert.starts_at if firing else alert.ends_at,
                service=alert_service(alert, batch),
                type=Event.Type.ALERT,
                severity=severity,
                message=summary if firing else f"RESOLVED: {summary}",
                host=alert.labels.get("instance", "")[:255],
                fingerprint=f"am:{name}:{fingerprint}"[:128],
                attributes={
                    "alert_status": alert.status,
                    "alertname": name,
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                    "starts_at": alert.starts_at.isoformat(),
                    "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
                    "generator_url": alert.generator_url,
                    "group_key": batch.group_key,
                    "receiver": batch.receiver,
                },
                client_id=f"am:{fingerprint}:{alert.status}:{alert.starts_at.isoformat()}"[:200],
            )
        )
    return events
