"""Per-service risk forecast: how likely each service is to be hit by an incident in the next hours.

Classical, not an LSTM: the history is a handful of counts per service and hour, and a logistic
regression over a few features of it can be trained on a week of it and explained. For a service
at hour t (only hours before t are read):

- its incident rate: incidents that touched it in the last 7 days and in the last 24 hours
  (recurring trouble), and hours since the last one;
- its recent signals: firing alerts, error logs and anomalies in the last hour, and the error
  trend (last hour against its 24-hour mean);
- recent deploys (events tagged as deploys) in the last 6 hours.

The label is whether an incident touching the service *starts* in [t, t + horizon). `naive_scores`
is the baseline the benchmark compares with: the service's incident count so far (the services
that broke most often break next). Plain module without Django: the dashboard's selector fills
`ServiceHistory` from the database, bench/forecast.py from a simulation.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

HORIZON_HOURS = 2
FEATURES = ("incidents_7d", "incidents_24h", "hours_since_incident", "alerts_1h", "errors_1h", "error_trend",
            "anomalies_1h", "deploys_6h")


@dataclass
class ServiceHistory:
    """Counts per hour (index 0 = the first hour of the history) for one service."""

    alerts: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    anomalies: list[int] = field(default_factory=list)
    deploys: list[int] = field(default_factory=list)
    incidents: list[int] = field(default_factory=list)  # incidents touching the service that started that hour

    def hours(self) -> int:
        return max(len(self.alerts), len(self.errors), len(self.anomalies), len(self.deploys), len(self.incidents))


def _sum(values: Sequence[int], a: int, b: int) -> int:
    return sum(values[max(0, a):max(0, b)])


def features(history: ServiceHistory, t: int) -> list[float]:
    """The feature vector of a service at hour t (reads hours < t only)."""
    inc = history.incidents
    last = next((h for h in range(min(t, len(inc)) - 1, -1, -1) if inc[h]), None)
    errors_1h = _sum(history.errors, t - 1, t)
    errors_24h = _sum(history.errors, t - 24, t) / 24
    return [
        math.log1p(_sum(inc, t - 168, t)),
        math.log1p(_sum(inc, t - 24, t)),
        math.log1p(t - last if last is not None else 168.0),
        math.log1p(_sum(history.alerts, t - 1, t)),
        math.log1p(errors_1h),
        math.log1p(errors_1h) - math.log1p(errors_24h),
        math.log1p(_sum(history.anomalies, t - 1, t)),
        math.log1p(_sum(history.deploys, t - 6, t)),
    ]


def label(history: ServiceHistory, t: int, horizon: int = HORIZON_HOURS) -> int:
    return int(_sum(history.incidents, t, t + horizon) > 0)


class RiskForecaster:
    def __init__(self, *, horizon: int = HORIZON_HOURS):
        self.horizon = horizon
        self.model: LogisticRegression | None = None

    def fit(self, histories: Mapping[str, ServiceHistory], hours: range) -> RiskForecaster:
        X, y = [], []
        for history in histories.values():
            for t in hours:
                X.append(features(history, t))
                y.append(label(history, t, self.horizon))
        if len(set(y)) < 2:
            raise ValueError("the history needs hours with and without incidents to learn from")
        # Imported here, when a forecast is trained: not by every process that imports this module.
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            self.model = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(X), np.array(y))
        return self

    def predict(self, histories: Mapping[str, ServiceHistory], t: int) -> dict[str, float]:
        """Risk (probability of an incident starting within the horizon) per service at hour t."""
        if self.model is None:
            raise RuntimeError("the forecaster is not trained")
        names = list(histories)
        if not names:
            return {}
        proba = self.model.predict_proba(np.array([features(histories[n], t) for n in names]))[:, 1]
        return {n: float(p) for n, p in zip(names, proba)}

    def explain(self) -> dict[str, float]:
        """The weight of each feature (log-odds per unit), for the dashboard's tooltip."""
        if self.model is None:
            return {}
        return {name: float(w) for name, w in zip(FEATURES, self.model.coef_[0])}


def naive_scores(histories: Mapping[str, ServiceHistory], t: int) -> dict[str, float]:
    """Baseline: every incident that touched the service before t (frequent victims come first)."""
    return {n: float(_sum(h.incidents, 0, t)) for n, h in histories.items()}


def top_k(scores: Mapping[str, float], k: int) -> list[str]:
    return [n for n, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
