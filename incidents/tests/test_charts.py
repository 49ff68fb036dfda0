"""The chart functions are pure: plain inputs, unsaved models, no database."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape as html_unescape

import plotly.graph_objects as go

from incidents import charts
from incidents.models import Event, Service

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def event(pk: int, minute: int, service: str, kind: str, severity: str = "warning", message: str = "boom") -> Event:
    e = Event(timestamp=T0 + timedelta(minutes=minute), service=Service(name=service), type=kind, severity=severity, message=message)
    e.pk = pk
    return e


def test_figure_html_is_a_div_with_the_figure_as_data_and_no_script():
    html = charts.figure_html(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), div_id="my-chart")
    assert html.startswith('<div id="my-chart" class="plotly-chart">')
    assert "<script" not in html and "cdn" not in html.lower() and len(html) < 20_000
    figure = json.loads(html_unescape(re.search(r'data-plotly-figure="([^"]*)"', html).group(1)))
    assert figure["data"][0]["x"] == [1, 2] and figure["data"][0]["y"] == [3, 4]
    config = json.loads(html_unescape(re.search(r'data-plotly-config="([^"]*)"', html).group(1)))
    assert config["responsive"] is True


def test_figure_html_escapes_text_in_the_figure():
    html = charts.figure_html(go.Figure(go.Scatter(x=[1], y=[1], text=['"><script>alert(1)</script>'])), div_id="c")
    assert "<script" not in html


def test_figure_html_gives_the_plot_a_fresh_id_each_render():
    first = charts.figure_html(go.Figure(), div_id="tl", on_click="timeline-event")
    second = charts.figure_html(go.Figure(), div_id="tl")
    plot_id = re.search(r'<div id="(tl-[0-9a-f]{8})" class="plotly-graph-div"', first).group(1)
    assert 'data-plotly-click="timeline-event"' in first
    assert plot_id not in second


def test_event_timeline_one_trace_per_type_points_carry_event_ids():
    events = [event(1, 0, "db", "alert", "critical"), event(2, 1, "api", "log", "info"), event(3, 2, "db", "alert", "warning"), event(4, 3, "api", "metric")]
    fig = charts.event_timeline(events)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"alert", "log", "metric"}
    assert list(by_name["alert"].customdata) == [1, 3]
    assert list(by_name["alert"].marker.symbol) == ["diamond", "circle"]  # critical, warning
    assert by_name["alert"].marker.color == charts.TYPE_COLOURS["alert"]
    assert list(fig.layout.yaxis.categoryarray) == ["db", "api"]
    assert fig.layout.xaxis.rangeselector.buttons and fig.layout.dragmode == "zoom"


def test_mini_timeline_stacks_types():
    fig = charts.mini_timeline([event(1, 0, "db", "alert"), event(2, 0, "db", "log"), event(3, 1, "db", "log")])
    assert [t.name for t in fig.data] == ["alert", "log"] and fig.layout.barmode == "stack"


def test_mini_timeline_counts_events_per_round_bucket():
    events = [event(i, minute, "db", "log") for i, minute in enumerate([0, 0, 1, 59])]
    fig = charts.mini_timeline(events)
    (logs,) = fig.data
    # 59 minutes in at most 40 buckets: two-minute buckets, minutes 0, 0 and 1 in the first.
    assert logs.type == "bar" and list(logs.y) == [3, 1] and logs.width == 2 * 60 * 1000 * 0.95
    size, _ = charts.time_buckets([T0, T0 + timedelta(hours=9)])
    assert size == 900


def gauge_value(fig) -> float:
    return fig.data[0].customdata[0]


def test_confidence_gauge_is_a_percentage_clamped_to_0_100():
    assert gauge_value(charts.confidence_gauge(0.724)) == 72.4
    assert gauge_value(charts.confidence_gauge(1.7)) == 100
    assert gauge_value(charts.confidence_gauge(-1)) == 0
    full = charts.confidence_gauge(1.0)
    assert full.layout.annotations[0].text == "100%"
    # Only the Plotly traces of the basic bundle (bar, pie, scatter) are used.
    assert full.data[0].type == "pie" and list(full.data[0].values) == [100, 0, 100]


def test_stats_trend_whole_number_ticks():
    fig = charts.stats_trend(buckets=[T0, T0 + timedelta(hours=1)], alerts=[10, 30], incidents=[1, 3])
    assert [t.name for t in fig.data] == ["Alerts", "Incidents"]
    assert fig.layout.yaxis.dtick == 8 and fig.layout.yaxis2.dtick == 1


def test_layered_positions_put_dependencies_below_their_callers():
    nodes = [{"id": 1, "name": "web"}, {"id": 2, "name": "api"}, {"id": 3, "name": "db"}, {"id": 4, "name": "cache"}]
    edges = [{"source": 1, "target": 2}, {"source": 2, "target": 3}, {"source": 2, "target": 4}, {"source": 3, "target": 1}]  # a cycle
    pos = charts.layered_positions(nodes, edges)
    assert set(pos) == {1, 2, 3, 4}
    assert pos[2][1] > pos[4][1]  # api above cache
    assert pos[4][1] == 0


def test_layered_positions_zigzag_crowded_layers():
    nodes = [{"id": 0, "name": "api"}] + [{"id": i, "name": f"dep-{i}"} for i in range(1, 8)]
    edges = [{"source": 0, "target": i} for i in range(1, 8)]
    pos = charts.layered_positions(nodes, edges)
    assert {pos[i][1] for i in range(1, 8)} == {0.0, -0.32}
    assert pos[0][1] == 1.0


def node(nid, name, role, status="healthy"):
    return {"id": nid, "name": name, "role": role, "tier": "", "team": "", "health": {"status": status, "critical": 0, "warning": 0, "info": 0}}


def test_service_map_arrows_follow_the_cascade_and_colours_follow_health():
    nodes = [node(1, "checkout", "affected", "critical"), node(2, "payments-db", "root_cause", "critical"), node(3, "cart", "neighbour")]
    edges = [{"source": 1, "target": 2, "cascade": True}, {"source": 1, "target": 3, "cascade": False}]
    fig = charts.service_map(nodes=nodes, edges=edges)
    assert len(fig.layout.annotations) == 1  # one cascade arrow
    arrow = fig.layout.annotations[0]
    pos = charts.layered_positions(nodes, edges)
    assert (arrow.ax, arrow.ay) == pos[2] and (arrow.x, arrow.y) == pos[1]  # from payments-db up to checkout
    markers = fig.data[-1]
    assert list(markers.text) == ["checkout", "payments-db", "cart"]
    assert list(markers.marker.color) == [charts.HEALTH_COLOURS["critical"], charts.HEALTH_COLOURS["critical"], charts.HEALTH_COLOURS["healthy"]]
    assert markers.marker.line.width[1] == 5  # the root cause's ring


def test_metric_charts_one_panel_per_metric_anomalies_marked_one_legend_entry_per_service():
    metrics = {
        "cpu": {"api": [(T0, 10.0), (T0 + timedelta(minutes=1), 90.0)], "db": [(T0, 5.0)]},
        "latency": {"api": [(T0, 100.0)]},
    }
    anomalies = {"cpu": [(T0 + timedelta(minutes=1), 90.0, "api", "cpu far above normal")]}
    fig = charts.metric_charts(metrics=metrics, anomalies=anomalies)
    assert [a.text for a in fig.layout.annotations] == ["cpu", "latency"]
    marks = [t for t in fig.data if t.name == "anomaly"]
    assert len(marks) == 1 and list(marks[0].y) == [90.0] and marks[0].marker.symbol == "x"
    api = [t for t in fig.data if t.name == "api"]
    assert len(api) == 2 and [t.showlegend for t in api] == [True, False]


def test_every_chart_draws_with_plotlys_basic_bundle():
    events = [event(1, 0, "db", "alert", "critical"), event(2, 5, "api", "log"), event(3, 9, "db", "anomaly")]
    figures = [
        charts.mini_timeline(events), charts.event_timeline(events), charts.confidence_gauge(0.5),
        charts.stats_trend(buckets=[T0, T0 + timedelta(hours=1)], alerts=[1, 2], incidents=[0, 1]),
        charts.service_map(nodes=[{"id": 1, "name": "db", "role": "root_cause", "health": {"status": "critical", "critical": 1, "warning": 0}}], edges=[]),
        charts.metric_charts(metrics={"cpu": {"db": [(T0, 1.0)]}}, anomalies={"cpu": [(T0, 1.0, "db", "spike")]}),
    ]
    assert {trace.type for fig in figures for trace in fig.data} <= {"bar", "pie", "scatter"}


def test_a_single_day_of_trend_spans_a_week_of_day_wide_bars():
    day = datetime(2026, 11, 30, tzinfo=UTC)
    fig = charts.stats_trend(buckets=[day], alerts=[23], incidents=[6])
    bars = fig.data[0]
    assert bars.width == 86400 * 1000 * 0.8
    start, end = (datetime.fromisoformat(str(x)) for x in fig.layout.xaxis.range)
    assert end - start == timedelta(days=7) and fig.layout.xaxis.tickformat == "%b %-d"
    assert charts.trend_unit([T0]) == "hour" and charts.trend_unit([T0 + timedelta(minutes=5)]) == "minute"


def test_the_timeline_legend_is_the_pages_in_the_charts_own_colours():
    """Plotly's legend wrapped onto two rows at 390 px, under the range buttons: the page draws it."""
    from pathlib import Path

    fig = charts.event_timeline([event(1, 0, "db", "alert", "critical")])
    assert fig.layout.showlegend is False
    assert fig.layout.xaxis.rangeselector.yanchor == "bottom" and fig.layout.xaxis.rangeselector.y == 1.0
    css = (Path(__file__).resolve().parents[2] / "static" / "cleara" / "css" / "cleara.css").read_text()
    for kind, colour in charts.TYPE_COLOURS.items():
        assert f".swatch.type-{kind} {{ background: {colour}; }}" in css


def test_charts_load_pandas_before_any_request_thread_draws_one():
    """plotly reads pandas from sys.modules without importing it and imports it on first JSON
    encoding: if pandas is not loaded when the charts module is, two request threads race on its
    import and one of them answers 500 ("partially initialized module 'pandas'", seen in CI after
    processes stopped importing scikit-learn at start). A fresh interpreter, as a server starts."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'cleara.settings'; django.setup(); import incidents.charts; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip().splitlines()[-1] == "True"
