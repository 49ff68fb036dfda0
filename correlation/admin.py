from django.contrib import admin

from correlation.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("kind", "version", "trained_at", "active", "data_start", "data_end", "metrics_summary")
    list_filter = ("kind", "active")
    exclude = ("artefact",)
    # Activation goes through the registry service (it also seeds the series baselines), so
    # the flag is not editable here: use the action.
    readonly_fields = ("trained_at", "active", "artefact_size")
    actions = ["activate"]

    @admin.display(description="metrics")
    def metrics_summary(self, obj: ModelVersion) -> str:
        m = obj.metrics or {}
        parts = [f"{k}={m[k]}" for k in ("series", "points", "anomalies") if k in m]
        if "nab" in m:
            parts.append(f"NAB={m['nab'].get('standard')}")
        return ", ".join(parts)

    @admin.display(description="artefact")
    def artefact_size(self, obj: ModelVersion) -> str:
        return f"{len(obj.artefact):,} bytes" if obj.artefact else "-"

    @admin.action(description="Activate the selected version (one per kind)")
    def activate(self, request, queryset):
        from correlation.training import model_activate

        chosen = {}
        for version in queryset.order_by("kind", "-version"):
            chosen.setdefault(version.kind, version)
        for version in chosen.values():
            model_activate(model_version=version)
            self.message_user(request, f"{version} is now live.")
