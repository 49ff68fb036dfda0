"""Streaming anomaly detectors, one instance per metric series. Pure numpy / scikit-learn / torch:
nothing here imports Django, so benchmarks and tests call it directly (STYLE.md C2).

``make_detector(name)`` builds a fresh detector, ``detector_from_state(state)`` restores one from
its ``get_state()`` dict (the dict names its own kind).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .base import PointScore, StreamingDetector, score_series
from .ensemble import THRESHOLD, EnsembleDetector
from .discord import DiscordDetector
from .relentropy import RelativeEntropyDetector
from .robust import (
    RobustDailyDetector,
    RobustDetector,
    RobustGatedDetector,
    RobustPoissonDetector,
    RobustSeasonalDetector,
    RobustShiftDetector,
)
from .spectral import SpectralResidualDetector
from .statistical import StatisticalDetector
from .zscore import ZScoreDetector

if TYPE_CHECKING:
    from .isolation_forest import IsolationForestDetector
    from .lstm import LSTMDetector

# The isolation forest (scikit-learn) and the LSTM (PyTorch) are imported when first used: the
# shipped decision (decision.json) runs neither, and importing torch costs every process that
# loads the detectors (web, workers, commands) seconds to start and about two to exit, which
# `manage.py serve` must do within 10 s of Ctrl-C.
_LAZY = {"IsolationForestDetector": ".isolation_forest", "LSTMDetector": ".lstm"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Registry(Mapping):
    """Detector name -> class; the lazy ones are imported on lookup, so `name in DETECTORS` and
    listing the names import nothing."""

    def __init__(self, entries: dict[str, type | str]) -> None:
        self._entries = entries

    def __getitem__(self, name: str) -> type:
        entry = self._entries[name]
        return __getattr__(entry) if isinstance(entry, str) else entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


DETECTORS: Mapping[str, type] = _Registry({
    "statistical": StatisticalDetector,
    "iforest": "IsolationForestDetector",
    "lstm": "LSTMDetector",
    "zscore": ZScoreDetector,
    "robust": RobustDetector,
    "robust_seasonal": RobustSeasonalDetector,
    "robust_gated": RobustGatedDetector,
    "robust_daily": RobustDailyDetector,
    "robust_shift": RobustShiftDetector,
    "robust_poisson": RobustPoissonDetector,
    "discord": DiscordDetector,
    "relentropy": RelativeEntropyDetector,
    "spectral": SpectralResidualDetector,
    "ensemble": EnsembleDetector,
})


def make_detector(name: str = "ensemble", **params: Any) -> StreamingDetector:
    """A fresh detector; ``params`` go to its constructor (e.g. ``seed``, ``threshold``)."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")
    return DETECTORS[name](**params)


def detector_from_state(state: dict[str, Any]) -> StreamingDetector:
    return DETECTORS[state["kind"]].from_state(state)


__all__ = [
    "DETECTORS", "THRESHOLD", "DiscordDetector", "EnsembleDetector", "IsolationForestDetector", "LSTMDetector",
    "PointScore", "RelativeEntropyDetector", "RobustDailyDetector", "RobustDetector", "RobustGatedDetector",
    "RobustPoissonDetector", "RobustSeasonalDetector", "RobustShiftDetector", "SpectralResidualDetector", "StatisticalDetector", "StreamingDetector", "ZScoreDetector", "detector_from_state",
    "make_detector", "score_series",
]
