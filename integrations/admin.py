from django.contrib import admin

from integrations.models import InboundPayload, OutboxMessage, PagerDutyIncident, SlackInstallation, SlackMessage, SlackUserLink


@admin.register(InboundPayload)
class InboundPayloadAdmin(admin.ModelAdmin):
    list_display = ("source", "received_at", "status")
    list_filter = ("source", "status")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "provider", "kind", "target", "incident", "status", "attempts", "next_attempt_at", "last_error")
    list_filter = ("provider", "kind", "status")
    raw_id_fields = ("incident",)


@admin.register(SlackUserLink)
class SlackUserLinkAdmin(admin.ModelAdmin):
    """Link a Slack user to a Cleara user by hand (when their e-mails differ)."""

    list_display = ("team_id", "slack_user_id", "user", "source", "created_at")
    list_filter = ("source",)
    raw_id_fields = ("user",)


@admin.register(SlackInstallation)
class SlackInstallationAdmin(admin.ModelAdmin):
    list_display = ("team_name", "team_id", "enterprise_id", "user_id", "incoming_webhook_channel", "installed_at")
    exclude = ("bot_token", "data")  # secrets stay out of the admin pages


@admin.register(SlackMessage)
class SlackMessageAdmin(admin.ModelAdmin):
    list_display = ("incident", "team_id", "channel", "ts", "posted_at", "updated_at")
    raw_id_fields = ("incident",)


@admin.register(PagerDutyIncident)
class PagerDutyIncidentAdmin(admin.ModelAdmin):
    list_display = ("incident", "dedup_key", "pd_incident_id", "triggered_at")
    raw_id_fields = ("incident",)
