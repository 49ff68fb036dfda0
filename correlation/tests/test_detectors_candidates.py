"""The candidate parts of issue 10's third round: matrix-profile discords, relative entropy (NAB's
relativeEntropy, made causal), the level-shift absorber and Poisson scoring of counts. The
generic properties (warm-up, causality, state round trip) are checked for every registered
detector in test_detectors.py; these check what each one is for, against independent
computations (brute force, scipy)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from scipy import stats

from correlation.detectors import EnsembleDetector, make_detector, score_series
from correlation.detectors import decision as dec
from correlation.detectors.discord import left_distance
from correlation.detectors.relentropy import CHI2_99_4DF, RelativeEntropyDetector
from correlation.detectors.robust import poisson_z

T0 = 1_700_000_000.0


def brute_left_distance(buf: np.ndarray, m: int, excl: int) -> float:
    """Nearest z-normalised Euclidean distance, one subsequence at a time (STUMPY's conventions
    for constant subsequences)."""
    q = buf[-m:]
    j = len(buf) - m
    best = math.inf
    for i in range(0, j - excl):
        s = buf[i:i + m]
        if q.std() < 1e-8 and s.std() < 1e-8:
            d = 0.0
        elif q.std() < 1e-8 or s.std() < 1e-8:
            d = math.sqrt(m)
        else:
            d = float(np.linalg.norm((q - q.mean()) / q.std() - (s - s.mean()) / s.std()))
        best = min(best, d)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_discord_distance_is_the_brute_force_nearest_neighbour(seed):
    rng = np.random.default_rng(seed)
    buf = np.cumsum(rng.normal(size=300))
    buf[100:130] = 3.0  # a flat stretch: constant subsequences among the neighbours
    for end in (150, 220, 300):
        assert left_distance(buf[:end], 16, 4) == pytest.approx(brute_left_distance(buf[:end], 16, 4), abs=1e-6)
    flat = np.full(60, 2.0)
    assert left_distance(flat, 16, 4) == 0.0
    flat[-1] = 3.0  # varying, all neighbours constant
    assert left_distance(flat, 16, 4) == pytest.approx(4.0)


def test_discord_scores_a_shape_the_series_never_drew_as_a_record():
    """One period of a sine drawn backwards: every value stays in the usual range and level."""
    n, period = 2400, 48
    t = np.arange(n)
    rng = np.random.default_rng(3)
    v = np.sin(2 * np.pi * t / period) + rng.normal(0, 0.05, n)
    at = 2000
    v[at:at + period] = np.sin(-2 * np.pi * np.arange(period) / period * 2)  # twice as fast, reversed
    scores = score_series(lambda: make_detector("discord"), T0 + 300.0 * t, v)
    assert scores[at:at + period].max() >= 0.9
    assert scores[1000:at - 1].max() < scores[at:at + period].max() - 0.03


def nab_histogram(window, lo, hi, bins=5):
    """NAB's own quantisation and numpy.histogram, as relative_entropy_detector.py does it."""
    step = (hi - lo) / bins
    b = [math.ceil((c - lo) / step) for c in window]
    return np.histogram(b, bins=bins, range=(0, bins), density=True)[0]


def test_relative_entropy_bins_as_nab_and_tests_at_the_chi_squared_quantile():
    assert CHI2_99_4DF == pytest.approx(stats.chi2.isf(0.01, 4), rel=1e-12)
    det = RelativeEntropyDetector()
    rng = np.random.default_rng(4)
    for i, x in enumerate(rng.normal(size=200)):
        det.update(T0 + i, float(x))
    window = np.fromiter(det.values, float)
    np.testing.assert_allclose(det._histograms(window), nab_histogram(window, det.lo, det.hi))
    kl = stats.entropy(det._histograms(window), det.hyp[0])
    assert det._statistics(det._histograms(window))[0] == pytest.approx(2 * 52 * kl)


def test_relative_entropy_alarms_on_a_new_distribution_and_on_a_new_extreme():
    rng = np.random.default_rng(5)
    n = 1500
    v = rng.normal(0, 1, n)
    v[1000:1100] = rng.uniform(2.0, 2.5, 100)  # a stretch of values in the upper bins only
    v[1300] = 12.0  # a new extreme: the range widens and every hypothesis is binned anew
    flags = score_series(RelativeEntropyDetector, T0 + 300.0 * np.arange(n), v)
    assert flags[1000:1060].max() == 1.0
    assert flags[1300] == 1.0
    assert set(np.unique(flags)) <= {0.0, 1.0}
    assert flags[600:990].mean() < 0.05  # the usual distribution agrees with its hypotheses


def test_level_shift_becomes_the_new_normal_after_the_confirmation_run():
    rng = np.random.default_rng(6)
    n = 1200
    ts = T0 + 300.0 * np.arange(n)
    v = 10 + rng.normal(0, 1, n)
    v[800:] += 10
    shift = score_series(lambda: make_detector("robust_shift"), ts, v)
    daily = score_series(lambda: make_detector("robust_daily"), ts, v)
    assert shift[800] > 0.9 and daily[800] > 0.9  # the shift itself is seen by both
    # twelve points later it is the new level for the absorber, while the plain daily window
    # (288 five-minute points) still sees it as far off
    assert shift[815:900].max() < 0.8
    assert daily[815:830].min() > 0.85


@pytest.mark.parametrize("x,rate", [(3, 0.5), (6, 1.2), (0, 9.0), (1, 20.0), (25, 10.0), (40, 3.0)])
def test_poisson_z_is_the_normal_quantile_of_the_poisson_tail(x, rate):
    p = stats.poisson.sf(x - 1, rate) if x > rate else stats.poisson.cdf(x, rate)
    assert poisson_z(x, rate) == pytest.approx(stats.norm.isf(p), rel=1e-6)
    assert poisson_z(4, 4.0) == 0.0


def test_poisson_counts_near_zero_judged_as_counts():
    rng = np.random.default_rng(7)
    n = 1200
    ts = T0 + 300.0 * np.arange(n)
    v = rng.poisson(0.2, n).astype(float)
    v[1000] = 6.0
    scores = score_series(lambda: make_detector("robust_poisson"), ts, v)
    z = scores / (1 - scores)
    assert z[1000] > 5.0  # P(X >= 6 | 0.2) is about 8e-8
    ones = (v[400:990] == 1.0)
    assert np.all(z[400:990][ones] < 2.0)  # a single count at rate 0.2 is ordinary


def test_young_rule_with_three_votes_takes_the_maximum_of_the_older_two():
    rng = np.random.default_rng(8)
    v = rng.random((3, 900))
    whole = dec.combine_votes(v, "young", young=300)
    np.testing.assert_array_equal(whole[:300], v[2, :300])
    np.testing.assert_array_equal(whole[300:], np.maximum(v[0, 300:], v[1, 300:]))
    one_by_one = np.array([dec.combine_scalar(list(col), "young", i, 300) for i, col in enumerate(v.T)])
    np.testing.assert_array_equal(whole, one_by_one)


def test_three_vote_young_ensemble_alarms_where_the_bench_says_across_a_state_round_trip():
    rng = np.random.default_rng(9)
    n = 1800
    ts = T0 + 300.0 * np.arange(n)
    v = 50 + 10 * np.sin(np.arange(n) / 40) + rng.normal(0, 1, n)
    v[400] += 80
    v[1500] += 120
    votes = ("statistical", "relentropy", "robust_daily")

    def ensemble():
        return EnsembleDetector(votes=votes, combine="young", young=1000, units={"robust_daily": 0.5},
                                threshold=0.9125, quiet=3 * 3600)

    det = ensemble()
    first = [det.update(float(t), float(x)).is_anomaly for t, x in zip(ts[:1100], v[:1100])]
    state = pickle.loads(pickle.dumps(det.get_state()))
    assert list(state["parts"]) == ["statistical", "relentropy"]  # old: the young part is gone
    det = EnsembleDetector.from_state(state)
    rest = [det.update(float(t), float(x)).is_anomaly for t, x in zip(ts[1100:], v[1100:])]
    parts = np.stack([score_series(lambda n=name: make_detector(n), ts, v) for name in votes])
    parts[2] = dec.rescale(parts[2], 0.5)
    expected = dec.alarm_rows(np.flatnonzero(dec.combine_votes(parts, "young", 1000) >= 0.9125), 3 * 3600, ts)
    np.testing.assert_array_equal(np.flatnonzero(first + rest), expected)
    assert 400 in expected and 1500 in expected
