"""Input validation for every console request: the dashboard's and the timeline's filters (GET)
and every POST. A form that does not validate is re-rendered with its errors and status 422."""
from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from incidents.models import Event, Feedback, Incident, Service, Severity
from incidents.selectors import IncidentFilters, TimelineFilters

RANGE_PRESETS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
RANGE_CHOICES = [
    ("1h", "Last hour"),
    ("6h", "Last 6 hours"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("all", "All time"),
    ("custom", "Custom…"),
]
DEFAULT_RANGE = "7d"
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def _service_exists(name: str) -> str:
    name = name.strip()
    if name and not Service.objects.filter(name=name).exists():
        raise forms.ValidationError(f"There is no service named “{name}”. Pick one from the list, or clear the filter.")
    return name


class DashboardFilterForm(forms.Form):
    """The dashboard's filters, all kept in the URL's query string."""

    severity = forms.MultipleChoiceField(choices=Severity.choices, required=False)
    status = forms.MultipleChoiceField(choices=Incident.Status.choices, required=False)
    service = forms.CharField(required=False, max_length=200)
    range = forms.ChoiceField(choices=RANGE_CHOICES, required=False)
    since = forms.DateTimeField(required=False, input_formats=DATETIME_FORMATS, label="From (UTC)")
    until = forms.DateTimeField(required=False, input_formats=DATETIME_FORMATS, label="To (UTC)")
    q = forms.CharField(required=False, max_length=200, label="Search")
    page = forms.IntegerField(required=False, min_value=1)

    def clean_service(self) -> str:
        return _service_exists(self.cleaned_data.get("service") or "")

    def clean(self):
        data = super().clean()
        preset = data.get("range") or ("custom" if data.get("since") or data.get("until") else DEFAULT_RANGE)
        data["range"] = preset
        if preset == "custom":
            since, until = data.get("since"), data.get("until")
            if not since and not until and not self.has_error("since") and not self.has_error("until"):
                self.add_error("since", "A custom range needs a start, an end, or both (UTC).")
            if since and until and since > until:
                self.add_error("until", "The end of the range is before its start.")
        return data

    def to_filters(self, *, now: datetime | None = None) -> IncidentFilters:
        """The validated filters as the selector's IncidentFilters; call after is_valid()."""
        data = self.cleaned_data
        now = now or timezone.now()
        since, until = self.time_range(now=now)
        return IncidentFilters(
            status=data.get("status") or None,
            severity=data.get("severity") or None,
            service=data.get("service") or None,
            since=since,
            until=until,
            q=(data.get("q") or "").strip() or None,
        )

    def time_range(self, *, now: datetime) -> tuple[datetime | None, datetime | None]:
        data = self.cleaned_data
        preset = data.get("range") or DEFAULT_RANGE
        if preset == "custom":
            return data.get("since"), data.get("until")
        delta = RANGE_PRESETS[preset]
        return (now - delta if delta else None), None


class TimelineFilterForm(forms.Form):
    type = forms.MultipleChoiceField(choices=Event.Type.choices, required=False)
    severity = forms.MultipleChoiceField(choices=Severity.choices, required=False)
    service = forms.CharField(required=False, max_length=200)
    q = forms.CharField(required=False, max_length=200, label="Text")

    def clean_service(self) -> str:
        return _service_exists(self.cleaned_data.get("service") or "")

    def to_filters(self) -> TimelineFilters:
        data = self.cleaned_data
        return TimelineFilters(
            types=data.get("type") or None,
            severities=data.get("severity") or None,
            service=data.get("service") or None,
            q=(data.get("q") or "").strip() or None,
        )


class LogSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search logs")
    beyond = forms.BooleanField(required=False, label="Also search the services’ logs 30 min around the incident")


class NoteForm(forms.Form):
    body = forms.CharField(
        max_length=20000,
        label="Add a note",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "What did you find? Markdown works: **bold**, `code`, lists, links."}),
        error_messages={"required": "Write something before adding the note."},
    )

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError("Write something before adding the note.")
        return body


class AssignForm(forms.Form):
    # The assignee the page showed ("" for nobody); None when the form did not say.
    seen = forms.CharField(required=False, max_length=150)
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="Unassigned",
        to_field_name="username",
        error_messages={"invalid_choice": "That user does not exist (or is inactive); pick someone from the list."},
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Incident.Status.choices)
    message = forms.CharField(required=False, max_length=2000)
    # The status the page showed when the button was pressed: if it changed meanwhile, the
    # console says so (and who changed it) instead of acting on a state the viewer did not see.
    seen = forms.ChoiceField(choices=Incident.Status.choices, required=False)


class ResolveForm(forms.Form):
    notes = forms.CharField(
        required=True,
        max_length=20000,
        label="Resolution notes",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "What was wrong and what fixed it (Markdown)."}),
        error_messages={"required": "Say what fixed it: the next engineer will read this."},
    )
    incident_type = forms.CharField(required=False, max_length=100, label="Incident type")
    tags = forms.CharField(required=False, max_length=500, label="Tags", help_text="Comma-separated, e.g. database, capacity")
    false_positive = forms.BooleanField(required=False, label="It was a false positive")

    def clean_tags(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        tags = [t.strip().lower() for t in raw.split(",") if t.strip()]
        too_long = [t for t in tags if len(t) > 50]
        if too_long:
            raise forms.ValidationError(f"Tags are at most 50 characters: {too_long[0][:60]!r} is longer.")
        return tags


class FeedbackForm(forms.Form):
    verdict = forms.ChoiceField(
        choices=Feedback.Verdict.choices,
        widget=forms.RadioSelect,
        label="Was the root cause right?",
        error_messages={"required": "Pick one: correct, wrong or partly right."},
    )
    correct_service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("name"),
        required=False,
        to_field_name="name",
        label="The right service",
        empty_label="—",
        error_messages={"invalid_choice": "That service does not exist; pick one from the list."},
    )
    comment = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("verdict") == Feedback.Verdict.NO and not data.get("correct_service"):
            self.add_error("correct_service", "When the root cause was wrong, say which service it really was.")
        if data.get("verdict") == Feedback.Verdict.PARTIAL and not data.get("correct_service"):
            # "Partly right" teaches the model about a second service: it has to be named.
            self.add_error("correct_service", "When the root cause was partly right, say which other service was involved.")
        return data
