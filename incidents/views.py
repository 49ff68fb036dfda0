"""The console's views: one function per URL, each parsing input with a form, calling selectors
(reads) or services (writes), and rendering a page or, for htmx, one of its inline partials.

The nine steps: the dashboard (1) and its preview panel (2) live in incident_list.html; an
incident's overview and steps 3-9 live in incident_detail.html, one partial per step.
"""
from __future__ import annotations

import csv
import json
from datetime import datetime

from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from access.roles import Action, requires
from incidents import broadcast, charts, exports, forms, screens, selectors, services
from incidents.errors import IncidentError
from incidents.models import Event, Incident, Severity, TimelineEvent

# One URL answers with a page or, for htmx, with one of its partials (chosen by HX-Target): caches
# must keep them apart.
htmx_varies = vary_on_headers("HX-Request", "HX-Target")

LIST = "incidents/incident_list.html"
DETAIL = "incidents/incident_detail.html"

STEPS = [
    ("overview", "Overview", "incidents:detail"),
    ("timeline", "Timeline", "incidents:timeline"),
    ("rca", "Root cause", "incidents:rca"),
    ("map", "Service map", "incidents:map"),
    ("recommendations", "Recommendations", "incidents:recommendations"),
    ("investigate", "Investigate", "incidents:investigate"),
    ("collaborate", "Collaborate", "incidents:collaborate"),
    ("resolve", "Resolve", "incidents:resolve"),
]


def _incident(number: int) -> Incident:
    try:
        return selectors.incident_get_for_console(number=number)
    except Incident.DoesNotExist:
        raise Http404(f"There is no incident #{number}.") from None


def _target(request) -> str:
    return (request.htmx.target or "") if request.htmx else ""


# --- 1 and 2: the dashboard and the preview panel ------------------------------------------------


def _dashboard_context(request, *, now: datetime, rows: bool = True, stats: bool = True) -> tuple[dict, int]:
    """The dashboard's context; `rows` and `stats` say which halves the response draws."""
    form = forms.DashboardFilterForm(request.GET or None)
    context: dict = {"form": form, "severities": Severity.choices,
                     "statuses": Incident.Status.choices, "status_labels": dict(Incident.Status.choices), "ranges": forms.RANGE_CHOICES,
                     "stat_labels": ["Incidents", "Events", "Alerts", "Noise reduction", "Root cause right"]}
    if request.GET and not form.is_valid():
        # A malformed filter: say what is wrong, show nothing rather than something misleading.
        context.update(page=None, stats=None, trend_chart="", filter_errors=form.errors)
        return context, 422
    if not request.GET:
        form = forms.DashboardFilterForm({})
        form.is_valid()
        context["form"] = form
    filters = form.to_filters(now=now)
    context.update(
        selected_range=form.cleaned_data.get("range"),
        filters=filters,
        filtered=bool(filters.status or filters.severity or filters.service or filters.q),
    )
    if rows:
        paginator = Paginator(selectors.incident_list_for_console(filters=filters), selectors.CONSOLE_PAGE_SIZE)
        context["page"] = paginator.get_page(form.cleaned_data.get("page") or 1)
    if stats:
        trend = selectors.stats_trend(since=filters.since, until=filters.until, now=now)
        figure = charts.stats_trend(buckets=trend["buckets"], alerts=trend["alerts"], incidents=trend["incidents"])
        context.update(
            stats=selectors.stats_for_range(since=filters.since, until=filters.until),
            trend_chart=charts.figure_html(figure, div_id="stats-trend-chart", toolbar=False) if trend["buckets"] else "",
            trend_unit=trend["unit"],
            rca=selectors.rca_hit_rate(now=now),
        )
    return context, 200


DASHBOARD_PARTIALS = {"incident-rows", "dashboard-stats", "dashboard-results"}


def _render_dashboard(request, *, preview: dict | None = None) -> HttpResponse:
    # The rows come with the page; the stats (a count over the range's events) follow in their
    # own request (hx-trigger="load"), so the list never waits for them.
    target = _target(request)
    context, status = _dashboard_context(request, now=timezone.now(), rows=target != "dashboard-stats", stats=target == "dashboard-stats")
    if preview:
        context.update(preview)
    template = LIST
    if _target(request) in DASHBOARD_PARTIALS:
        template = f"{LIST}#{_target(request)}"
    return render(request, template, context, status=status)


@require_GET
@requires(Action.VIEW)
@htmx_varies
def dashboard(request) -> HttpResponse:
    return _render_dashboard(request)


def _summary_context(incident: Incident, *, related: bool = True) -> dict:
    """`related=False` leaves the related incidents to their own request (incident_related): on
    the overview they are below the fold and were most of its server time (similarity against
    300 past incidents), which a cold load waits for before its first byte."""
    events = selectors.incident_events_sample(incident=incident)
    return {
        "incident": incident,
        "related": selectors.incident_related(incident=incident) if related else None,
        "mini_timeline": charts.figure_html(charts.mini_timeline(events), div_id=f"incident-{incident.pk}-mini-timeline", toolbar=False) if events else "",
    }


@require_GET
@requires(Action.VIEW)
@htmx_varies
def incident_preview(request, number: int) -> HttpResponse:
    incident = _incident(number)
    if _target(request) == "incident-preview":
        return render(request, f"{LIST}#incident-preview", {"preview": _summary_context(incident)})
    return _render_dashboard(request, preview={"preview": _summary_context(incident)})


# --- The incident console: overview and steps 3-9 ------------------------------------------------


def _render_step(request, incident: Incident, step: str, context: dict, *, status: int = 200) -> HttpResponse:
    context = {"incident": incident, "step": step, "steps": STEPS, **context}
    template = DETAIL
    if _target(request) == "incident-console":
        template = f"{DETAIL}#incident-console"
    return render(request, template, context, status=status)


@require_GET
@requires(Action.VIEW)
@htmx_varies
def incident_detail(request, number: int) -> HttpResponse:
    incident = _incident(number)
    return _render_step(request, incident, "overview", {"summary": _summary_context(incident, related=False)})


@require_GET
@requires(Action.VIEW)
def incident_related(request, number: int) -> HttpResponse:
    """The overview's related incidents, fetched once the page has loaded."""
    incident = _incident(number)
    summary = {"incident": incident, "related": selectors.incident_related(incident=incident)}
    return render(request, "incidents/partials/incident_summary.html#related", {"summary": summary, "incident": incident, "related": summary["related"]})


def _timeline_context(incident: Incident, form: forms.TimelineFilterForm, event: Event | None = None) -> dict:
    filters = form.to_filters() if form.is_valid() else selectors.TimelineFilters()
    events, total = selectors.incident_timeline_events(incident=incident, filters=filters)
    chart = ""
    if events:
        chart = charts.figure_html(
            charts.event_timeline(events),
            div_id=f"incident-{incident.pk}-timeline-chart",
            on_click="timeline-event",
        )
    return {
        "timeline_form": form,
        "timeline_events": events[-200:][::-1],
        "timeline_total": total,
        "timeline_drawn": len(events),
        "timeline_chart": chart,
        "services": sorted({s.name for s in incident.services.all()} | ({incident.root_cause_service.name} if incident.root_cause_service_id else set())),
        "event_types": Event.Type.choices,
        "severities": Severity.choices,
        "event": event,
    }


@require_GET
@requires(Action.VIEW)
@htmx_varies
def incident_timeline(request, number: int) -> HttpResponse:
    incident = _incident(number)
    form = forms.TimelineFilterForm(request.GET or None)
    status = 422 if request.GET and not form.is_valid() else 200
    if not request.GET:
        form = forms.TimelineFilterForm({})
    context = _timeline_context(incident, form)
    if _target(request) == "timeline-results":
        return render(request, f"{DETAIL}#timeline-results", {"incident": incident, **context}, status=status)
    return _render_step(request, incident, "timeline", context, status=status)


@require_GET
@requires(Action.VIEW)
@htmx_varies
def incident_event(request, number: int, event_id: int) -> HttpResponse:
    """One event of the incident: the panel a click on the timeline opens (a full page without htmx)."""
    incident = _incident(number)
    event = selectors.incident_event_get(incident=incident, event_id=event_id)
    if event is None:
        raise Http404(f"Incident #{number} has no event {event_id}.")
    if _target(request) == "event-detail":
        return render(request, f"{DETAIL}#event-detail", {"incident": incident, "event": event})
    form = forms.TimelineFilterForm({})
    return _render_step(request, incident, "timeline", _timeline_context(incident, form, event=event))


@require_GET
@requires(Action.VIEW)
@htmx_varies
def incident_rca(request, number: int) -> HttpResponse:
    incident = _incident(number)
    rca = screens.incident_rca(incident=incident)
    gauge = charts.figure_html(charts.confidence_gauge(incident.confidence), div_id=f"incident-{incident.pk}-gauge", toolbar=False) if rca["top"] else ""
    return _render_step(request, incident, "rca", {"rca": rca, "gauge": gauge})


@require_GET
@requires(Action.VIEW)
@htmx_varies
def incident_map(request, number: int) -> HttpResponse:
    incident = _incident(number)
    graph = screens.incident_service_map(incident=incident, now=timezone.now())
    chart = ""
    if graph["nodes"]:
        chart = charts.figure_html(charts.service_map(nodes=graph["nodes"], edges=graph["edges"]), div_id=f"incident-{incident.pk}-map")
    return _render_step(request, incident, "map", {"graph": graph, "map_chart": chart})


@require_GET
@requires(Action.VIEW)
@htmx_varies
def incident_recommendations(request, number: int) -> HttpResponse:
    incident = _incident(number)
    return _render_step(request, incident, "recommendations", {"rec": screens.incident_recommendations(incident=incident)})


def _logs_context(incident: Incident, form: forms.LogSearchForm, *, now: datetime) -> dict:
    q, beyond = "", False
    if form.is_valid():
        q, beyond = (form.cleaned_data.get("q") or "").strip(), form.cleaned_data.get("beyond") or False
    logs, more = selectors.incident_logs(incident=incident, q=q, beyond=beyond, now=now)
    return {"log_form": form, "logs": logs, "logs_more": more, "log_q": q, "log_beyond": beyond}


@require_GET
@requires(Action.VIEW)
@htmx_varies
def incident_investigate(request, number: int) -> HttpResponse:
    incident = _incident(number)
    now = timezone.now()
    form = forms.LogSearchForm(request.GET or {})
    status = 422 if request.GET and not form.is_valid() else 200
    logs = _logs_context(incident, form, now=now)
    if _target(request) == "log-results":
        return render(request, f"{DETAIL}#log-results", {"incident": incident, **logs}, status=status)
    series = selectors.incident_metric_series(incident=incident, now=now)
    metric_chart = ""
    if series["metrics"]:
        metric_chart = charts.figure_html(charts.metric_charts(**series), div_id=f"incident-{incident.pk}-metrics")
    context = {**logs, "metric_chart": metric_chart, "alerts": selectors.incident_alert_history(incident=incident, now=now)}
    return _render_step(request, incident, "investigate", context, status=status)


EXPORT_FIELDS = ["id", "pk", "timestamp", "received_at", "service", "type", "severity", "message", "metric", "value", "host", "fingerprint", "source", "attributes"]


@require_GET
@requires(Action.EXPORT)
def incident_export_json(request, number: int) -> StreamingHttpResponse:
    """The incident in the API's shape with all its events, streamed so that big incidents fit."""
    incident = _incident(number)

    def chunks():
        head = selectors.incident_to_api(incident, with_events=False)
        yield json.dumps(head, cls=DjangoJSONEncoder)[:-1] + ', "events": ['
        for i, event in enumerate(selectors.incident_events_for_export(incident=incident)):
            yield ("," if i else "") + json.dumps(selectors.event_to_api(event), cls=DjangoJSONEncoder)
        yield "]}\n"

    response = StreamingHttpResponse(chunks(), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="incident-{incident.number}.json"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@requires(Action.EXPORT)
def incident_export_csv(request, number: int) -> StreamingHttpResponse:
    """One row per event, with the incident's number and title on every row."""
    incident = _incident(number)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["incident", "incident_title", *EXPORT_FIELDS])
        for event in selectors.incident_events_for_export(incident=incident):
            data = selectors.event_to_api(event)
            data["id"] = data["id"] or ""
            data["attributes"] = json.dumps(data["attributes"]) if data["attributes"] else ""
            yield writer.writerow(exports.csv_row([incident.number, incident.title, *("" if data[f] is None else data[f] for f in EXPORT_FIELDS)]))

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="incident-{incident.number}-events.csv"'
    return response


# --- 8: collaboration ---------------------------------------------------------------------------


def _collaborate_context(incident: Incident, **forms_: object) -> dict:
    return {
        "note_form": forms_.get("note_form") or forms.NoteForm(),
        "assign_form": forms_.get("assign_form") or forms.AssignForm(initial={"assignee": incident.assignee.get_username() if incident.assignee_id else ""}),
        "status_error": forms_.get("status_error", ""),
        "users": selectors.assignable_users(),
        "notes": selectors.incident_notes(incident=incident),
        "audit": selectors.incident_audit_trail(incident=incident),
        "transitions": services.ALLOWED_TRANSITIONS[incident.status],
        "statuses": Incident.Status,
    }


@require_GET
@requires(Action.VIEW)
@htmx_varies
def incident_collaborate(request, number: int) -> HttpResponse:
    incident = _incident(number)
    return _render_step(request, incident, "collaborate", _collaborate_context(incident))


def _changed_meanwhile(incident: Incident, kind: str, state: str) -> str:
    """What a viewer acting on a stale page is told: the change they missed, by whom, when."""
    last = selectors.incident_last_change(incident=incident, kind=kind)
    who = "someone"
    if last is not None:
        who = last.actor.get_username() if last.actor_id else f"the {last.get_origin_display().lower()}"
    when = f" at {timezone.localtime(last.created_at):%H:%M:%S} UTC" if last else ""
    return f"Nothing changed: {who} changed this{when} and {state}. The controls show the current state; try again if you still want to."


def _after_write(request, incident: Incident, partial: str, context: dict, *, step_url: str) -> HttpResponse:
    """The answer to a successful console POST: for htmx the form's partial plus the live
    fragments (header, notes, audit trail) out of band; otherwise back to the step's page."""
    if not request.htmx:
        return redirect(step_url)
    incident = _incident(incident.number)
    html = render_to_string(f"{DETAIL}#{partial}", {"incident": incident, **context}, request=request)
    return HttpResponse(html + broadcast.incident_fragments(incident=incident, oob=True))


def _quick_answer(request, incident: Incident, error: str) -> HttpResponse | None:
    """The answer to the header's quick actions (Acknowledge, Assign to me), which target the
    notice under the header: what changed meanwhile (422) or nothing (200), with the live
    fragments out of band so the header shows the current state at once. None for other forms."""
    if _target(request) != f"incident-{incident.pk}-quick-notice":
        return None
    incident = _incident(incident.number)
    html = render_to_string(f"{DETAIL}#quick-notice", {"incident": incident, "quick_error": error}, request=request)
    return HttpResponse(html + broadcast.incident_fragments(incident=incident, oob=True), status=422 if error else 200)


@require_POST
@requires(Action.NOTE)
def incident_note_add(request, number: int) -> HttpResponse:
    incident = _incident(number)
    form = forms.NoteForm(request.POST)
    if form.is_valid():
        try:
            services.note_add(incident=incident, body=form.cleaned_data["body"], author=request.user)
        except IncidentError as exc:
            form.add_error("body", str(exc))
    if not form.is_valid():
        return render(request, f"{DETAIL}#note-form", {"incident": incident, "note_form": form}, status=422)
    return _after_write(request, incident, "note-form", {"note_form": forms.NoteForm()}, step_url=reverse("incidents:collaborate", args=[number]))


@require_POST
@requires(Action.ASSIGN)
def incident_assign(request, number: int) -> HttpResponse:
    incident = _incident(number)
    form = forms.AssignForm(request.POST)
    current = incident.assignee.get_username() if incident.assignee_id else ""
    if form.is_valid() and "seen" in request.POST and form.cleaned_data["seen"] != current:
        form.add_error("assignee", _changed_meanwhile(incident, TimelineEvent.Kind.ASSIGNED, f"it is assigned to {current or 'nobody'} now"))
    if not form.is_valid():
        quick = _quick_answer(request, incident, " ".join(e for errors in form.errors.values() for e in errors))
        if quick is not None:
            return quick
        return render(request, f"{DETAIL}#assign-form", {"incident": incident, "assign_form": form, "users": selectors.assignable_users()}, status=422)
    services.incident_assign(incident=incident, assignee=form.cleaned_data["assignee"], by=request.user)
    quick = _quick_answer(request, incident, "")
    if quick is not None:
        return quick
    incident = _incident(number)
    fresh = forms.AssignForm(initial={"assignee": incident.assignee.get_username() if incident.assignee_id else ""})
    return _after_write(request, incident, "assign-form", {"assign_form": fresh, "users": selectors.assignable_users(), "assigned": True},
                        step_url=reverse("incidents:collaborate", args=[number]))


@require_POST
@requires(Action.STATUS)
def incident_status(request, number: int) -> HttpResponse:
    incident = _incident(number)
    form = forms.StatusForm(request.POST)
    error = ""
    if form.is_valid() and form.cleaned_data.get("seen") and form.cleaned_data["seen"] != incident.status:
        error = _changed_meanwhile(incident, TimelineEvent.Kind.STATUS, f"it is {incident.get_status_display().lower()} now")
    elif form.is_valid():
        try:
            services.incident_set_status(incident=incident, status=form.cleaned_data["status"], by=request.user,
                                         message=form.cleaned_data.get("message") or "")
        except IncidentError as exc:
            error = str(exc)
    else:
        error = "Pick one of the statuses offered."
    quick = _quick_answer(request, incident, error)
    if quick is not None:
        return quick
    incident = _incident(number)
    if _target(request) == f"incident-{incident.pk}-resolve":
        # "Reopen" on the resolution step answers with that step's panel.
        partial, context = "resolve-form", _resolve_context(incident)
    else:
        partial, context = "status-controls", {"transitions": services.ALLOWED_TRANSITIONS[incident.status], "statuses": Incident.Status}
    context["status_error"] = error
    if error:
        return render(request, f"{DETAIL}#{partial}", {"incident": incident, **context}, status=422)
    return _after_write(request, incident, partial, context, step_url=reverse("incidents:collaborate", args=[number]))


@require_GET
@requires(Action.VIEW)
def incident_live(request, number: int) -> HttpResponse:
    """The polling fallback: the same fragments a WebSocket push carries, swapped out of band.

    A closed incident's page stops polling (286); its socket still brings a reopen."""
    incident = _incident(number)
    html = broadcast.incident_fragments(incident=incident, oob=True)
    if not incident.is_open:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


# --- 9: resolution and learning -----------------------------------------------------------------


def _resolve_context(incident: Incident, *, resolve_form=None, feedback_form=None) -> dict:
    suggested = incident.incident_type or (incident.pattern.incident_type if incident.pattern_id else "")
    return {
        "resolve_form": resolve_form or forms.ResolveForm(initial={"incident_type": suggested, "tags": ", ".join(incident.tags or [])}),
        "feedback_form": feedback_form or forms.FeedbackForm(),
        "feedback": selectors.incident_feedback(incident=incident),
        "incident_types": selectors.incident_types(),
        # Suggested first: the incident's own services; any other is found by typing (service_options).
        "incident_services": sorted(s.name for s in incident.services.all())[: selectors.SERVICE_SEARCH_LIMIT],
    }


@require_http_methods(["GET", "POST"])
@requires(Action.VIEW, post=Action.RESOLVE)
@htmx_varies
def incident_resolve(request, number: int) -> HttpResponse:
    """GET: the resolution step. POST: resolve (or close as a false positive) with notes and tags."""
    incident = _incident(number)
    if request.method == "GET":
        return _render_step(request, incident, "resolve", _resolve_context(incident))
    form = forms.ResolveForm(request.POST)
    if form.is_valid() and not incident.is_open:
        # Someone closed it while this page showed the form: their notes stay, this viewer is told.
        state = f"it is {incident.get_status_display().lower()} now"
        context = {"incident": incident, **_resolve_context(incident), "status_error": _changed_meanwhile(incident, TimelineEvent.Kind.STATUS, state)}
        return render(request, f"{DETAIL}#resolve-form", context, status=422)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.incident_resolve(incident=incident, by=request.user, notes=data["notes"], tags=data["tags"],
                                      incident_type=data.get("incident_type") or "", false_positive=data.get("false_positive") or False)
        except IncidentError as exc:
            form.add_error(None, str(exc))
    if not form.is_valid():
        context = {"incident": incident, **_resolve_context(incident, resolve_form=form)}
        return render(request, f"{DETAIL}#resolve-form", context, status=422)
    incident = _incident(number)
    return _after_write(request, incident, "resolve-form", _resolve_context(incident), step_url=reverse("incidents:resolve", args=[number]))


@require_http_methods(["GET", "POST"])
@requires(Action.VIEW, post=Action.FEEDBACK)
@htmx_varies
def incident_feedback(request, number: int) -> HttpResponse:
    """POST: record feedback on the root cause and queue the model update.
    GET: the feedback list, which polls until every update has run (then answers 286)."""
    incident = _incident(number)
    if request.method == "GET":
        feedback = selectors.incident_feedback(incident=incident)
        context = {"incident": incident, "feedback": feedback}
        response = render(request, f"{DETAIL}#feedback-list", context)
        if request.htmx and not any(f.applied_at is None for f in feedback):
            response.status_code = HttpResponseStopPolling.status_code
        return response
    form = forms.FeedbackForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        services.feedback_record(incident=incident, user=request.user, verdict=data["verdict"],
                                 correct_service=data.get("correct_service"), comment=data.get("comment") or "")
        form = forms.FeedbackForm()
        status = 200
    else:
        status = 422
    context = {"incident": incident, **_resolve_context(incident, feedback_form=form), "feedback_saved": status == 200}
    if status == 200 and not request.htmx:
        return redirect(reverse("incidents:resolve", args=[number]))
    return render(request, f"{DETAIL}#feedback-panel", context, status=status)


# --- The pattern library ------------------------------------------------------------------------


@require_GET
@requires(Action.VIEW)
def pattern_list(request) -> HttpResponse:
    return render(request, "incidents/pattern_list.html", {"patterns": selectors.pattern_list(), "discovery": selectors.pattern_discovery_report()})


# --- Pickers ------------------------------------------------------------------------------------


@require_GET
@requires(Action.VIEW)
def service_options(request) -> HttpResponse:
    """`<option>`s of the services matching what was typed, for a service input's `<datalist>`
    (the dashboard filter, the feedback form): a search, because a `<select>` of every service is
    megabytes once there are thousands. `field` names the parameter holding the text (htmx sends
    the input under its own name)."""
    q = request.GET.get(request.GET.get("field") or "q", "")[:200]
    return render(request, "incidents/partials/service_options.html", {"names": selectors.service_search(q=q)})
