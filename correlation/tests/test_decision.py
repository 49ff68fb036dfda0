"""correlation.detectors.decision: the benchmark's whole-array functions and the live path's
point-by-point ones must agree exactly (the live path alarms where the benchmark measured)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from correlation.detectors import DETECTORS, EnsembleDetector, ZScoreDetector, make_detector, score_series
from correlation.detectors import decision as dec


def votes(n=3, points=2000, seed=0):
    rng = np.random.default_rng(seed)
    v = 0.85 * rng.random((n, points))
    v[:, 700:720] = 0.95 + 0.05 * rng.random((n, 20))  # an excursion
    return v


@pytest.mark.parametrize("combine", dec.COMBINES)
def test_combined_scores_are_the_same_floats_point_by_point(combine):
    v = votes()
    whole = dec.combine_votes(v, combine)
    one_by_one = np.array([dec.combine_scalar(list(col), combine) for col in v.T])
    np.testing.assert_array_equal(whole, one_by_one)


@pytest.mark.parametrize("quiet", [300, 1800, 7200])
def test_alarm_gate_raises_where_alarm_rows_does(quiet):
    scores = dec.combine_votes(votes(seed=1), "top2")
    times = 1_700_000_000.0 + 300.0 * np.arange(len(scores))
    times[1000:] += 86400.0  # a gap: the quiet spell is time, not points
    gate = dec.AlarmGate(0.9, quiet)
    live = np.flatnonzero([gate.step(s, t) for s, t in zip(scores, times)])
    np.testing.assert_array_equal(live, dec.alarm_rows(np.flatnonzero(scores >= 0.9), quiet, times))
    assert 700 in live and not any(700 < i < 720 for i in live)  # one alarm for the excursion


def test_alarm_rows_waits_for_a_quiet_spell_in_seconds():
    times = 60.0 * np.arange(50)  # one point a minute
    above = np.array([3, 4, 5, 20, 21, 40])
    assert dec.alarm_rows(above, 60, times).tolist() == [3, 20, 40]
    assert dec.alarm_rows(above, 14 * 60, times).tolist() == [3, 20, 40]
    assert dec.alarm_rows(above, 15 * 60, times).tolist() == [3, 40]
    assert dec.alarm_rows(np.array([], dtype=np.int64), 5, times).tolist() == []


def test_likelihood_flags_a_jump_in_a_score_stream_and_restores_exactly():
    rng = np.random.default_rng(2)
    s = rng.random(3000) * 0.5
    s[2500:2510] = 1.0
    out = dec.likelihood_scores(s, short=10, history=500, min_history=64)
    assert out[:64].max() == 0.0
    assert out[2505:2512].max() > 0.5 > np.quantile(out[100:2500], 0.99)
    lik = dec.Likelihood(short=10, history=500, min_history=64)
    first = [lik.step(x) for x in s[:1700]]
    restored = dec.Likelihood.from_state(pickle.loads(pickle.dumps(lik.get_state())))
    np.testing.assert_array_equal(np.array(first + [restored.step(x) for x in s[1700:]]), out)


def test_decision_file_names_known_parts_and_where_it_was_measured():
    d = dec.load_decision()
    assert d["combine"] in dec.COMBINES and 0.0 < d["threshold"] <= 1.0 and d["quiet"] >= 1
    assert d["votes"] and all(v in DETECTORS and v != "ensemble" for v in d["votes"])
    assert all(v in d["votes"] for v in d.get("units", {}))
    assert d["measured"]["by"]


def test_ensemble_alarms_where_the_bench_functions_say():
    rng = np.random.default_rng(3)
    ts = 1_700_000_000.0 + 300.0 * np.arange(1500)
    v = 50 + 10 * np.sin(np.arange(1500) / 40) + rng.normal(0, 1, 1500)
    v[1200] += 80
    det = EnsembleDetector(votes=("zscore", "robust"), combine="max", units={"robust": 0.5}, threshold=0.9, quiet=1800)
    flags = np.flatnonzero([det.update(float(t), float(x)).is_anomaly for t, x in zip(ts, v)])
    parts = np.stack([score_series(lambda n=n: make_detector(n), ts, v) for n in ("zscore", "robust")])
    parts[1] = dec.rescale(parts[1], 0.5)
    expected = dec.alarm_rows(np.flatnonzero(dec.combine_votes(parts, "max") >= 0.9), 1800, ts)
    np.testing.assert_array_equal(flags, expected)
    assert 1200 in flags


def test_zscore_is_the_plain_running_z_of_the_previous_200_points():
    rng = np.random.default_rng(4)
    v = rng.normal(10, 2, 600)
    det = ZScoreDetector()
    scores = [det.update(float(i), float(x)) for i, x in enumerate(v)]
    window = v[300:500]
    z = abs(v[500] - window.mean()) / window.std()
    assert scores[500].statistic == pytest.approx(z, rel=1e-9)
    assert scores[500].score == pytest.approx(z / (1 + z), rel=1e-9)


def test_young_rule_takes_the_fixed_scale_vote_first_then_the_calibrated_one():
    v = votes(n=2)
    whole = dec.combine_votes(v, "young", young=500)
    np.testing.assert_array_equal(whole[:500], v[1, :500])
    np.testing.assert_array_equal(whole[500:], v[0, 500:])
    one_by_one = np.array([dec.combine_scalar(list(col), "young", i, 500) for i, col in enumerate(v.T)])
    np.testing.assert_array_equal(whole, one_by_one)
    assert dec.split_combine("young1000") == ("young", 1000) and dec.split_combine("top2") == ("top2", 0)


@pytest.mark.parametrize("young_vote", ["spectral", "robust"])
def test_young_ensemble_alarms_where_the_bench_says_across_a_state_round_trip(young_vote):
    """A spike while the series is young (the fixed-scale vote decides) and one after (statistical
    decides); the detector is saved and restored on the way, across the boundary."""
    rng = np.random.default_rng(5)
    n = 2600
    ts = 1_700_000_000.0 + 300.0 * np.arange(n)
    v = 50 + 10 * np.sin(np.arange(n) / 40) + rng.normal(0, 1, n)
    v[400] += 80  # large enough for a level view (robust) as well as a shape one (spectral)
    v[2300] += 120  # a record after the young spike too

    def ensemble():
        return EnsembleDetector(votes=("statistical", young_vote), combine="young", young=1000,
                                units={young_vote: 0.5}, threshold=0.915, quiet=3 * 3600)

    det = ensemble()
    first = [det.update(float(t), float(x)).is_anomaly for t, x in zip(ts[:900], v[:900])]
    det = EnsembleDetector.from_state(pickle.loads(pickle.dumps(det.get_state())))
    rest = [det.update(float(t), float(x)).is_anomaly for t, x in zip(ts[900:], v[900:])]
    flags = np.flatnonzero(first + rest)
    parts = np.stack([score_series(lambda n=n: make_detector(n), ts, v) for n in ("statistical", young_vote)])
    parts[1] = dec.rescale(parts[1], 0.5)
    expected = dec.alarm_rows(np.flatnonzero(dec.combine_votes(parts, "young", 1000) >= 0.915), 3 * 3600, ts)
    np.testing.assert_array_equal(flags, expected)
    assert 400 in flags and 2300 in flags
    # once old, the young vote's part is not run and its state is no longer kept
    assert list(det.get_state()["parts"]) == ["statistical"]


def test_an_old_young_ensemble_restores_without_its_young_part():
    young_vote = "robust_daily"
    rng = np.random.default_rng(6)
    n = 1600
    ts = 1_700_000_000.0 + 60.0 * np.arange(n)  # one point a minute: a day-long robust window
    v = 20 + rng.normal(0, 1, n)
    v[1400] += 30

    def ensemble():
        return EnsembleDetector(votes=("statistical", young_vote), combine="young", young=1000,
                                units={young_vote: 0.5}, threshold=0.9125, quiet=3 * 3600)

    straight = ensemble()
    expected = [straight.update(float(t), float(x)).score for t, x in zip(ts, v)]
    det = ensemble()
    first = [det.update(float(t), float(x)).score for t, x in zip(ts[:1200], v[:1200])]
    state = pickle.loads(pickle.dumps(det.get_state()))
    assert list(state["parts"]) == ["statistical"]
    restored = EnsembleDetector.from_state(state)
    rest = [restored.update(float(t), float(x)).score for t, x in zip(ts[1200:], v[1200:])]
    np.testing.assert_array_equal(np.array(first + rest), np.array(expected))
    assert max(rest[195:205]) >= 0.9125  # the spike at 1,400, judged by the statistical part
