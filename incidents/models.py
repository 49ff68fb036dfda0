"""The incident domain: services and their dependency graph, events, incidents and their audit trail,
the catalogue of failure patterns the console and the engine read, and feedback on root causes.

Events are the time series (millions of rows): every index below serves a query the product
makes (ingest dedup, correlation windows, the console's timeline and log search, stats).
"""
from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from incidents.analysis import AnalysisShapeError, Hypothesis, analysis_from_json
from incidents.links import validate_http_url


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


SEVERITY_RANK = {Severity.CRITICAL: 3, Severity.WARNING: 2, Severity.INFO: 1}


class Service(models.Model):
    name = models.CharField(max_length=200, unique=True)
    tier = models.CharField(max_length=50, blank=True, default="")
    team = models.CharField(max_length=200, blank=True, default="")
    runbook_url = models.URLField(max_length=500, blank=True, default="", validators=[validate_http_url])
    description = models.TextField(blank=True, default="")
    # "checkout depends on payments": a failure of payments spreads to checkout.
    depends_on = models.ManyToManyField("self", symmetrical=False, related_name="dependants", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    class Type(models.TextChoices):
        ALERT = "alert", "Alert"
        LOG = "log", "Log"
        METRIC = "metric", "Metric"
        ANOMALY = "anomaly", "Anomaly"

    class Source(models.TextChoices):
        API = "api", "Ingest API"
        ALERTMANAGER = "alertmanager", "Alertmanager"
        DETECTOR = "detector", "Anomaly detector"
        SIMULATOR = "simulator", "Simulator"

    timestamp = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    # No single-column index on service or incident: event_service_ts and event_incident_ts start
    # with them and serve every lookup by either (migration 0012 dropped the duplicates).
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="events", db_index=False)
    type = models.CharField(max_length=10, choices=Type.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    message = models.TextField(blank=True, default="")
    metric = models.CharField(max_length=200, blank=True, default="")
    value = models.FloatField(null=True, blank=True)
    host = models.CharField(max_length=255, blank=True, default="")
    fingerprint = models.CharField(max_length=128, blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    # The client's own id: sending the same id twice never stores the event twice.
    client_id = models.CharField(max_length=200, null=True, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.API)
    incident = models.ForeignKey("Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="events", db_index=False)
    # A log's template (correlation.templating mines it at ingest) and the values at its <*>s.
    # Indexed only with its service, for templated lines (event_service_template_ts): whether a
    # service logged a template before (correlation.loading.templates_seen); templates are never deleted.
    template = models.ForeignKey("LogTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    template_params = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["timestamp", "id"]
        # No unique constraint on client_id: on PostgreSQL events are partitioned by timestamp
        # (incidents.retention), where a unique index must hold the partition key; EventClientId
        # keeps the ids unique instead, on every backend.
        indexes = [
            models.Index(fields=["timestamp"], name="event_ts"),
            models.Index(fields=["service", "timestamp"], name="event_service_ts"),
            models.Index(fields=["incident", "timestamp"], name="event_incident_ts"),
            models.Index(fields=["type", "timestamp"], name="event_type_ts"),
            models.Index(fields=["service", "metric", "host", "timestamp"], name="event_series_ts"),
            models.Index(fields=["service", "template", "timestamp"], name="event_service_template_ts", condition=Q(template__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.service_id} {self.type} {self.message[:60]}"


class EventClientId(models.Model):
    """The client ids of stored events, unique: what makes "an id sent again is never stored
    twice" hold while the events themselves are partitioned by time (a partitioned table cannot
    have a unique index without the partition key). Inserted in the batch's transaction; a
    concurrent batch with the same id fails on the primary key and is retried (incidents.ingest).
    Retention deletes the ids of the events it drops."""

    client_id = models.CharField(max_length=200, primary_key=True)
    timestamp = models.DateTimeField(db_index=True, help_text="The event's timestamp (retention deletes by it).")

    def __str__(self) -> str:
        return self.client_id


class EventRollup(models.Model):
    """Events counted per hour, service, type, severity and source: written at ingest in the
    transaction that stores the batch (incidents.rollups), so the stats and the dashboard's
    trend read a row per hour and key whatever the number of events, and keep counting events
    that retention has dropped (incidents.partitions)."""

    hour = models.DateTimeField(help_text="Start of the hour (UTC) of the events' timestamp.")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+", db_index=False)
    type = models.CharField(max_length=10, choices=Event.Type.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    source = models.CharField(max_length=20, choices=Event.Source.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # The upsert's conflict target; it also serves every read (hour first).
            models.UniqueConstraint(fields=["hour", "service", "type", "severity", "source"], name="event_rollup_key"),
        ]
        indexes = [models.Index(fields=["service", "hour"], name="event_rollup_service_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.service_id} {self.type}/{self.severity}/{self.source}: {self.count}"


class LogTemplate(models.Model):
    """The shape of a family of log lines ("session opened for user <*> by (uid=<*>)").

    Mined online at ingest (correlation.templating); the id is the miner's. A template that later
    merged into a more general one points at it: `live()` follows the chain.
    """

    id = models.BigIntegerField(primary_key=True)
    text = models.TextField()
    size = models.PositiveBigIntegerField(default=0, help_text="Log lines it took, as the miner counts them.")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-size", "id"]

    def __str__(self) -> str:
        return self.text[:120]

    def live(self) -> LogTemplate:
        template, hops = self, 0
        while template.merged_into_id is not None and hops < 50:
            template, hops = template.merged_into, hops + 1
        return template


class Incident(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        INVESTIGATING = "investigating", "Investigating"
        RESOLVED = "resolved", "Resolved"
        FALSE_POSITIVE = "false_positive", "False positive"

    OPEN_STATUSES = (Status.OPEN, Status.INVESTIGATING)

    number = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=300)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    grouping_key = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    root_cause_service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="root_cause_of")
    pattern = models.ForeignKey("Pattern", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents")
    summary = models.TextField(blank=True, default="")
    confidence = models.FloatField(default=0.0)
    # The root-cause hypotheses, best first, in the one shape of incidents.analysis (read: `analysis`).
    hypotheses = models.JSONField(default=list, blank=True)
    services = models.ManyToManyField(Service, related_name="incidents", blank=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_incidents")
    tags = models.JSONField(default=list, blank=True)
    incident_type = models.CharField(max_length=100, blank=True, default="")
    resolution_notes = models.TextField(blank=True, default="")
    event_count = models.PositiveIntegerField(default=0)
    alert_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["grouping_key"], condition=Q(status__in=["open", "investigating"]), name="one_open_incident_per_key"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "last_event_at"], name="incident_status_last"),
            models.Index(fields=["severity", "started_at"], name="incident_sev_started"),
            models.Index(fields=["started_at"], name="incident_started"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", args=[self.number])

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def clean(self) -> None:
        # The admin edits `hypotheses` as raw JSON: refuse anything not in the one shape.
        try:
            analysis_from_json(self.hypotheses)
        except AnalysisShapeError as exc:
            raise ValidationError({"hypotheses": str(exc)}) from exc

    @property
    def analysis(self) -> list[Hypothesis]:
        """The hypotheses, typed (incidents.analysis)."""
        return analysis_from_json(self.hypotheses)

    @property
    def root_cause_candidates(self) -> list[str]:
        return [h.service for h in self.analysis]


class TimelineEvent(models.Model):
    """The audit trail: every state change of an incident, by whom and from where."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        STATUS = "status", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        ROOT_CAUSE = "root_cause", "Root cause changed"
        SEVERITY = "severity", "Severity changed"
        NOTE = "note", "Note added"
        FEEDBACK = "feedback", "Feedback given"
        NOTIFIED = "notified", "Notification sent"

    class Origin(models.TextChoices):
        SYSTEM = "system", "Cleara"
        CONSOLE = "console", "Console"
        API = "api", "API"
        SLACK = "slack", "Slack"
        PAGERDUTY = "pagerduty", "PagerDuty"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.SYSTEM)
    from_value = models.CharField(max_length=200, blank=True, default="")
    to_value = models.CharField(max_length=200, blank=True, default="")
    message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["incident", "created_at"], name="timeline_incident_created")]


class Note(models.Model):
    """A comment on an incident (Markdown, rendered safely)."""

    class Origin(models.TextChoices):
        CONSOLE = "console", "Console"
        SLACK = "slack", "Slack"
        PAGERDUTY = "pagerduty", "PagerDuty"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=200, blank=True, default="")
    body = models.TextField()
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.CONSOLE)
    external_id = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]


class Pattern(models.Model):
    """A known failure mode: how it is recognised and what to do about it."""

    class Origin(models.TextChoices):
        BUILTIN = "builtin", "Built-in"
        LEARNED = "learned", "Learned"
        CURATED = "curated", "Curated"

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    incident_type = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    # How it is recognised: {"keywords": [...], "metrics": [...], "min_score": float}
    signals = models.JSONField(default=dict, blank=True)
    remediation = models.JSONField(default=list, blank=True, help_text="Ordered remediation steps.")
    runbook_url = models.URLField(max_length=500, blank=True, default="", validators=[validate_http_url])
    class State(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.CURATED)
    # Learned patterns start proposed (and disabled) until a curator accepts them in the admin.
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACCEPTED)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Feedback(models.Model):
    """An engineer's verdict on an incident's root cause; it feeds retraining."""

    class Verdict(models.TextChoices):
        YES = "yes", "Correct"
        NO = "no", "Wrong"
        PARTIAL = "partial", "Partly right"

    incident = models.ForeignKey("Incident", on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    suggested_root_cause = models.CharField(max_length=200, null=True, blank=True)
    correct_service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True, help_text="When a model update took this feedback in.")

    class Meta:
        ordering = ["-created_at"]


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _scopes_validate(value) -> None:
    from access.roles import Scope

    known = [s.value for s in Scope]
    if not isinstance(value, list) or not all(isinstance(v, str) and v in known for v in value):
        raise ValidationError(f"scopes must be a list of {', '.join(known)}; got {value!r}")


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 is stored; the raw token is shown once.

    `scopes` say what it may do (access.roles: ingest, read, admin); a token with none can do
    nothing. `last_used_at` is written at most once a minute (cleara.auth.token_check)."""

    PREFIX = "clr_"

    name = models.CharField(max_length=200, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="The token's first characters, to tell tokens apart.")
    scopes = models.JSONField(default=list, blank=True, validators=[_scopes_validate],
                              help_text='What the token may do: a list of "ingest" (send events and alerts), "read" (the read API), "admin" (read, and models, patterns, topology).')
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def generate_raw(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @staticmethod
    def hash(raw: str) -> str:
        return _hash_token(raw)


class IngestMessage(models.Model):
    """A stored batch's share waiting for its partition's worker (incidents.queue): written in the
    transaction that stores the events, published to the partition's Redis stream after the commit,
    and deleted by the worker in the transaction that processes it. A row that outlives
    INGEST_REPUBLISH_SECONDS is published again (its first publish failed, or Redis lost it), and a
    row already deleted is a message already processed: nothing is lost and nothing runs twice."""

    kind = models.CharField(max_length=16)  # incidents.partitions.SERIES / COMPONENT
    partition = models.PositiveIntegerField()
    event_ids = models.JSONField(default=list)
    events = models.PositiveIntegerField(default=0)
    arrived_at = models.FloatField(help_text="When the events arrived (Unix time); for an anomaly, when the points it came from did.")
    due_at = models.DateTimeField(db_index=True, help_text="When the sweep publishes it again if it is still here.")

    class Meta:
        indexes = [models.Index(fields=["kind", "arrived_at"], name="ingestmsg_kind_arrived")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.partition} ({self.events} events)"
