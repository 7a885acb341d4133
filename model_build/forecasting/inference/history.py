"""Checks every request shares, whatever the model: series order and history length.

Rows are named as the request numbers them (``where``) and series by their id, so a user can
find the bad line in a file of thousands of series.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from forecasting.data.validation import Location
from forecasting.errors import DataValidationError


def check_increasing(
    keys: pd.Series,
    stamps: pd.DatetimeIndex,
    name_of: Callable[[int], str],
    where: Location,
    column: str,
) -> None:
    """Within each series (``keys``), timestamps must strictly increase in request order.

    A sorted copy would hide a shuffled or duplicated export, and the forecast would then start
    after the wrong timestamp.
    """
    order = pd.DataFrame({"key": keys.to_numpy(), "stamp": stamps, "row": np.arange(len(keys))})
    previous = order.groupby("key", sort=False)["stamp"].shift()
    bad = np.flatnonzero((order["stamp"] <= previous).to_numpy())
    if len(bad):
        row = int(bad[0])
        earlier = order.loc[
            (order["key"] == order.at[row, "key"]) & (order["row"] < row), "stamp"
        ].iloc[-1]
        relation = "repeats" if order.at[row, "stamp"] == earlier else "is earlier than"
        raise DataValidationError(
            f"{where.row(row, column)}: series {name_of(row)}: timestamp "
            f"{order.at[row, 'stamp']} {relation} {earlier} on the line before it for this "
            "series; expected increasing timestamps within each series"
        )


def too_short(series: str, rows: int, needed: int, what: str, where: Location) -> None:
    if rows < needed:
        raise DataValidationError(
            f"{where.source}: series {series} has {rows} rows of history; expected at least "
            f"{needed} ({what})"
        )
