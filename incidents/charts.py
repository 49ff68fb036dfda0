"""The console's charts: pure functions from plain data to plotly Figures, plus `figure_html`.

No ORM here: the functions take what the selectors return (events as objects with .pk,
.timestamp, .type, .severity, .message and .service.name; plain dicts and lists otherwise), so
they can be tested with unsaved objects. `figure_html` is the only place a figure becomes HTML;
plotly.js itself is loaded once by base.html from the plotly package (no CDN).
"""
from __future__ import annotations

import json
import math
import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

# Before plotly: its validators look pandas up in sys.modules without importing it, and its JSON
# encoder imports it on first use. In a server whose request threads draw charts, one thread then
# saw pandas half-imported by another ("partially initialized module 'pandas' has no attribute
# 'Series'": a 500 on the timeline). Imported once here, before any chart is drawn (it used to
# arrive with scikit-learn, which processes no longer import at start).
import pandas  # noqa: F401
import plotly.graph_objects as go
from django.utils.html import format_html, format_html_join
from plotly.subplots import make_subplots

TYPE_COLOURS = {"alert": "#fb923c", "anomaly": "#c084fc", "log": "#38bdf8", "metric": "#4ade80"}
TYPE_ORDER = ["alert", "anomaly", "log", "metric"]
SEVERITY_SYMBOLS = {"critical": "diamond", "warning": "circle", "info": "circle-open"}
SEVERITY_SIZES = {"critical": 13, "warning": 10, "info": 8}
HEALTH_COLOURS = {"critical": "#ef4444", "degraded": "#f59e0b", "healthy": "#22c55e"}
SERIES_COLOURS = ["#38bdf8", "#f472b6", "#a3e635", "#fbbf24", "#818cf8", "#2dd4bf", "#fb7185", "#e879f9"]
FONT = "#cbd5e1"
GRID = "#1e293b"


def _layout(fig: go.Figure, *, height: int, margin: dict | None = None, **kwargs) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=margin or {"l": 40, "r": 10, "t": 10, "b": 30},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": FONT, "size": 12, "family": "system-ui, -apple-system, Segoe UI, sans-serif"},
        hoverlabel={"bgcolor": "#0f172a", "bordercolor": "#334155", "font": {"color": "#e2e8f0"}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "bgcolor": "rgba(0,0,0,0)"},
        **kwargs,
    )
    fig.update_xaxes(gridcolor=GRID, zerolinecolor=GRID)
    fig.update_yaxes(gridcolor=GRID, zerolinecolor=GRID)
    return fig


def figure_html(fig: go.Figure, *, div_id: str, on_click: str | None = None, toolbar: bool = True) -> str:
    """The one place a figure becomes HTML: a div carrying the figure as JSON, no script.

    static/cleara/js/charts.js draws every `[data-plotly-figure]` when it enters the page (first
    load, htmx swaps and pushes), so the Content-Security-Policy can forbid inline scripts.
    The stable `div_id` goes on a wrapper; the plot's own div gets a fresh id on every render.
    htmx "settles" the attributes of an element whose id is in both the old and the new content,
    which would strip the classes Plotly adds after drawing (js-plotly-plot) and with them hover,
    click and zoom. `on_click` names a click handler charts.js knows ("timeline-event").
    `toolbar=False` hides Plotly's mode bar (small charts, where it would cover the data).
    """
    config = {"responsive": True, "displaylogo": False, "showTips": False, "displayModeBar": "hover" if toolbar else False}
    attrs = {
        "id": f"{div_id}-{secrets.token_hex(4)}",
        "class": "plotly-graph-div",
        "style": "height:100%; width:100%;",
        "data-plotly-figure": fig.to_json(),
        "data-plotly-config": json.dumps(config),
    }
    if on_click:
        attrs["data-plotly-click"] = on_click
    plot = format_html_join(" ", '{}="{}"', attrs.items())
    return format_html('<div id="{}" class="plotly-chart"><div {}></div></div>', div_id, plot)



def _count_dtick(values: Sequence[int]) -> int:
    top = max(values, default=0)
    return max(1, math.ceil(top / 4))


TREND_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
TREND_TICKS = {"minute": "%H:%M", "hour": "%H:%M<br>%b %-d", "day": "%b %-d"}


def trend_unit(buckets: Sequence) -> str:
    """The bucket unit of time buckets: a day when they all fall on midnight, an hour on the hour."""
    dated = [b for b in buckets if hasattr(b, "hour")]
    if not dated:
        return ""
    if all(b.hour == 0 and b.minute == 0 for b in dated):
        return "day"
    return "hour" if all(b.minute == 0 for b in dated) else "minute"


def stats_trend(*, buckets: Sequence, alerts: Sequence[int], incidents: Sequence[int], unit: str | None = None) -> go.Figure:
    """Alerts (bars) and incidents opened (line) per bucket: the dashboard's small trend chart.

    Buckets are time buckets (the unit is inferred when not given). The axis spans at least seven
    buckets and each bar is as wide as its bucket: a single bucket would otherwise be drawn on an
    axis a millisecond wide ("00:00:00 / 00:00:00.0005").
    """
    unit = unit or trend_unit(buckets)
    step = TREND_UNITS.get(unit)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=list(buckets), y=list(alerts), name="Alerts", marker_color="#334155",
                         width=step * 1000 * 0.8 if step else None,
                         hovertemplate="%{x}<br>%{y} alerts<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=list(buckets), y=list(incidents), name="Incidents", mode="lines+markers",
                             line={"color": "#f87171", "width": 2}, marker={"size": 5},
                             hovertemplate="%{x}<br>%{y} incidents<extra></extra>"), secondary_y=True)
    _layout(fig, height=170, margin={"l": 36, "r": 36, "t": 24, "b": 28}, bargap=0.15)
    if step and buckets:
        first, last = min(buckets), max(buckets)
        first = min(first, last - timedelta(seconds=6 * step))
        fig.update_xaxes(type="date", range=[first - timedelta(seconds=step / 2), last + timedelta(seconds=step / 2)],
                         tickformat=TREND_TICKS[unit], dtick=step * 1000 if unit == "day" else None)
    # Counts: whole-number ticks, about four of them.
    fig.update_yaxes(rangemode="tozero", dtick=_count_dtick(alerts), tickformat=",d", secondary_y=False)
    fig.update_yaxes(rangemode="tozero", dtick=_count_dtick(incidents), tickformat=",d", showgrid=False, secondary_y=True)
    return fig


MINI_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


def time_buckets(timestamps: Sequence, *, most: int = 40) -> tuple[int, list]:
    """The smallest round bucket (1 min ... 1 day) that covers the timestamps in `most` buckets or
    fewer, and the bucket start of each timestamp (UTC epoch-aligned)."""
    if not timestamps:
        return MINI_BUCKETS[0], []
    span = (max(timestamps) - min(timestamps)).total_seconds()
    size = next((b for b in MINI_BUCKETS if span / b < most), MINI_BUCKETS[-1])
    starts = []
    for t in timestamps:
        epoch = t.timestamp()
        starts.append(t - timedelta(seconds=epoch % size))
    return size, starts


def mini_timeline(events: Sequence) -> go.Figure:
    """The preview's mini timeline: events per bucket (a minute or more), stacked by type.

    Binned here, as bars, not by a Plotly histogram: the console ships Plotly's basic bundle
    (bar, pie, scatter), a quarter of the full one.
    """
    size, starts = time_buckets([e.timestamp for e in events])
    unit = f"{size // 60} min" if size < 3600 else f"{size // 3600} h"
    fig = go.Figure()
    for kind in TYPE_ORDER:
        counts = Counter(start for start, e in zip(starts, events, strict=True) if e.type == kind)
        if counts:
            xs = sorted(counts)
            fig.add_trace(go.Bar(x=[x + timedelta(seconds=size / 2) for x in xs], y=[counts[x] for x in xs], width=size * 1000 * 0.95,
                                 name=kind, marker_color=TYPE_COLOURS[kind],
                                 hovertemplate=f"%{{x|%H:%M}}<br>%{{y}} {kind} events per {unit}<extra></extra>"))
    _layout(fig, height=130, margin={"l": 28, "r": 8, "t": 22, "b": 24}, barmode="stack", bargap=0.05)
    fig.update_layout(legend={"font": {"size": 10}})
    fig.update_xaxes(type="date")
    fig.update_yaxes(tickformat=",d", rangemode="tozero")
    return fig


def event_timeline(events: Sequence) -> go.Figure:
    """Every event on one time axis: one lane per service, colour by type, marker by severity.

    Each point's customdata is the event's pk, so a click can fetch that event. Zoom with a drag
    or the range buttons; pan with shift-drag or the toolbar.
    """
    fig = go.Figure()
    services = sorted({e.service.name for e in events})
    # Alerts are drawn last, on top, so that a click where points overlap picks the alert.
    for kind in reversed(TYPE_ORDER):
        rows = [e for e in events if e.type == kind]
        if not rows:
            continue
        fig.add_trace(
            go.Scatter(
                x=[e.timestamp for e in rows],
                y=[e.service.name for e in rows],
                mode="markers",
                name=kind,
                customdata=[e.pk for e in rows],
                text=[f"{e.severity} · {(e.message or e.metric or '')[:120]}" for e in rows],
                marker={
                    "color": TYPE_COLOURS[kind],
                    "symbol": [SEVERITY_SYMBOLS.get(e.severity, "circle") for e in rows],
                    "size": [SEVERITY_SIZES.get(e.severity, 9) for e in rows],
                    "line": {"width": 1, "color": "#0f172a"},
                    "opacity": 0.9,
                },
                hovertemplate="%{x|%H:%M:%S}<br>%{y}<br>%{text}<extra>" + kind + "</extra>",
            )
        )
    # The mode bar stands upright at the right edge, clear of the range buttons (top left); on a
    # phone a horizontal one covered "1h" and "all" (and on a phone charts.js shows none: it covered
    # the newest points). The legend is the page's (HTML, above the chart): Plotly's wrapped onto
    # two rows at 390 px and slid under the range buttons. The Type filter does what clicking a
    # legend entry did.
    _layout(fig, height=max(230, 90 + 36 * len(services)), margin={"l": 10, "r": 34, "t": 40, "b": 40},
            dragmode="zoom", hovermode="closest", showlegend=False, modebar={"orientation": "v", "bgcolor": "rgba(0,0,0,0)"})
    fig.update_xaxes(
        type="date",
        rangeselector={
            "buttons": [
                {"count": 5, "label": "5m", "step": "minute", "stepmode": "backward"},
                {"count": 15, "label": "15m", "step": "minute", "stepmode": "backward"},
                {"count": 1, "label": "1h", "step": "hour", "stepmode": "backward"},
                {"step": "all", "label": "all"},
            ],
            "bgcolor": "#1e293b", "activecolor": "#475569", "font": {"color": FONT}, "x": 0, "y": 1.0, "yanchor": "bottom",
        },
    )
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=services[::-1], fixedrange=True, automargin=True)
    return fig


def confidence_band(value: float) -> str:
    """The colour of a confidence in percent: red below 50, amber below 80, green from 80."""
    return "#ef4444" if value < 50 else "#f59e0b" if value < 80 else "#22c55e"


def confidence_gauge(confidence: float) -> go.Figure:
    """The root cause's confidence as a half-ring gauge: red below 50%, amber below 80%, green above.

    A donut whose lower half is invisible (a pie: Plotly's basic bundle has no indicator trace),
    the number in the middle as an annotation sized to fit "100%" inside the ring at any width.
    """
    value = round(max(0.0, min(1.0, confidence)) * 100, 1)
    fig = go.Figure(
        go.Pie(
            values=[value, 100 - value, 100],
            customdata=[value],
            marker={"colors": [confidence_band(value), "#1e293b", "rgba(0,0,0,0)"], "line": {"width": 0}},
            hole=0.68, rotation=-90, direction="clockwise", sort=False,
            textinfo="none", hoverinfo="skip", showlegend=False,
        )
    )
    number = f"{value:g}%"
    _layout(fig, height=180, margin={"l": 8, "r": 8, "t": 8, "b": 8})
    fig.update_layout(annotations=[
        {"text": number, "x": 0.5, "y": 0.56, "xref": "paper", "yref": "paper", "showarrow": False,
         "font": {"size": 30, "color": "#f8fafc"}},
        {"text": "0", "x": 0.1, "y": 0.44, "xref": "paper", "yref": "paper", "showarrow": False, "font": {"size": 11}},
        {"text": "100", "x": 0.9, "y": 0.44, "xref": "paper", "yref": "paper", "showarrow": False, "font": {"size": 11}},
    ])
    return fig


def layered_positions(nodes: Sequence[dict], edges: Sequence[dict]) -> dict[int, tuple[float, float]]:
    """Positions for a dependency graph: dependencies below the services that call them.

    A node's layer is 0 when it depends on nothing in the graph, else one more than its deepest
    dependency (cycles are cut); nodes are spread evenly in their layer, ordered by name.
    """
    deps: dict[int, set[int]] = {n["id"]: set() for n in nodes}
    for e in edges:
        if e["source"] in deps and e["target"] in deps:
            deps[e["source"]].add(e["target"])
    layer: dict[int, int] = {}

    def depth(nid: int, seen: frozenset) -> int:
        if nid in layer:
            return layer[nid]
        below = [depth(d, seen | {nid}) for d in deps[nid] if d not in seen and d != nid]
        layer[nid] = 1 + max(below) if below else 0
        return layer[nid]

    for nid in deps:
        depth(nid, frozenset())
    names = {n["id"]: n["name"] for n in nodes}
    by_layer: dict[int, list[int]] = {}
    for nid, lvl in layer.items():
        by_layer.setdefault(lvl, []).append(nid)
    positions = {}
    for lvl, ids in by_layer.items():
        ids.sort(key=lambda i: names[i])
        # A crowded layer zigzags, so that neighbouring labels do not overlap.
        zigzag = 0.32 if len(ids) > 5 else 0.0
        for i, nid in enumerate(ids):
            positions[nid] = ((i + 1) / (len(ids) + 1), float(lvl) - zigzag * (i % 2))
    return positions


def service_map(*, nodes: Sequence[dict], edges: Sequence[dict]) -> go.Figure:
    """The dependency graph around an incident.

    Nodes are coloured by health and ringed by role (a thick white ring for the root cause,
    a thin one for the affected services); grey lines are dependencies, red arrows show the
    cascade, from the failing dependency up to the services that call it.
    """
    pos = layered_positions(nodes, edges)
    fig = go.Figure()
    for e in edges:
        if e["cascade"] or e["source"] not in pos or e["target"] not in pos:
            continue
        (x0, y0), (x1, y1) = pos[e["source"]], pos[e["target"]]
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", line={"color": "#475569", "width": 1.5},
                                 hoverinfo="skip", showlegend=False))
    annotations = []
    for e in edges:
        if not e["cascade"] or e["source"] not in pos or e["target"] not in pos:
            continue
        # Cascade: the dependency (target) fails first, its dependant (source) follows.
        (xs, ys), (xt, yt) = pos[e["target"]], pos[e["source"]]
        annotations.append({
            "x": xt, "y": yt, "ax": xs, "ay": ys, "xref": "x", "yref": "y", "axref": "x", "ayref": "y",
            "showarrow": True, "arrowhead": 3, "arrowsize": 1.4, "arrowwidth": 2.5, "arrowcolor": "#f87171",
            "standoff": 22, "startstandoff": 22, "text": "",
        })
    role_label = {"root_cause": "root cause", "affected": "affected", "neighbour": "neighbour"}
    ordered = [n for n in nodes if n["id"] in pos]
    fig.add_trace(
        go.Scatter(
            x=[pos[n["id"]][0] for n in ordered],
            y=[pos[n["id"]][1] for n in ordered],
            mode="markers+text",
            text=[n["name"] for n in ordered],
            textposition="bottom center",
            textfont={"color": [("#f8fafc" if n["role"] != "neighbour" else "#94a3b8") for n in ordered], "size": 12},
            customdata=[
                [role_label[n["role"]], n["health"]["status"], n["health"]["critical"], n["health"]["warning"],
                 n.get("tier") or "—", n.get("team") or "—"]
                for n in ordered
            ],
            hovertemplate=(
                "<b>%{text}</b><br>%{customdata[0]} · %{customdata[1]}<br>"
                "%{customdata[2]} critical, %{customdata[3]} warning signals<br>"
                "tier %{customdata[4]} · team %{customdata[5]}<extra></extra>"
            ),
            marker={
                "size": [34 if n["role"] == "root_cause" else 26 if n["role"] == "affected" else 18 for n in ordered],
                "color": [HEALTH_COLOURS[n["health"]["status"]] for n in ordered],
                "line": {
                    "color": ["#f8fafc" if n["role"] != "neighbour" else "#334155" for n in ordered],
                    "width": [5 if n["role"] == "root_cause" else 2 if n["role"] == "affected" else 1 for n in ordered],
                },
                "opacity": [1.0 if n["role"] != "neighbour" else 0.75 for n in ordered],
            },
            showlegend=False,
        )
    )
    top = max((y for _, y in pos.values()), default=0)
    bottom = min((y for _, y in pos.values()), default=0)
    _layout(fig, height=int(180 + 110 * (top - bottom)), margin={"l": 10, "r": 10, "t": 10, "b": 10},
            annotations=annotations, hovermode="closest", dragmode="pan")
    fig.update_xaxes(visible=False, range=[-0.02, 1.02])
    fig.update_yaxes(visible=False, range=[bottom - 0.6, top + 0.4])
    return fig


def metric_charts(*, metrics: dict[str, dict[str, list]], anomalies: dict[str, list]) -> go.Figure:
    """One panel per metric, a line per service, the detected anomalies marked with a red cross."""
    names = list(metrics)
    fig = make_subplots(rows=max(1, len(names)), cols=1, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.08 if len(names) > 1 else 0.0)
    colours: dict[str, str] = {}
    for row, metric in enumerate(names, start=1):
        for service, points in sorted(metrics[metric].items()):
            colour = colours.setdefault(service, SERIES_COLOURS[len(colours) % len(SERIES_COLOURS)])
            fig.add_trace(
                go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines", name=service,
                           legendgroup=service,
                           line={"color": colour, "width": 1.6},
                           hovertemplate=f"{service}<br>%{{x|%H:%M:%S}}<br>{metric} %{{y:.4g}}<extra></extra>"),
                row=row, col=1,
            )
        marks = [a for a in anomalies.get(metric, []) if a[1] is not None]
        if marks:
            fig.add_trace(
                go.Scatter(x=[a[0] for a in marks], y=[a[1] for a in marks], mode="markers", name="anomaly",
                           legendgroup="anomaly",
                           marker={"symbol": "x", "size": 11, "color": "#ef4444", "line": {"width": 1, "color": "#fecaca"}},
                           text=[f"{a[2]}: {a[3][:100]}" for a in marks],
                           hovertemplate="%{x|%H:%M:%S}<br>%{text}<extra>anomaly</extra>"),
                row=row, col=1,
            )
    # One legend entry per service, even when it appears in several panels.
    seen: set[str] = set()
    for trace in fig.data:
        trace.showlegend = trace.name not in seen
        seen.add(trace.name)
    _layout(fig, height=90 + 170 * max(1, len(names)), margin={"l": 50, "r": 10, "t": 50, "b": 30}, hovermode="x unified")
    fig.update_annotations(font={"size": 12, "color": FONT}, x=0, xanchor="left")
    return fig
