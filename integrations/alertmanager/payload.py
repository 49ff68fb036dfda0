"""Prometheus Alertmanager's webhook payload (version 4) and its mapping to Cleara events.

Alertmanager re-sends a group on every repeat_interval: an alert's client id is derived from its
fingerprint, status and start, so a re-sent alert is not stored twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from incidents.errors import IngestRejected, IngestValidationError
from incidents.ingest import MAX_LEN, EventIn, TimestampWindow, timestamp_computable, timestamp_parse
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
    # Firing alerts that started before the window (INGEST_MAX_PAST_DAYS): Alertmanager resends
    # every firing alert of a group with its original startsAt, so an alert firing for weeks comes
    # back in every notification of its group. It is left out (named here), not the whole batch:
    # a 4xx would lose the group's new alerts, since Alertmanager does not retry one.
    skipped: list[dict] = field(default_factory=list)


MAX_LABEL_VALUE = 1024  # a label value longer than this is not a label (Prometheus has no limit)
MAX_SERVICE = MAX_LEN["service"]  # the Service.name column
MAX_ANNOTATION = MAX_LEN["message"]  # summary/description become the event's message
ZERO_TIME_YEAR = 1  # Go's zero time (0001-01-01T00:00:00Z): Alertmanager's "not resolved yet"


def _strings(value, where: str, errors: list[dict], index: int | None, *, limit: int, required: bool = False) -> dict:
    """An object of strings (labels, annotations), each at most `limit` characters; {} when absent."""
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        errors.append({"index": index, "field": where, "reason": f"{'required, ' if required else ''}expected an object of strings, got {type(value).__name__}"})
        return {}
    for key, item in value.items():
        if not isinstance(item, str):
            errors.append({"index": index, "field": f"{where}.{key}", "reason": f"expected a string, got {type(item).__name__}"})
        elif len(item) > limit:
            errors.append({"index": index, "field": f"{where}.{key}", "reason": f"longer than {limit} characters ({len(item)})"})
    return {key: item for key, item in value.items() if isinstance(item, str)}


def _time(raw, index: int, name: str, errors: list[dict], window: TimestampWindow | None, *, check_window: bool) -> datetime | None:
    try:
        ts = timestamp_parse(raw)
    except ValueError as exc:
        errors.append({"index": index, "field": name, "reason": str(exc)})
        return None
    problem = window.problem(ts) if window and check_window else None
    if problem is None and not timestamp_computable(ts):
        problem = f"{ts.isoformat()} is outside the range Cleara stores (1970 to 2199)"
    if problem:
        errors.append({"index": index, "field": name, "reason": problem})
        return None
    return ts


def batch_parse(data, *, window: TimestampWindow | None = None, max_alerts: int | None = None) -> AlertmanagerBatch:
    """Check a decoded webhook body and turn it into a batch; every problem is named.

    The event's own time (a firing alert's startsAt, a resolved one's endsAt) must lie in `window`;
    an endsAt of Go's zero time means "not resolved" and is read as absent."""
    errors: list[dict] = []
    if not isinstance(data, dict):
        raise IngestValidationError([{"index": None, "field": "", "reason": "expected a JSON object"}], "not an Alertmanager webhook payload")
    version = data.get("version", "")
    if version != "4":
        errors.append({"index": None, "field": "version", "reason": f"expected \"4\" (Alertmanager webhook format), got {version!r}"})
    for name in ("groupKey", "status", "receiver", "externalURL"):
        if data.get(name) is not None and not isinstance(data[name], str):
            errors.append({"index": None, "field": name, "reason": f"expected a string, got {type(data[name]).__name__}"})
    truncated = data.get("truncatedAlerts", 0)
    if truncated is None:
        truncated = 0
    if isinstance(truncated, float) and truncated.is_integer() and abs(truncated) < 2**63:
        truncated = int(truncated)  # 3.0 is an integer to JSON Schema (and to the OpenAPI we publish)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        errors.append({"index": None, "field": "truncatedAlerts", "reason": f"expected a whole number 0 or more, got {truncated!r}"[:200]})
        truncated = 0
    common_labels = _strings(data.get("commonLabels"), "commonLabels", errors, None, limit=MAX_LABEL_VALUE)
    _strings(data.get("groupLabels"), "groupLabels", errors, None, limit=MAX_LABEL_VALUE)
    _strings(data.get("commonAnnotations"), "commonAnnotations", errors, None, limit=MAX_ANNOTATION)
    alerts_raw = data.get("alerts")
    if not isinstance(alerts_raw, list):
        errors.append({"index": None, "field": "alerts", "reason": "required, a list"})
        alerts_raw = []
    if max_alerts is not None and len(alerts_raw) > max_alerts:
        raise IngestRejected(
            f"the payload holds {len(alerts_raw)} alerts; at most {max_alerts} per request (ALERTMANAGER_MAX_ALERTS): "
            "lower max_alerts in the receiver's webhook_config", status=413,
        )
    alerts = []
    skipped: list[dict] = []
    for i, raw in enumerate(alerts_raw):
        if not isinstance(raw, dict):
            errors.append({"index": i, "field": "", "reason": "expected an object"})
            continue
        before = len(errors)
        status = raw.get("status")
        if status not in ("firing", "resolved"):
            errors.append({"index": i, "field": "status", "reason": f"expected firing or resolved, got {status!r}"[:200]})
        labels = _strings(raw.get("labels"), "labels", errors, i, limit=MAX_LABEL_VALUE, required=True)
        annotations = _strings(raw.get("annotations"), "annotations", errors, i, limit=MAX_ANNOTATION)
        if status == "firing" and window is not None and _long_firing(raw.get("startsAt"), window):
            skipped.append({"index": i, "field": "startsAt",
                            "reason": f"firing since before the ingest window ({window.past.days} days; INGEST_MAX_PAST_DAYS): not stored again"})
            continue
        starts_at = _time(raw.get("startsAt"), i, "startsAt", errors, window, check_window=status == "firing")
        ends_at = None
        ends_raw = raw.get("endsAt")
        if ends_raw and not (isinstance(ends_raw, str) and ends_raw.startswith("0001-01-01")):
            ends_at = _time(ends_raw, i, "endsAt", errors, window, check_window=status == "resolved")
        if status == "resolved" and ends_at is None and len(errors) == before:
            errors.append({"index": i, "field": "endsAt", "reason": "a resolved alert needs endsAt"})
        fingerprint = raw.get("fingerprint") or ""
        if not isinstance(fingerprint, str):
            errors.append({"index": i, "field": "fingerprint", "reason": "expected a string"})
            fingerprint = ""
        generator_url = raw.get("generatorURL") or ""
        if not isinstance(generator_url, str):
            errors.append({"index": i, "field": "generatorURL", "reason": "expected a string"})
            generator_url = ""
        alert = AlertmanagerAlert(
            status=status, labels=labels, annotations=annotations, starts_at=starts_at, ends_at=ends_at,
            generator_url=generator_url, fingerprint=fingerprint,
        )
        if len(errors) == before:
            label, service = _service_label(alert.labels, common_labels)
            if len(service) > MAX_SERVICE:
                errors.append({"index": i, "field": label, "reason": f"the service name is longer than {MAX_SERVICE} characters ({len(service)})"})
        alerts.append(alert)
    if errors:
        raise IngestValidationError(errors, "invalid Alertmanager payload: no alert was stored")
    return AlertmanagerBatch(
        version=version, group_key=data.get("groupKey") or "", status=data.get("status") or "",
        receiver=data.get("receiver") or "", external_url=data.get("externalURL") or "",
        common_labels=common_labels, alerts=alerts, truncated_alerts=truncated, skipped=skipped,
    )


def _long_firing(raw, window: TimestampWindow) -> bool:
    """A well-formed startsAt before the window's start (and after 1970: older is a broken clock)."""
    try:
        ts = timestamp_parse(raw)
    except ValueError:
        return False
    return timestamp_computable(ts) and ts < window.now - window.past


def _service_label(labels: dict, common_labels: dict) -> tuple[str, str]:
    """(where the service name comes from, the name): the first service-like label, else the
    instance's host."""
    for key in SERVICE_LABELS:
        if labels.get(key):
            return f"labels.{key}", labels[key]
        if common_labels.get(key):
            return f"commonLabels.{key}", common_labels[key]
    return "labels.instance", labels.get("instance", "unknown").split(":")[0] or "unknown"


def alert_service(alert: AlertmanagerAlert, batch: AlertmanagerBatch) -> str:
    return _service_label(alert.labels, batch.common_labels)[1]


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
