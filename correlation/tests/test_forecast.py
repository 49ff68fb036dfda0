"""Per-service risk forecast: trained on hourly counts, it ranks the services that keep breaking first."""
import pytest

from correlation.forecast import RiskForecaster, ServiceHistory, features, label, naive_scores, top_k

HOURS = 24 * 6


def history(every: int | None, offset: int = 0) -> ServiceHistory:
    incidents = [1 if every and h % every == offset else 0 for h in range(HOURS)]
    errors = [5 if every and (h + 1) % every == offset else 0 for h in range(HOURS)]  # trouble the hour before
    return ServiceHistory(alerts=[0] * HOURS, errors=errors, anomalies=[0] * HOURS, deploys=[0] * HOURS, incidents=incidents)


def test_features_read_only_the_past_and_labels_only_the_horizon():
    h = ServiceHistory(incidents=[0, 0, 0, 1, 0, 0], errors=[0, 0, 9, 0, 0, 0])
    assert features(h, 2) == features(ServiceHistory(incidents=[0, 0], errors=[0, 0]), 2)
    assert label(h, 2, horizon=2) == 1 and label(h, 4, horizon=2) == 0


def test_the_forecaster_ranks_recurring_victims_first_and_beats_nothing_to_go_on():
    estate = {"postgres": history(every=6), "checkout": history(every=12, offset=3), "search": history(None), "dns": history(None)}
    model = RiskForecaster(horizon=2).fit(estate, range(24, HOURS - 30))
    t = HOURS - 12  # postgres breaks at multiples of 6 and logged errors the hour before
    risk = model.predict(estate, t)
    assert top_k(risk, 1) == ["postgres"]
    assert risk["postgres"] > risk["search"] and risk["checkout"] > risk["dns"] * 0.99
    assert set(model.explain()) >= {"incidents_7d", "errors_1h"}
    assert top_k(naive_scores(estate, t), 2) == ["postgres", "checkout"]


def test_training_needs_both_outcomes():
    with pytest.raises(ValueError):
        RiskForecaster().fit({"quiet": history(None)}, range(24, 48))
    with pytest.raises(RuntimeError):
        RiskForecaster().predict({"quiet": history(None)}, 30)
