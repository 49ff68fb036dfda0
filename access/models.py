"""The audit log, and the permissions the roles are made of.

The permissions hang off AuditEntry's content type (Django needs one); they are the capabilities
of access.roles.Action, not permissions on audit rows.
"""
from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One change (or a refused attempt at one): who, through what, on what, with what input."""

    class Via(models.TextChoices):
        CONSOLE = "console"
        API = "api"
        ADMIN = "admin"
        SLACK = "slack"
        WEBHOOK = "webhook"
        COMMAND = "command"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200, help_text="the user, 'token:NAME', 'slack:UID as USER', 'pagerduty' ...")
    via = models.CharField(max_length=16, choices=Via.choices)
    action = models.CharField(max_length=120, help_text="the view or command, e.g. incidents:status")
    method = models.CharField(max_length=8, blank=True)
    path = models.CharField(max_length=500, blank=True)
    target = models.CharField(max_length=200, blank=True, help_text="what it changed, e.g. incident 12")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    allowed = models.BooleanField(default=True)
    details = models.JSONField(default=dict, blank=True, help_text="the input, secrets masked, long values cut")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        permissions = [
            ("view_console", "See incidents, events, topology and stats"),
            ("respond", "Collaborate on incidents: notes, assignment, status, resolution, feedback"),
            ("manage_patterns", "Change correlation patterns"),
            ("manage_models", "Train, activate and roll back models"),
            ("manage_integrations", "Configure and test integrations"),
            ("manage_topology", "Replace the service topology"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target}".strip()
