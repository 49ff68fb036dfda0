from django.contrib import admin

from correlation.models import Feedback, ModelVersion, Pattern


@admin.register(Pattern)
class PatternAdmin(admin.ModelAdmin):
    list_display = ("name", "incident_type", "origin", "enabled")
    list_filter = ("origin", "enabled", "incident_type")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("incident", "verdict", "correct_service", "user", "created_at", "applied_at")
    list_filter = ("verdict",)
    raw_id_fields = ("incident", "correct_service", "user")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("kind", "version", "trained_at", "active")
    list_filter = ("kind", "active")
    exclude = ("artefact",)
    readonly_fields = ("trained_at",)
