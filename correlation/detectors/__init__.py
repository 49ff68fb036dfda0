"""Streaming anomaly detectors, one instance per metric series. Pure numpy / scikit-learn / torch:
nothing here imports Django, so benchmarks and tests call it directly (STYLE.md C2).

``make_detector(name)`` builds a fresh detector, ``detector_from_state(state)`` restores one from
its ``get_state()`` dict (the dict names its own kind).
"""

from __future__ import annotations

from typing import Any

from .base import PointScore, StreamingDetector, score_series
from .ensemble import THRESHOLD, EnsembleDetector
from .isolation_forest import IsolationForestDetector
from .lstm import LSTMDetector
from .robust import RobustDailyDetector, RobustDetector, RobustGatedDetector, RobustSeasonalDetector
from .spectral import SpectralResidualDetector
from .statistical import StatisticalDetector
from .zscore import ZScoreDetector

DETECTORS: dict[str, type] = {
    "statistical": StatisticalDetector,
    "iforest": IsolationForestDetector,
    "lstm": LSTMDetector,
    "zscore": ZScoreDetector,
    "robust": RobustDetector,
    "robust_seasonal": RobustSeasonalDetector,
    "robust_gated": RobustGatedDetector,
    "robust_daily": RobustDailyDetector,
    "spectral": SpectralResidualDetector,
    "ensemble": EnsembleDetector,
}


def make_detector(name: str = "ensemble", **params: Any) -> StreamingDetector:
    """A fresh detector; ``params`` go to its constructor (e.g. ``seed``, ``threshold``)."""
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}") from None
    return cls(**params)


def detector_from_state(state: dict[str, Any]) -> StreamingDetector:
    return DETECTORS[state["kind"]].from_state(state)


__all__ = [
    "DETECTORS", "THRESHOLD", "EnsembleDetector", "IsolationForestDetector", "LSTMDetector",
    "PointScore", "RobustDailyDetector", "RobustDetector", "RobustGatedDetector", "RobustSeasonalDetector", "SpectralResidualDetector", "StatisticalDetector", "StreamingDetector", "ZScoreDetector", "detector_from_state",
    "make_detector", "score_series",
]
