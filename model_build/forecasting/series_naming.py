"""How the forecasts name a series, and where a training-shaped file holds it.

A forecast row's ``series_id`` is the series' id values (its group columns; for the Informer the
request's optional ``series_id``), then, for a family that forecasts several targets per history,
the target, joined with :data:`SEPARATOR`; empty parts are left out. Each family's serving names
its series with this rule, and its evaluation records it in ``evaluation.json`` (``"evaluation"``
-> ``"columns"``, :meth:`SeriesNaming.to_dict`), so readers without this package (the accuracy
Lambda) can map a file in the training data's columns to the forecasts' series, target and time.

Light: no torch, pandas or numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SEPARATOR = "/"


@dataclass(frozen=True)
class SeriesNaming:
    """The columns of a training-shaped file and how its rows name the forecast series."""

    time_column: str
    id_columns: tuple[str, ...]  # their values, in this order, start the series_id
    targets: tuple[str, ...]
    target_in_id: bool  # each target of a history is a series of its own (the Informer)

    def series_id(self, ids: Sequence[str], target: str) -> str:
        parts = [str(value) for value in ids if str(value)]
        return SEPARATOR.join([*parts, target] if self.target_in_id else parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_column": self.time_column,
            "id_columns": list(self.id_columns),
            "targets": list(self.targets),
            "series_id": {"separator": SEPARATOR, "target_appended": self.target_in_id},
        }
