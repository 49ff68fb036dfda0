from django.contrib import admin

from access.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the middleware and services, never edited by hand."""

    list_display = ("at", "actor_label", "via", "action", "target", "status_code", "allowed")
    list_filter = ("via", "allowed", "action")
    search_fields = ("actor_label", "action", "target", "path")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
