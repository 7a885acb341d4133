"""Calendar covariates for Informer (the paper's ``timeF`` encoding).

Each feature is a calendar position scaled to [-0.5, 0.5], so the model sees *where* in the day,
week or year a step lies without one-hot blow-up. Which features exist depends on the data's
frequency: hourly data gets hour-of-day, monthly data only month-of-year, and so on.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from forecasting.errors import ConfigError

Feature = Callable[[pd.DatetimeIndex], np.ndarray]

# Aliases pandas removed (or that the Informer code uses) mapped to today's spelling, so a config
# written for older pandas or copied from the paper's scripts still works.
_LEGACY_UNITS = {
    "H": "h",
    "T": "min",
    "t": "min",
    "S": "s",
    "L": "ms",
    "U": "us",
    "N": "ns",
    "M": "ME",
    "Q": "QE",
    "A": "YE",
    "Y": "YE",
    "BM": "BME",
    "BQ": "BQE",
    "BA": "BYE",
    "BY": "BYE",
}
_ALIAS = re.compile(r"^(\d*)([A-Za-z]+)(-\w+)?$")


def _second_of_minute(index: pd.DatetimeIndex) -> np.ndarray:
    return index.second.to_numpy() / 59.0 - 0.5


def _minute_of_hour(index: pd.DatetimeIndex) -> np.ndarray:
    return index.minute.to_numpy() / 59.0 - 0.5


def _hour_of_day(index: pd.DatetimeIndex) -> np.ndarray:
    return index.hour.to_numpy() / 23.0 - 0.5


def _day_of_week(index: pd.DatetimeIndex) -> np.ndarray:
    return index.dayofweek.to_numpy() / 6.0 - 0.5


def _day_of_month(index: pd.DatetimeIndex) -> np.ndarray:
    return (index.day.to_numpy() - 1) / 30.0 - 0.5


def _day_of_year(index: pd.DatetimeIndex) -> np.ndarray:
    return (index.dayofyear.to_numpy() - 1) / 365.0 - 0.5


def _month_of_year(index: pd.DatetimeIndex) -> np.ndarray:
    return (index.month.to_numpy() - 1) / 11.0 - 0.5


def _week_of_year(index: pd.DatetimeIndex) -> np.ndarray:
    week = index.isocalendar().week.to_numpy(dtype=np.float64)
    return (week - 1) / 52.0 - 0.5


_DAY_AND_ABOVE: list[Feature] = [_day_of_week, _day_of_month, _day_of_year]
_HOUR_AND_ABOVE: list[Feature] = [_hour_of_day, *_DAY_AND_ABOVE]
_MINUTE_AND_ABOVE: list[Feature] = [_minute_of_hour, *_HOUR_AND_ABOVE]

# Checked in order: the first offset class the frequency is an instance of wins.
_FEATURES_BY_OFFSET: list[tuple[tuple[type, ...], list[Feature]]] = [
    ((pd.offsets.Second,), [_second_of_minute, *_MINUTE_AND_ABOVE]),
    ((pd.offsets.Minute,), _MINUTE_AND_ABOVE),
    ((pd.offsets.Hour,), _HOUR_AND_ABOVE),
    ((pd.offsets.Day, pd.offsets.BusinessDay), _DAY_AND_ABOVE),
    ((pd.offsets.Week,), [_day_of_month, _week_of_year]),
    (
        (
            pd.offsets.MonthBegin,
            pd.offsets.MonthEnd,
            pd.offsets.BusinessMonthBegin,
            pd.offsets.BusinessMonthEnd,
            pd.offsets.QuarterBegin,
            pd.offsets.QuarterEnd,
        ),
        [_month_of_year],
    ),
]


def normalize_freq(freq: str) -> str:
    """The current pandas spelling of ``freq`` (``"H"`` → ``"h"``, ``"15T"`` → ``"15min"``).

    Raises ConfigError for strings pandas cannot read as a frequency.
    """
    text = str(freq).strip()
    match = _ALIAS.match(text)
    if match and match.group(2) in _LEGACY_UNITS:
        count, unit, anchor = match.groups()
        text = f"{count}{_LEGACY_UNITS[unit]}{anchor or ''}"
    try:
        return to_offset(text).freqstr
    except ValueError:
        raise ConfigError(
            f"Unknown frequency {freq!r}: expected a pandas offset alias such as "
            "'h', '15min', 'D', 'B', 'W', 'MS' or 'ME'"
        ) from None


def _features_for(freq: str) -> list[Feature]:
    offset = to_offset(normalize_freq(freq))
    for classes, features in _FEATURES_BY_OFFSET:
        if isinstance(offset, classes):
            return features
    raise ConfigError(
        f"No calendar features are defined for frequency {freq!r}: supported are seconds, "
        "minutes, hours, days, business days, weeks, months and quarters"
    )


def feature_names(freq: str) -> list[str]:
    """Names of the columns :func:`time_features` returns for ``freq`` (``"hour_of_day"``...)."""
    return [feature.__name__.lstrip("_") for feature in _features_for(freq)]


def n_time_features(freq: str) -> int:
    """Number of columns :func:`time_features` returns for ``freq`` (the model's mark width)."""
    return len(_features_for(freq))


def time_features(index: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Encode ``index`` as float32 ``[T, F]`` calendar features in [-0.5, 0.5] for ``freq``."""
    index = pd.DatetimeIndex(index)
    features = _features_for(freq)
    if len(index) == 0:
        return np.zeros((0, len(features)), dtype=np.float32)
    return np.stack([feature(index) for feature in features], axis=1).astype(np.float32)
