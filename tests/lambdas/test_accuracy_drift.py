"""The drift alarm: rolling sMAPE against the version's registered one, notify once, retrain once
per cool-down (lambdas/accuracy/drift.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lambdas.accuracy.drift import (
    ALARM,
    NO_ACTUALS,
    NO_REFERENCE,
    OK,
    AlarmState,
    DriftPolicy,
    decide,
    reference_smape,
    retrain_token,
    verdicts,
)
from lambdas.accuracy.scoring import Measures, Scores

DAY0 = datetime(2026, 1, 1)


def scores_with(days: dict[str, list[float]]) -> Scores:
    """Per version, one matched point per day with the given sMAPE terms."""
    scores = Scores()
    for version, terms in days.items():
        scores.cells["m", version, "s", "y", 1] = Measures()  # a version is its cells
        scores.smape_by_time["m", version] = {
            DAY0 + timedelta(days=i): [term, 1] for i, term in enumerate(terms)
        }
    return scores


def test_rolling_smape_is_the_mean_over_the_window_before_the_latest_actual():
    scores = scores_with({"1": [100.0] * 5 + [10.0, 20.0]})
    (verdict,) = verdicts(scores, {("m", "1"): 10.0}, DriftPolicy(window_days=2))
    assert verdict.as_of == DAY0 + timedelta(days=6)
    assert (verdict.rolling_points, verdict.rolling_smape) == (2, 15.0)
    assert verdict.error_ratio == pytest.approx(1.5)
    assert verdict.status == OK  # 1.5 is not above 1.5
    (over,) = verdicts(scores, {("m", "1"): 9.9}, DriftPolicy(window_days=2))
    assert over.status == ALARM


def test_versions_without_reference_or_actuals_are_not_judged():
    scores = scores_with({"1": [10.0], "2": []})
    found = verdicts(scores, {("m", "1"): None, ("m", "2"): 5.0}, DriftPolicy())
    assert [v.status for v in found] == [NO_REFERENCE, NO_ACTUALS]
    decision = decide(found, AlarmState(), DriftPolicy(retrain=True))
    assert decision.notify == () and decision.retrain is None


def test_reference_is_the_registered_smape():
    assert reference_smape({"regression_metrics": {"smape": {"value": 20.3}}}) == 20.3
    assert reference_smape({"regression_metrics": {"mse": {"value": 1}}}) is None
    assert reference_smape(None) is None


def test_version_ten_is_newer_than_version_nine():
    found = verdicts(scores_with({"10": [1.0], "9": [1.0]}), {}, DriftPolicy())
    assert [v.version for v in found] == ["9", "10"]


def test_the_alarm_fires_once_and_one_bad_week_retrains_once():
    """Daily runs over a drift that lasts 10 days: one notification, one retrain in the first
    week (cool-down 7 days), a second retrain only once the cool-down has passed."""
    policy = DriftPolicy(ratio=1.5, window_days=3, retrain=True, cooldown_days=7)
    good, bad = [10.0] * 5, [40.0] * 10
    state = AlarmState()
    notified, retrained = [], []
    for day in range(1, len(good + bad) + 1):
        found = verdicts(scores_with({"1": (good + bad)[:day]}), {("m", "1"): 10.0}, policy)
        decision = decide(found, state, policy)
        notified += [(day, v.version) for v in decision.notify]
        if decision.retrain:
            retrained.append(day)
        state = decision.state
    # day 6: the window holds 10, 10, 40 (mean 20 > 1.5 x 10); it stays above until day 15
    assert notified == [(6, "1")]
    assert retrained == [6, 13]  # then only once 7 days of data time have passed


def test_a_recovered_version_is_reported_again_when_it_relapses():
    policy = DriftPolicy(window_days=1)
    reference = {("m", "1"): 10.0}
    state = AlarmState()
    seen = []
    for terms in ([40.0], [40.0, 40.0], [40.0, 40.0, 10.0], [40.0, 40.0, 10.0, 40.0]):
        decision = decide(verdicts(scores_with({"1": terms}), reference, policy), state, policy)
        seen.append(len(decision.notify))
        state = decision.state
    assert seen == [1, 0, 0, 1]


def test_an_old_version_in_alarm_does_not_retrain_when_the_newest_is_fine():
    policy = DriftPolicy(retrain=True)
    found = verdicts(
        scores_with({"1": [40.0], "2": [10.0]}), {("m", "1"): 10.0, ("m", "2"): 10.0}, policy
    )
    decision = decide(found, AlarmState(), policy)
    assert [v.version for v in decision.notify] == ["1"]
    assert decision.retrain is None and "newest" in decision.retrain_note


def test_retraining_off_alarms_without_retraining():
    policy = DriftPolicy(retrain=False)
    found = verdicts(scores_with({"1": [40.0]}), {("m", "1"): 10.0}, policy)
    decision = decide(found, AlarmState(), policy)
    assert len(decision.notify) == 1 and decision.retrain is None
    assert decision.state.last_retrain_at is None


def test_the_state_survives_a_round_trip_and_tokens_are_per_version_and_day():
    state = AlarmState(("1",), DAY0, "1")
    assert AlarmState.from_json(state.to_json(), "s.json") == state
    with pytest.raises(ValueError, match=r"s\.json"):
        AlarmState.from_json({"last_retrain_at": "soon"}, "s.json")
    (one,) = verdicts(scores_with({"1": [40.0]}), {}, DriftPolicy())
    (two,) = verdicts(scores_with({"1": [40.0, 40.0]}), {}, DriftPolicy())
    assert retrain_token(one) == retrain_token(one) != retrain_token(two)
    assert 32 <= len(retrain_token(one)) <= 128


@pytest.mark.parametrize("kwargs", [{"ratio": 0}, {"window_days": 0}, {"cooldown_days": -1}])
def test_impossible_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        DriftPolicy(**kwargs)
