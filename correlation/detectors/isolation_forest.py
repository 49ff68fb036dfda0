"""Isolation forest on windowed features of one series, refit now and then on its own past.

Each point becomes a small feature vector that is scale-free (everything is divided by the
rolling robust spread of the series): level (distance from the rolling median), change (step from
the previous point), local spread (mean absolute step over the last few points) and the residual
from the series' seasonal profile. A scikit-learn ``IsolationForest`` is fitted on the feature
vectors of the last ``history`` points every ``refit_every`` points; it only ever sees points
before the one it scores, so the detector stays causal.

Scoring one point with ``IsolationForest.score_samples`` costs about a millisecond of Python and
validation overhead, so after each fit the trees are copied into flat numpy arrays and walked for
all trees at once (one vector step per tree level). The result is identical to scikit-learn's
``score_samples`` (checked in the tests), costs a few tens of microseconds, and the arrays are
what ``get_state`` stores, so a restored detector needs no pickled scikit-learn object.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from .base import PointScore, RollingWindow, SeasonalProfile, TailCalibrator, warming

N_FEATURES = 4


def average_path_length(n: np.ndarray | float) -> np.ndarray:
    """c(n): average path length of an unsuccessful BST search, as in Liu et al. and scikit-learn."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class FlatForest:
    """The trees of a fitted IsolationForest as flat arrays, walked for all trees at once."""

    __slots__ = ("feature", "threshold", "left", "right", "leaf_value", "roots", "depth", "norm")

    def __init__(self, feature, threshold, left, right, leaf_value, roots, depth, norm):
        self.feature = np.asarray(feature, dtype=np.intp)
        self.threshold = np.asarray(threshold, dtype=float)
        self.left = np.asarray(left, dtype=np.intp)
        self.right = np.asarray(right, dtype=np.intp)
        self.leaf_value = np.asarray(leaf_value, dtype=float)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.depth = int(depth)
        self.norm = float(norm)

    @classmethod
    def from_sklearn(cls, forest: IsolationForest) -> "FlatForest":
        feats, thrs, lefts, rights, values, roots = [], [], [], [], [], []
        offset = 0
        depth = 0
        for est, cols in zip(forest.estimators_, forest.estimators_features_):
            t = est.tree_
            n = t.node_count
            is_leaf = t.children_left == -1
            idx = np.arange(n)
            # a leaf points to itself, so extra steps past it are no-ops
            lefts.append(np.where(is_leaf, idx, t.children_left) + offset)
            rights.append(np.where(is_leaf, idx, t.children_right) + offset)
            feats.append(np.where(is_leaf, 0, np.asarray(cols)[np.maximum(t.feature, 0)]))
            thrs.append(np.where(is_leaf, np.inf, t.threshold))
            node_depth = _node_depths(t.children_left, t.children_right)
            depth = max(depth, int(node_depth.max()))
            # scikit-learn: path length = nodes on the path + c(samples in the leaf) - 1
            values.append(np.where(is_leaf, node_depth + 1 + average_path_length(t.n_node_samples) - 1.0, 0.0))
            roots.append(offset)
            offset += n
        norm = len(forest.estimators_) * float(average_path_length(forest.max_samples_))
        return cls(np.concatenate(feats), np.concatenate(thrs), np.concatenate(lefts),
                   np.concatenate(rights), np.concatenate(values), roots, depth, norm)

    def score(self, x: np.ndarray) -> float:
        """scikit-learn's ``-score_samples``: 2 ** (-mean path length / c(max_samples)), in (0, 1)."""
        # the trees were grown on float32 copies of the data; compare the same way
        x = x.astype(np.float32).astype(float)
        node = self.roots
        feature, threshold, left, right = self.feature, self.threshold, self.left, self.right
        for _ in range(self.depth):
            node = np.where(x[feature[node]] <= threshold[node], left[node], right[node])
        return 2.0 ** (-self.leaf_value[node].sum() / self.norm)

    def get_state(self) -> dict[str, Any]:
        """The trees in about 13 bytes a node (they are most of a detector's stored state): the
        feature as int8; the threshold as float32 rounded down, which decides exactly as the
        float64 one for the float32 inputs the trees compare; the right child as int32 (the left
        child of a node is the next node, as scikit-learn builds trees depth first); and the
        path-length values of the leaves only (leaves are the nodes with an infinite threshold)."""
        idx = np.arange(len(self.left))
        leaf = self.left == idx
        thr32 = self.threshold.astype(np.float32)
        thr32 = np.where(thr32.astype(float) > self.threshold, np.nextafter(thr32, np.float32(-np.inf)), thr32)
        state = {"format": 2, "feature": self.feature.astype(np.int8), "threshold": thr32,
                 "right": self.right.astype(np.int32), "leaf_values": self.leaf_value[leaf],
                 "roots": self.roots.astype(np.int32), "depth": self.depth, "norm": self.norm}
        if not np.array_equal(self.left[~leaf], idx[~leaf] + 1):
            state["left"] = self.left.astype(np.int32)
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "FlatForest":
        if "leaf_values" not in state:  # stored before the compact format
            return cls(**state)
        threshold = np.asarray(state["threshold"], dtype=float)
        leaf = np.isinf(threshold)
        idx = np.arange(len(threshold))
        left = state["left"] if "left" in state else np.where(leaf, idx, idx + 1)
        leaf_value = np.zeros(len(threshold))
        leaf_value[leaf] = state["leaf_values"]
        return cls(state["feature"], threshold, left, state["right"], leaf_value, state["roots"], state["depth"], state["norm"])


def _node_depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    depth = np.zeros(len(left), dtype=float)
    for i in range(len(left)):  # children always have larger ids than their parent
        if left[i] != -1:
            depth[left[i]] = depth[i] + 1
            depth[right[i]] = depth[i] + 1
    return depth


class IsolationForestDetector:
    name = "iforest"

    def __init__(
        self,
        window: int = 256,
        history: int = 2048,
        first_fit: int = 256,
        refit_every: int = 1024,
        n_estimators: int = 50,
        max_samples: int = 256,
        memory: int = 4000,
        min_history: int = 16,
        seed: int = 0,
    ):
        self.window = window
        self.history = history
        self.first_fit = first_fit
        self.refit_every = refit_every
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.seed = seed
        self.n = 0
        self.fits = 0
        self.since_fit = 0
        self.values = RollingWindow(window)
        self.prev = math.nan
        self.steps: deque[float] = deque(maxlen=6)
        self.seasonal = SeasonalProfile()
        # the feature rows of the last ``history`` points, a float32 ring (scikit-learn fits its
        # trees on float32 copies anyway, so this loses nothing and halves the state)
        self.features = np.zeros((history, N_FEATURES), dtype=np.float32)
        self.feat_count = 0
        self.feat_head = 0
        self.forest: FlatForest | None = None
        self.cal = TailCalibrator(memory, min_history)

    def _featurise(self, ts: float, value: float) -> tuple[list[float], float, float]:
        med, scale = self.values.center_scale()
        step = abs(value - self.prev) / scale
        local = (sum(self.steps) + step) / (len(self.steps) + 1)
        season = self.seasonal.expected(ts)
        resid = (value - season[0]) / scale if season is not None else 0.0
        return [(value - med) / scale, (value - self.prev) / scale, local, resid], med, scale

    def update(self, ts: float, value: float) -> PointScore:
        value = float(value)
        if self.n < 16:
            self._learn(ts, value, None, math.nan)
            return warming(self.n, self.first_fit)
        feats, med, scale = self._featurise(ts, value)
        if self.forest is None:
            self._learn(ts, value, feats, scale)
            return warming(self.n, self.first_fit)
        raw = self.forest.score(np.asarray(feats))
        score = self.cal.score(raw)
        self.cal.learn(raw)
        self._learn(ts, value, feats, scale)
        return PointScore(
            score=score,
            warming_up=False,
            expected_low=med - 3.0 * scale,
            expected_high=med + 3.0 * scale,
            statistic=raw,
            details={"level": feats[0], "change": feats[1], "spread": feats[2], "seasonal": feats[3]},
        )

    def _learn(self, ts: float, value: float, feats: list[float] | None, scale: float) -> None:
        if feats is not None:
            self.features[self.feat_head] = feats
            self.feat_head = (self.feat_head + 1) % self.history
            self.feat_count = min(self.feat_count + 1, self.history)
            self.steps.append(abs(feats[1]))
        self.values.push(value)
        self.seasonal.learn(ts, value)
        self.prev = value
        self.n += 1
        self.since_fit += 1
        due = self.refit_every if self.forest is not None else self.first_fit
        if self.feat_count >= self.first_fit and self.since_fit >= due:
            self._fit()

    def feature_rows(self) -> np.ndarray:
        """The stored feature rows, oldest first."""
        if self.feat_count < self.history:
            return self.features[:self.feat_count]
        return np.concatenate([self.features[self.feat_head:], self.features[:self.feat_head]])

    def _fit(self) -> None:
        X = self.feature_rows()
        forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(X)),
            random_state=self.seed + self.fits,
        ).fit(X)
        self.forest = FlatForest.from_sklearn(forest)
        self.fits += 1
        self.since_fit = 0

    def get_state(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "params": {"window": self.window, "history": self.history, "first_fit": self.first_fit,
                       "refit_every": self.refit_every, "n_estimators": self.n_estimators,
                       "max_samples": self.max_samples, "memory": self.cal.window.size,
                       "min_history": self.cal.min_history, "seed": self.seed},
            "n": self.n,
            "fits": self.fits,
            "since_fit": self.since_fit,
            "values": self.values.to_array(),
            "prev": self.prev,
            "steps": list(self.steps),
            "seasonal": self.seasonal.get_state(),
            "features": self.feature_rows().copy(),
            "forest": None if self.forest is None else self.forest.get_state(),
            "cal": self.cal.get_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "IsolationForestDetector":
        det = cls(**state["params"])
        det.n = int(state["n"])
        det.fits = int(state["fits"])
        det.since_fit = int(state["since_fit"])
        det.values = RollingWindow(det.window, state["values"])
        det.prev = float(state["prev"])
        det.steps.extend(state["steps"])
        det.seasonal = SeasonalProfile.from_state(state["seasonal"])
        rows = np.asarray(state["features"], dtype=np.float32).reshape(-1, N_FEATURES)[-det.history:]
        det.features[:len(rows)] = rows
        det.feat_count = len(rows)
        det.feat_head = len(rows) % det.history
        det.forest = None if state["forest"] is None else FlatForest.from_state(state["forest"])
        det.cal = TailCalibrator.from_state(state["cal"])
        return det
