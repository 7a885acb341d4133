import numpy as np
import pandas as pd
import pytest

from forecasting.data.time_features import n_time_features, normalize_freq, time_features
from forecasting.errors import ConfigError


@pytest.mark.parametrize(
    ("freq", "count"),
    [
        ("s", 6),
        ("10s", 6),
        ("min", 5),
        ("15min", 5),
        ("T", 5),
        ("t", 5),
        ("h", 4),
        ("H", 4),
        ("D", 3),
        ("B", 3),
        ("W", 2),
        ("W-MON", 2),
        ("MS", 1),
        ("ME", 1),
        ("M", 1),
        ("QS", 1),
    ],
)
def test_feature_count_per_frequency(freq, count):
    index = pd.date_range("2016-07-01", periods=5, freq=normalize_freq(freq))
    features = time_features(index, freq)
    assert n_time_features(freq) == count
    assert features.shape == (5, count)
    assert features.dtype == np.float32


def test_hourly_values_match_the_informer_formulas():
    # 2016-07-01 13:00 is a Friday (dayofweek 4), day 183 of a leap year.
    features = time_features(pd.DatetimeIndex(["2016-07-01 13:00"]), "h")[0]
    expected = [13 / 23 - 0.5, 4 / 6 - 0.5, 0 / 30 - 0.5, 182 / 365 - 0.5]
    np.testing.assert_allclose(features, expected, rtol=1e-6)


def test_minute_second_week_and_month_values():
    stamp = pd.DatetimeIndex(["2017-12-31 23:59:30"])
    second = time_features(stamp, "s")[0]
    np.testing.assert_allclose(second[:2], [30 / 59 - 0.5, 59 / 59 - 0.5], rtol=1e-6)
    # 2017-12-31 is a Sunday in ISO week 52; December is month 12.
    week = time_features(stamp, "W")[0]
    np.testing.assert_allclose(week, [30 / 30 - 0.5, 51 / 52 - 0.5], rtol=1e-6)
    np.testing.assert_allclose(time_features(stamp, "MS")[0], [0.5])


@pytest.mark.parametrize("freq", ["s", "min", "h", "D", "W"])
def test_features_stay_in_range_over_a_leap_year(freq):
    ends = pd.DatetimeIndex(["2016-01-01 00:00:00", "2016-12-31 23:59:59"])
    index = pd.date_range("2016-01-01", periods=2000, freq=freq).append(ends)
    features = time_features(index, freq)
    assert features.min() >= -0.5 and features.max() <= 0.5
    assert len(features) == len(index)


def test_empty_index_gives_zero_rows():
    assert time_features(pd.DatetimeIndex([]), "h").shape == (0, 4)


@pytest.mark.parametrize("freq", ["YE", "ms", "not-a-freq"])
def test_unsupported_frequency_is_a_config_error(freq):
    with pytest.raises(ConfigError, match="frequency"):
        n_time_features(freq)


@pytest.mark.parametrize(
    ("given", "normal"), [("H", "h"), ("15T", "15min"), ("M", "ME"), ("S", "s"), ("W", "W-SUN")]
)
def test_legacy_aliases_are_normalised(given, normal):
    assert normalize_freq(given) == normal
