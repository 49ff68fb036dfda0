"""The learned root-cause ranker: the ranking rules of correlation.rca as features, weighed by a small
model trained on labelled incidents, and the calibration of the confidence shown.

Plain numbers, no Django, so that benchmarks and tests call it directly:

- `FEATURES`: what correlation.rca measures for every candidate of an incident (how soon it went
  wrong, whether its dependencies are healthy, how much of the trouble it covers, whether its
  signals fit a known pattern, how loud and how severe it is, whether other affected services'
  messages name it, whether it is silent, whether it is anomalous, where it sits).
- `Ranker`: a pointwise logistic regression over those features (scikit-learn), standardised; a
  candidate's score is its logit, and the probabilities among an incident's candidates are the
  softmax of the scores. Stored as plain numbers in a model version's parameters (kind
  `rca_ranker`, correlation.learning), so a version reads back without unpickling anything.
- `platt_fit` / `calibrate`: Platt scaling of the confidence shown (the top candidate's
  probability), fitted on one evaluation family and checked on the others.

A training set is a list of groups, one per labelled incident: [(features, is_root), ...].
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

FEATURES = (
    "onset",       # exp(-delay / tau) of the service's own onset after the incident's first (rules' part)
    "healthy",     # 1 - how much an unwell dependency explains it better (rules' part)
    "coverage",    # the share of the incident's trouble it accounts for (rules' part)
    "pattern",     # how well its messages and metrics fit a known failure mode (rules' part)
    "severity",    # its worst severity (rules' part)
    "volume",      # its own evidence relative to the loudest service's (rules' part)
    "named",       # the share of its affected direct callers whose messages name it
    "blames",      # 1 when its own messages name one of its dependencies (the trouble is further down)
    "silent",      # 1 when it sent nothing itself (a third party, a blackholed host)
    "anomalous",   # 1 when the anomaly detector flagged one of its series
    "error_logs",  # log(1 + its error log lines) / 5
    "callers",     # the share of the other affected services that depend on it, directly or not
    "deps",        # the share of its direct dependencies that are affected
    "prior",       # engineers' feedback prior in [-1, 1] (correlation.learning)
    # Log templates as evidence (correlation.loading.Store.log_templates): kinds of warning and
    # error line the service never logged in the day before the incident.
    "new_templates",  # min(1, how many such templates / 3)
    "new_onset",      # exp(-delay / tau) of its first such line after the incident's first such line
    "new_named",      # the share of its affected direct callers whose new kinds of line name it
    "new_lines",      # log(1 + its lines of those templates) / 5
    # Fan-in (shared infrastructure: a broker, a database, DNS).
    "fan_in",         # the share of its direct dependants that are affected
    "shared",         # min(1, its direct dependants / 8)
)
# Products the linear model cannot form on its own, computed from the features above.
DERIVED = {
    "chain_end": lambda v: v.get("named", 0.0) * (1.0 - v.get("blames", 0.0)),  # named by its callers, blaming nobody
    "silent_named": lambda v: v.get("silent", 0.0) * max(v.get("named", 0.0), v.get("new_named", 0.0)),
}
# The template features (correlation.loading.Store.log_templates); a ranker without them is the one
# shipped before they existed (rca_ranker_v1).
TEMPLATE_FEATURES = ("new_templates", "new_onset", "new_named", "new_lines")
# Fan-in (issue 9, after rca_ranker_v2): not in the base set, so that "base" and "v2" stay what they were.
FANIN_FEATURES = ("fan_in", "shared")
BASE_FEATURES = tuple(f for f in FEATURES if f not in TEMPLATE_FEATURES and f not in FANIN_FEATURES)


def feature(values: dict[str, float], name: str) -> float:
    """A candidate's value of one feature: measured (FEATURES) or derived from them (DERIVED)."""
    derived = DERIVED.get(name)
    return float(derived(values)) if derived is not None else float(values.get(name, 0.0))


# Platt scaling is fitted on the logit of the confidence; this keeps the logit finite.
EPS = 1e-4


def logit(p: float) -> float:
    p = min(1 - EPS, max(EPS, p))
    return math.log(p / (1 - p))


def calibrate(confidence: float, calibration: tuple[float, float] | None) -> float:
    """The confidence mapped through Platt scaling (slope, intercept) on its logit; in (0, 1), monotone
    in `confidence` for a positive slope. None or (1, 0) leaves it as it is."""
    if not calibration or tuple(calibration) == (1.0, 0.0):
        return confidence
    a, b = calibration
    z = a * logit(confidence) + b
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def lead_calibrate(lead: float, calibration: tuple[float, float]) -> float:
    """The confidence shown for a first hypothesis that leads the second by `lead` of probability
    (in [-1, 1]; negative when a held root is shown below a new leader): a logistic (slope,
    intercept) on the lead, fitted by lead_fit."""
    a, b = calibration
    return 1.0 / (1.0 + math.exp(-(a * lead + b)))


def lead_fit(leads: Iterable[float], correct: Iterable[bool]) -> tuple[float, float]:
    """(slope, intercept) of a logistic regression of `correct` on the lead (lead_calibrate), the
    slope kept positive: a clearer lead is never shown as less sure."""
    return _logistic_fit([float(v) for v in leads], correct)


def _logistic_fit(x: list[float], correct: Iterable[bool]) -> tuple[float, float]:
    """(slope, intercept) of a logistic regression of `correct` on one input, the slope kept positive."""
    from sklearn.linear_model import LogisticRegression

    y = [int(bool(t)) for t in correct]
    if len(set(y)) < 2:
        raise ValueError("calibration needs right and wrong examples both")
    model = LogisticRegression(C=10.0).fit([[v] for v in x], y)
    return max(1e-3, float(model.coef_[0][0])), float(model.intercept_[0])


def discounted_fit(inputs: Iterable[float], ranked: Iterable[bool], flagged: Iterable[bool],
                   correct: Iterable[bool]) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Both paths' scalings and the second-origin discount, fitted together (maximum likelihood, the
    slopes and the discount L2-penalised as _logistic_fit's, C = 10): for an incident the rules
    ordered, `inputs` is its lead (lead_calibrate); for one the ranker ordered, its top probability
    (calibrate); a flagged incident (rca.unexplained) loses the discount's logit
    (rca.discount). Returns (rules' (slope, intercept), ranker's (slope, intercept), discount); the
    slopes are kept positive and the discount at 0 or more (another origin never makes it surer)."""
    import numpy as np
    from scipy.optimize import minimize

    x, k, f, y = (np.array([float(v) for v in values]) for values in (inputs, ranked, flagged, correct))
    if not (len(x) == len(k) == len(f) == len(y)):
        raise ValueError("inputs, ranked, flagged and correct differ in length")
    for path in (0.0, 1.0):
        if len(set(y[k == path])) < 2:
            raise ValueError("calibration needs right and wrong examples on both paths")
    x = np.where(k == 1.0, [logit(v) for v in x], x)
    c = 10.0

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        a0, b0, a1, b1, d = w
        z = np.where(k == 1.0, a1 * x + b1, a0 * x + b0) - d * f
        p = 1.0 / (1.0 + np.exp(-z))
        nll = np.sum(np.logaddexp(0.0, z) - y * z)
        r = p - y  # d nll / d z
        grad = np.array([np.sum(r * x * (1 - k)), np.sum(r * (1 - k)), np.sum(r * x * k), np.sum(r * k), -np.sum(r * f)])
        penalty = np.array([a0, 0.0, a1, 0.0, d])
        return 0.5 * float(penalty @ penalty) + c * nll, penalty + c * grad

    fit = minimize(loss, np.array([1.0, 0.0, 1.0, 0.0, 0.0]), jac=True, method="L-BFGS-B",
                   bounds=[(1e-3, None), (None, None), (1e-3, None), (None, None), (0.0, None)])
    a0, b0, a1, b1, d = (float(v) for v in fit.x)
    return (a0, b0), (a1, b1), d


def platt_fit(confidences: Iterable[float], correct: Iterable[bool]) -> tuple[float, float]:
    """(slope, intercept) of a logistic regression of `correct` on logit(confidence): among the
    incidents then shown at about 80%, about 80% are right (on the data it was fitted on). The slope
    is kept positive, so that calibration never reverses the order of two confidences."""
    return _logistic_fit([logit(c) for c in confidences], correct)


@dataclass(frozen=True)
class Ranker:
    """A linear scorer over FEATURES (standardised by `mean` and `scale`), with the Platt scaling of
    the confidence it shows."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    calibration: tuple[float, float] = (1.0, 0.0)

    def score(self, values: dict[str, float]) -> float:
        """The candidate's logit of being the root cause."""
        return self.intercept + sum(
            c * ((feature(values, name) - m) / s) for name, m, s, c in zip(self.features, self.mean, self.scale, self.coef)
        )

    def to_parameters(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale), "coef": list(self.coef),
                "intercept": self.intercept, "calibration": list(self.calibration)}

    @classmethod
    def from_parameters(cls, p: dict) -> Ranker:
        n = len(p["features"])
        if not (len(p["mean"]) == len(p["scale"]) == len(p["coef"]) == n):
            raise ValueError("ranker parameters: features, mean, scale and coef must have the same length")
        return cls(tuple(p["features"]), tuple(map(float, p["mean"])), tuple(float(s) or 1.0 for s in p["scale"]),
                   tuple(map(float, p["coef"])), float(p["intercept"]), tuple(map(float, p.get("calibration") or (1.0, 0.0))))

    def with_calibration(self, calibration: tuple[float, float]) -> Ranker:
        return Ranker(self.features, self.mean, self.scale, self.coef, self.intercept, tuple(calibration))


Group = list[tuple[dict[str, float], bool]]


def ranker_fit(groups: list[Group], *, c: float = 1.0, features: tuple[str, ...] = FEATURES) -> Ranker:
    """A pointwise logistic regression: every candidate of every incident is one example, labelled
    by whether it is the root cause. Incidents whose root is not among their candidates teach
    nothing about ranking and are left out; each incident weighs the same whatever its size."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rows, labels, weights = [], [], []
    for group in groups:
        if not any(label for _, label in group) or len(group) < 2:
            continue
        for values, label in group:
            rows.append([feature(values, f) for f in features])
            labels.append(int(label))
            weights.append(1.0 / len(group))
    if len(set(labels)) < 2:
        raise ValueError("the ranker needs incidents with more than one candidate and a known root")
    x = np.array(rows)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, labels, sample_weight=weights)
    return Ranker(tuple(features), tuple(mean.tolist()), tuple(scale.tolist()), tuple(model.coef_[0].tolist()),
                  float(model.intercept_[0]))


def softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def top1(groups: list[Group], score) -> float:
    """The share of groups whose best-scored candidate is the root (`score`: features -> number;
    ties go to the earlier candidate, i.e. the rules' order)."""
    if not groups:
        return 0.0
    hits = 0
    for group in groups:
        best = max(range(len(group)), key=lambda k: (score(group[k][0]), -k))
        hits += group[best][1]
    return hits / len(groups)
