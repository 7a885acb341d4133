"""The ETT benchmark protocol (Zhou et al., Informer, AAAI 2021) and the ratio split for other CSVs.

ETT splits by calendar, in months of 30 days: 12 months train, 4 validation, 4 test; rows after
month 20 are unused. Validation and test start ``seq_len`` rows early so that their first window's
encoder sees the end of the previous split, as in the paper's code (``Dataset_ETT_hour``). Other
CSVs use the paper's ``Dataset_Custom`` ratio split (70/10/20 by default).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from forecasting.data.series import SeriesFrame, load_csv_series, read_header_columns
from forecasting.errors import ConfigError, ForecastingError

log = logging.getLogger(__name__)

ETT_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
ETT_TARGET = "OT"  # oil temperature: the target of the 'S' and 'MS' settings
ETT_FREQ = {"ETTh1": "h", "ETTh2": "h", "ETTm1": "15min", "ETTm2": "15min"}

_HOURS_PER_MONTH = 30 * 24
ETT_HOUR_BORDERS = {
    "train": (0, 12 * _HOURS_PER_MONTH),
    "val": (12 * _HOURS_PER_MONTH, 16 * _HOURS_PER_MONTH),
    "test": (16 * _HOURS_PER_MONTH, 20 * _HOURS_PER_MONTH),
}
ETT_MINUTE_BORDERS = {name: (4 * a, 4 * b) for name, (a, b) in ETT_HOUR_BORDERS.items()}
SPLIT_KINDS = ("ett_hour", "ett_minute", "ratio")


def _check_segments(
    bounds: dict[str, tuple[int, int]], seq_len: int, pred_len: int, why: str
) -> None:
    needed = seq_len + pred_len
    for name, (start, end) in bounds.items():
        if end - start < needed:
            sizes = ", ".join(f"{k} {b - a}" for k, (a, b) in bounds.items())
            raise ConfigError(
                f"{why}: the {name} split has {end - start} rows ({sizes}), but one window needs "
                f"seq_len ({seq_len}) + pred_len ({pred_len}) = {needed}; use a shorter "
                "seq_len/pred_len or more data"
            )


def split_bounds(
    n_rows: int,
    seq_len: int,
    kind: str = "ett_hour",
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    *,
    pred_len: int = 1,
) -> dict[str, tuple[int, int]]:
    """Row ranges ``[start, end)`` of train/val/test; val and test include ``seq_len`` history.

    Raises ConfigError when the data cannot hold the split, or a split cannot hold one window
    of ``seq_len + pred_len`` rows.
    """
    if seq_len < 1 or pred_len < 1:
        raise ConfigError(f"Expected seq_len >= 1 and pred_len >= 1, got {seq_len}, {pred_len}")
    if kind in ("ett_hour", "ett_minute"):
        borders = ETT_HOUR_BORDERS if kind == "ett_hour" else ETT_MINUTE_BORDERS
        needed = borders["test"][1]
        if n_rows < needed:
            raise ConfigError(
                f"The {kind} split needs at least {needed} rows (20 months of 30 days), the data "
                f"has {n_rows}; use --split ratio for other data"
            )
        if seq_len > borders["val"][0]:
            raise ConfigError(
                f"seq_len {seq_len} is longer than the {kind} training split "
                f"({borders['val'][0]} rows)"
            )
        bounds = {
            "train": borders["train"],
            "val": (borders["val"][0] - seq_len, borders["val"][1]),
            "test": (borders["test"][0] - seq_len, borders["test"][1]),
        }
        _check_segments(bounds, seq_len, pred_len, f"The {kind} split")
        return bounds
    if kind != "ratio":
        raise ConfigError(f"Unknown split kind {kind!r}; expected one of {list(SPLIT_KINDS)}")
    if len(ratios) != 3 or any(r <= 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise ConfigError(
            f"Expected three positive split ratios (train, val, test) summing to 1, got {ratios}"
        )
    n_train = int(n_rows * ratios[0])
    n_test = int(n_rows * ratios[2])
    n_val = n_rows - n_train - n_test
    if n_train < seq_len + pred_len:
        raise ConfigError(
            f"{n_rows} rows are too few for the ratio split: the training split has {n_train} "
            f"rows but one window needs seq_len ({seq_len}) + pred_len ({pred_len})"
        )
    bounds = {
        "train": (0, n_train),
        "val": (n_train - seq_len, n_train + n_val),
        "test": (n_rows - n_test - seq_len, n_rows),
    }
    _check_segments(bounds, seq_len, pred_len, f"The ratio split of {n_rows} rows")
    return bounds


def load_ett(path: str | Path, name: str = "ETTh1") -> SeriesFrame:
    """Load an ETT file; checks its columns and that it is hourly (ETTh) or 15-minute (ETTm)."""
    if name not in ETT_FREQ:
        raise ConfigError(f"Unknown ETT data set {name!r}; expected one of {list(ETT_FREQ)}")
    extra = [c for c in read_header_columns(path) if c not in ("date", *ETT_COLUMNS)]
    if extra:
        log.warning("%s: ignoring columns %s, which are not part of %s", path, extra, name)
    return load_csv_series(path, "date", targets=ETT_COLUMNS, freq=ETT_FREQ[name])


def is_ett_file(path: str | Path) -> bool:
    """True when the header has ETT's columns (so the ETT loader applies; the split is chosen
    with --split)."""
    try:
        columns = read_header_columns(path)
    except (ForecastingError, OSError):
        return False
    return all(name in columns for name in ("date", *ETT_COLUMNS))
