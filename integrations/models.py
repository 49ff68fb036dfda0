"""What crosses Cleara's border: raw inbound webhook payloads (kept so nothing accepted is lost),
the outbox of notifications going out, and what Cleara knows of Slack and PagerDuty."""
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from cleara.encryption import EncryptedJSONField, EncryptedTextField


class InboundPayload(models.Model):
    """A webhook body exactly as received, stored before it is processed."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=50)
    received_at = models.DateTimeField(default=timezone.now)
    body = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)
    # The sender's id of the delivery (PagerDuty's event.id): a body delivered again is stored once.
    external_id = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["source", "received_at"], name="inbound_source_received")]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], condition=~models.Q(external_id=""), name="inbound_once_per_external_id"),
        ]


def _outbox_key() -> str:
    return uuid.uuid4().hex


class OutboxMessage(models.Model):
    """One notification to another system, written in the transaction of the change it reports.

    Messages of one stream (provider, target, incident) go out in id order; a retry waits for
    `next_attempt_at`. `key` is sent along where the service keeps it (Slack message metadata, a
    PagerDuty note's last line) so that a retry after an unclear failure can tell whether the first
    attempt landed and never posts twice.
    """

    class Provider(models.TextChoices):
        SLACK = "slack", "Slack"
        PAGERDUTY = "pagerduty", "PagerDuty"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded"

    key = models.CharField(max_length=40, unique=True, default=_outbox_key)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    kind = models.CharField(max_length=40)
    # Slack: the workspace (team id) whose installation sends it; "" is the SLACK_BOT_TOKEN workspace.
    target = models.CharField(max_length=100, blank=True, default="")
    incident = models.ForeignKey("incidents.Incident", null=True, blank=True, on_delete=models.CASCADE, related_name="outbox_messages")
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A delivery in progress holds the message until then; a worker that died lets go by itself.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # The last attempt failed in a way the service may have acted on (timeout, 5xx, dropped connection).
    maybe_sent = models.BooleanField(default=False)
    last_error = models.TextField(blank=True, default="")
    last_status = models.PositiveIntegerField(null=True, blank=True)
    # What the service gave back: a Slack ts, a PagerDuty dedup key or note id.
    remote_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["provider", "target", "incident", "status", "id"], name="outbox_stream"),
            models.Index(fields=["created_at"], name="outbox_created"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} #{self.pk} ({self.status})"


class SlackMessage(models.Model):
    """The Slack message that shows an incident in a workspace: later changes chat.update it and reply in its thread."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="slack_messages")
    team_id = models.CharField(max_length=50, blank=True, default="")
    channel = models.CharField(max_length=50)
    ts = models.CharField(max_length=50)
    posted_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "team_id"], name="one_slack_message_per_workspace")]
        indexes = [models.Index(fields=["channel", "ts"], name="slack_message_channel_ts")]


class PagerDutyIncident(models.Model):
    """An incident Cleara sent to PagerDuty: its dedup key, and PagerDuty's own incident id once known."""

    incident = models.OneToOneField("incidents.Incident", on_delete=models.CASCADE, related_name="pagerduty")
    dedup_key = models.CharField(max_length=255, unique=True)
    pd_incident_id = models.CharField(max_length=50, blank=True, default="", db_index=True)
    triggered_at = models.DateTimeField(default=timezone.now)


class SlackInstallation(models.Model):
    """One OAuth install of the Slack app (Bolt's Installation, kept per workspace and installer)."""

    client_id = models.CharField(max_length=100)
    app_id = models.CharField(max_length=50, blank=True, default="")
    enterprise_id = models.CharField(max_length=50, blank=True, default="")
    team_id = models.CharField(max_length=50, blank=True, default="")
    team_name = models.CharField(max_length=200, blank=True, default="")
    user_id = models.CharField(max_length=50, blank=True, default="")
    bot_token = EncryptedTextField(blank=True, default="")  # encrypted at rest (cleara.encryption)
    bot_id = models.CharField(max_length=50, blank=True, default="")
    bot_user_id = models.CharField(max_length=50, blank=True, default="")
    incoming_webhook_channel_id = models.CharField(max_length=50, blank=True, default="")
    incoming_webhook_channel = models.CharField(max_length=200, blank=True, default="")
    is_enterprise_install = models.BooleanField(default=False)
    installed_at = models.DateTimeField(default=timezone.now)
    # Everything Bolt's Installation holds, so that find_installation gives back what save got
    # (its tokens included: encrypted at rest).
    data = EncryptedJSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-installed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["client_id", "enterprise_id", "team_id", "user_id"], name="one_slack_install_per_installer"),
        ]

    def __str__(self) -> str:
        return f"{self.team_name or self.team_id or self.enterprise_id} ({self.team_id})"


class SlackOAuthState(models.Model):
    """An OAuth `state` handed out by /slack/install, consumed once by /slack/oauth_redirect."""

    state = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)


class SlackUserLink(models.Model):
    """Which Cleara user a Slack user is: linked by hand, or found by e-mail (users.info) and kept."""

    class Source(models.TextChoices):
        EXPLICIT = "explicit", "Linked by hand"
        EMAIL = "email", "Matched by e-mail"

    team_id = models.CharField(max_length=50)
    slack_user_id = models.CharField(max_length=50)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_links")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.EXPLICIT)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team_id", "slack_user_id"], name="one_cleara_user_per_slack_user")]
