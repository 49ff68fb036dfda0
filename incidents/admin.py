import re

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

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


STEP_DETAIL = " — "  # separates a remediation step's action from its detail on its line


def step_line(step) -> str:
    """A stored remediation step (a string, or {"action", "detail"}) as the editor's line."""
    if isinstance(step, dict):
        action = step.get("action") or step.get("title") or step.get("step") or step.get("text") or ""
        detail = step.get("detail") or ""
        return f"{action}{STEP_DETAIL}{detail}" if detail else action
    return str(step)


def step_from_line(line: str):
    action, _, detail = line.partition(STEP_DETAIL)
    return {"action": action.strip(), "detail": detail.strip()} if detail.strip() else line


class LinesField(forms.CharField):
    """A list of strings edited one per line; blank lines dropped, duplicates (ignoring case) refused."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 60, "spellcheck": "false"})

    def __init__(self, *, item: str, pattern: str | None = None, max_length_each: int = 200, lower: bool = False, **kwargs):
        self.item, self.item_re, self.max_length_each, self.lower = item, re.compile(pattern) if pattern else None, max_length_each, lower
        super().__init__(strip=False, **kwargs)

    def prepare_value(self, value):
        return "\n".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value

    def clean(self, value) -> list[str]:
        text = super().clean(value) or ""
        items, seen, errors = [], set(), []
        for number, line in enumerate(text.splitlines(), start=1):
            line = " ".join(line.split())
            if not line:
                continue
            if self.lower:
                line = line.lower()
            if len(line) > self.max_length_each:
                errors.append(f"line {number}: a {self.item} is at most {self.max_length_each} characters ({len(line)} here)")
            elif self.item_re and not self.item_re.fullmatch(line):
                errors.append(f"line {number}: {line!r} is not a valid {self.item}")
            elif line.lower() in seen:
                errors.append(f"line {number}: {line!r} is listed twice")
            seen.add(line.lower())
            items.append(line)
        if errors:
            raise ValidationError(errors)
        if self.required and not items:
            raise ValidationError(f"give at least one {self.item}")
        return items


class PatternAdminForm(forms.ModelForm):
    """The pattern editor: the JSON of `signals` and `remediation` as fields with their rules
    (what correlation.patterns reads), instead of raw JSON boxes. Keys of `signals` this form does
    not know are kept as they are."""

    keywords = LinesField(item="keyword", required=False, max_length_each=120, lower=True,
                          help_text="One per line: words or phrases in alert messages and error logs (matched at the start of a word, any case).")
    metrics = LinesField(item="metric name", required=False, pattern=r"[A-Za-z_:][A-Za-z0-9_:]*", max_length_each=200,
                         help_text="One per line: names of metrics that misbehave in this failure (Prometheus names: letters, digits, _ and :).")
    tiers = LinesField(item="tier", required=False, pattern=r"[a-z][a-z0-9_-]*", max_length_each=50, lower=True,
                       help_text="One per line: the kinds of service where it usually starts (database, backend, edge, cache, queue...).")
    min_score = forms.FloatField(min_value=0.05, max_value=1.0, required=False,
                                 help_text="How much of the signals must match, 0.05 to 1 (empty: the matcher's default, 0.5).")
    steps = LinesField(item="remediation step", required=True, max_length_each=500, label="Remediation steps",
                       help_text=f"One per line, in the order to take them; the detail of a step after \"{STEP_DETAIL}\".")
    runbook_url = forms.URLField(required=False, max_length=500, assume_scheme="https", label="Runbook link",
                                 help_text="An http(s) page with the full procedure.")

    class Meta:
        model = Pattern
        fields = ("name", "slug", "incident_type", "description", "runbook_url", "origin", "state", "enabled")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        signals = self.instance.signals or {}
        if not self.is_bound:
            self.initial.update(keywords=signals.get("keywords", []), metrics=signals.get("metrics", []),
                                tiers=signals.get("tiers", []), min_score=signals.get("min_score"),
                                steps=[step_line(step) for step in self.instance.remediation or []])

    def clean_runbook_url(self) -> str:
        url = self.cleaned_data.get("runbook_url") or ""
        if url and not url.lower().startswith(("http://", "https://")):
            raise ValidationError("a runbook link starts with http:// or https://")
        return url

    def clean(self):
        data = super().clean()
        if not data.get("keywords") and not data.get("metrics") and "keywords" not in self.errors and "metrics" not in self.errors:
            raise ValidationError("A pattern is recognised by its keywords or its metrics: give at least one of either.")
        return data

    def save(self, commit: bool = True):
        pattern = super().save(commit=False)
        signals = {k: v for k, v in (pattern.signals or {}).items() if k not in ("keywords", "metrics", "tiers", "min_score")}
        signals.update(keywords=self.cleaned_data["keywords"], metrics=self.cleaned_data["metrics"], tiers=self.cleaned_data["tiers"])
        if self.cleaned_data.get("min_score") is not None:
            signals["min_score"] = self.cleaned_data["min_score"]
        pattern.signals = signals
        pattern.remediation = [step_from_line(line) for line in self.cleaned_data["steps"]]
        if commit:
            pattern.save()
        return pattern


@admin.register(Pattern)
class PatternAdmin(admin.ModelAdmin):
    form = PatternAdminForm
    list_display = ("name", "incident_type", "origin", "state", "enabled")
    list_filter = ("state", "origin", "enabled", "incident_type")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    actions = ("accept", "reject")
    fieldsets = (
        (None, {"fields": ("name", "slug", "incident_type", "description")}),
        ("How it is recognised", {"fields": ("keywords", "metrics", "tiers", "min_score")}),
        ("What to do", {"fields": ("steps", "runbook_url")}),
        ("Curation", {"fields": ("origin", "state", "enabled")}),
    )

    class Media:
        css = {"all": ("cleara/css/admin.css",)}

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
