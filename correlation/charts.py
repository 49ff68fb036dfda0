"""Charts of the correlation app: pure functions returning plotly Figures (HTML via incidents.charts.figure_html)."""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from incidents.charts import _layout, figure_html  # noqa: F401  (figure_html re-exported for the views)


def model_metrics_figure(versions: Sequence) -> go.Figure:
    """Per version (oldest first): the anomaly rate it raised on replay (bars) and its NAB standard score (line)."""
    ordered = sorted(versions, key=lambda v: (v.kind, v.version))
    labels = [f"{v.kind} v{v.version}{' ●' if v.active else ''}" for v in ordered]
    rates = [100 * float(v.metrics.get("anomaly_rate") or 0) for v in ordered]
    nab = [(v.metrics.get("nab") or {}).get("standard") for v in ordered]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=labels, y=rates, name="anomaly rate on replay (%)", marker_color="#334155",
                         hovertemplate="%{x}<br>%{y:.3f}% of points<extra></extra>"), secondary_y=False)
    if any(score is not None for score in nab):
        fig.add_trace(go.Scatter(x=labels, y=nab, name="NAB standard score", mode="lines+markers",
                                 line={"color": "#38bdf8", "width": 2}, connectgaps=True,
                                 hovertemplate="%{x}<br>NAB %{y:.1f}<extra></extra>"), secondary_y=True)
    return _layout(fig, height=220)
