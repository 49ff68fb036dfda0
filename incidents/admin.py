from django.contrib import admin

from incidents.models import ApiToken, Event, Feedback, Incident, Note, Pattern, Service, TimelineEvent


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "tier", "team")
    search_fields = ("name", "team")
    filter_horizontal = ("depends_on",)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "service", "type", "severity", "message", "incident")
    list_filter = ("type", "severity", "source")
    search_fields = ("message", "client_id", "fingerprint")
    raw_id_fields = ("service", "incident")
    show_full_result_count = False  # counting millions of events on every page is slow


class TimelineInline(admin.TabularInline):
    model = TimelineEvent
    extra = 0
    readonly_fields = ("kind", "actor", "origin", "from_value", "to_value", "message", "created_at")


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("number", "title", "status", "severity", "root_cause_service", "confidence", "started_at")
    list_filter = ("status", "severity")
    search_fields = ("title", "summary")
    raw_id_fields = ("root_cause_service", "pattern", "assignee")
    filter_horizontal = ("services",)
    inlines = [TimelineInline]


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("incident", "author_name", "origin", "created_at")
    raw_id_fields = ("incident", "author")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by `manage.py create_api_token --scope ...` (the raw token is shown once,
    which a form cannot do); here an admin sees them, narrows their scopes and revokes them."""

    list_display = ("name", "hint", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("key_hash", "hint", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Pattern)
class PatternAdmin(admin.ModelAdmin):
    list_display = ("name", "incident_type", "origin", "state", "enabled")
    list_filter = ("state", "origin", "enabled", "incident_type")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    actions = ("accept", "reject")

    @admin.action(description="Accept: the pattern takes part in correlation at once")
    def accept(self, request, queryset):
        n = queryset.update(state=Pattern.State.ACCEPTED, enabled=True)
        self.message_user(request, f"{n} pattern(s) accepted and enabled.")

    @admin.action(description="Reject: keep it (so it is not proposed again) but disabled")
    def reject(self, request, queryset):
        n = queryset.update(state=Pattern.State.REJECTED, enabled=False)
        self.message_user(request, f"{n} pattern(s) rejected.")


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("incident", "verdict", "correct_service", "user", "created_at", "applied_at")
    list_filter = ("verdict",)
    raw_id_fields = ("incident", "correct_service", "user")
