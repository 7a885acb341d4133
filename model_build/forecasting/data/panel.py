"""Panel data for the TFT: many series in one table, with the column roles the model needs.

A panel is validated at the boundary like a single series (see :mod:`forecasting.data.validation`)
and then handed over in the shape pytorch-forecasting's ``TimeSeriesDataSet`` expects: rows sorted
by series and time, an integer ``time_idx`` without gaps inside a series, categoricals as plain
strings and reals as float64. This module holds the schema and the frame; `panel_loading` reads
and validates a file, `panel_roles` infers a user file's roles, `stallion` holds the tutorial data
set and the synthetic demo panel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

from forecasting.data.time_features import feature_names, normalize_freq
from forecasting.errors import ConfigError

log = logging.getLogger(__name__)

TIME_IDX = "time_idx"
CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")

# Role fields of PanelSchema and how messages name one of their columns.
ROLES = {
    "static_categoricals": "static categorical",
    "static_reals": "static real",
    "known_categoricals": "known categorical",
    "known_reals": "known real",
    "unknown_categoricals": "unknown categorical",
    "unknown_reals": "unknown real",
}
_CATEGORICAL_ROLES = ("static_categoricals", "known_categoricals", "unknown_categoricals")
_REAL_ROLES = ("static_reals", "known_reals", "unknown_reals")


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    """A tuple of column names; a lone string is one name, not a sequence of letters."""
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class PanelSchema:
    """Column roles of a panel (pytorch-forecasting ``TimeSeriesDataSet`` vocabulary).

    Known variables are available for the forecast horizon too (calendar, planned prices);
    unknown ones only up to the forecast start. The target is not listed among the covariates:
    the TFT code adds it to the unknown reals. A variable group (e.g. Stallion's 12 special-day
    flags) is used by its name in a categorical role and stands for its member columns.
    Inconsistent roles raise :class:`ConfigError` on construction, before any file is read.
    """

    group_columns: tuple[str, ...]
    time_column: str
    target: str
    static_categoricals: tuple[str, ...] = ()
    static_reals: tuple[str, ...] = ()
    known_categoricals: tuple[str, ...] = ()
    known_reals: tuple[str, ...] = ()
    unknown_categoricals: tuple[str, ...] = ()
    unknown_reals: tuple[str, ...] = ()
    variable_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    freq: str | None = None
    # Calendar positions of each step (hour of day, day of week, ...: the Informer's features
    # for the frequency) computed from the time column as known reals, in training and inference.
    calendar: bool = False

    def __post_init__(self) -> None:
        # Lists from JSON or a CLI become tuples, so equal schemas compare equal.
        for name in ("group_columns", *ROLES):
            object.__setattr__(self, name, _names(getattr(self, name)))
        groups = {str(name): _names(members) for name, members in self.variable_groups.items()}
        object.__setattr__(self, "variable_groups", groups)
        if self.freq is not None:
            object.__setattr__(self, "freq", normalize_freq(self.freq))
        self._check()

    def _check(self) -> None:
        named = [*self.group_columns, self.time_column, self.target]
        for role in ROLES:
            named += getattr(self, role)
        for members in self.variable_groups.values():
            named += members
        for name in [*named, *self.variable_groups]:
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"column names must be non-empty strings, got {name!r}")
        if not self.group_columns:
            raise ConfigError(
                "expected at least one group column (the series id, e.g. --group-columns store)"
            )
        if self.time_column == TIME_IDX:
            raise ConfigError(
                f"the time column cannot be named {TIME_IDX!r}: that name is reserved for the "
                "step index computed from the timestamps"
            )
        role_of: dict[str, str] = {}

        def claim(column: str, role: str) -> None:
            earlier = role_of.get(column)
            if earlier is None:
                role_of[column] = role
                return
            if earlier == "group column" and role == "static categorical":
                return  # a series id may also be embedded as a static categorical
            if earlier == "target":
                raise ConfigError(
                    f"the target {column!r} is also listed as a {role}; leave it out of the "
                    "covariates (the TFT adds the target to the unknown reals itself)"
                )
            if earlier == "time column":
                raise ConfigError(
                    f"the time column {column!r} cannot also be a {role}; use {TIME_IDX!r} "
                    "as a known real, it is generated from the timestamps"
                )
            same = "twice" if earlier == role else f"as a {earlier} and"
            raise ConfigError(
                f"column {column!r} is listed {same} as a {role}; expected each column in one role"
            )

        for column in self.group_columns:
            claim(column, "group column")
        claim(self.time_column, "time column")
        claim(self.target, "target")
        used_groups: set[str] = set()
        for role, label in ROLES.items():
            for column in getattr(self, role):
                if column == TIME_IDX:
                    if role != "known_reals":
                        raise ConfigError(
                            f"{TIME_IDX!r} can only be a known real (it is the step index), "
                            f"not a {label}"
                        )
                    claim(column, label)
                elif column in self.variable_groups:
                    if role not in _CATEGORICAL_ROLES:
                        raise ConfigError(
                            f"variable group {column!r} is listed as a {label}; groups stand "
                            "for categorical columns, so list it among the categoricals"
                        )
                    claim(column, label)
                    used_groups.add(column)
                    for member in self.variable_groups[column]:
                        claim(member, f"{label} (in variable group {column!r})")
                else:
                    claim(column, label)
        for name, members in self.variable_groups.items():
            if not members:
                raise ConfigError(f"variable group {name!r} has no columns")
            if name not in used_groups:
                raise ConfigError(
                    f"variable group {name!r} is not listed in any role; add it to the "
                    "categoricals (e.g. the known categoricals) or remove it"
                )
            if TIME_IDX in members:
                raise ConfigError(f"variable group {name!r} cannot contain {TIME_IDX!r}")

    def columns(self) -> list[str]:
        """Every file column the schema names (group members expanded, ``time_idx`` left out)."""
        ordered = [*self.group_columns, self.time_column, self.target]
        for role in ROLES:
            for name in getattr(self, role):
                ordered += self.variable_groups.get(name, (name,))
        return [name for name in dict.fromkeys(ordered) if name != TIME_IDX]

    def categorical_columns(self) -> list[str]:
        """File columns holding labels: series ids and categoricals (group members expanded)."""
        ordered = list(self.group_columns)
        for role in _CATEGORICAL_ROLES:
            for name in getattr(self, role):
                ordered += self.variable_groups.get(name, (name,))
        return list(dict.fromkeys(ordered))

    def real_columns(self) -> list[str]:
        """File columns holding numbers: the target and the reals (not the generated time_idx)."""
        ordered = [self.target, *self.static_reals, *self.known_reals, *self.unknown_reals]
        return [name for name in ordered if name != TIME_IDX]

    def calendar_columns(self) -> list[str]:
        """The generated calendar known reals: none without ``calendar`` or a frequency."""
        if not self.calendar or self.freq is None:
            return []
        try:
            return feature_names(self.freq)
        except ConfigError as error:
            raise ConfigError(f"{error}; or turn them off (--calendar-features false)") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (lists, not tuples), for preprocessing.json and checkpoints."""
        data: dict[str, Any] = {
            "group_columns": list(self.group_columns),
            "time_column": self.time_column,
            "target": self.target,
        }
        for role in ROLES:
            data[role] = list(getattr(self, role))
        data["variable_groups"] = {name: list(m) for name, m in self.variable_groups.items()}
        data["freq"] = self.freq
        data["calendar"] = self.calendar
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PanelSchema:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        missing = [name for name in ("group_columns", "time_column", "target") if name not in data]
        if unknown or missing:
            raise ConfigError(
                f"not a panel schema: unknown keys {unknown}, missing keys {missing}; "
                f"expected keys among {sorted(known)}"
            )
        return cls(**data)


@dataclass(frozen=True)
class PanelFrame:
    """A validated panel, ready for ``TimeSeriesDataSet``.

    ``frame`` holds the schema's columns plus ``time_idx`` (int64, steps of ``schema.freq``
    since the earliest timestamp of the whole file), sorted by series then time, with no
    missing step inside a series. Series ids and categoricals are ``str``, reals and the target
    float64, the time column datetime64. ``schema.freq`` is always set.
    """

    frame: pd.DataFrame
    schema: PanelSchema
    source: str
    synthetic: bool = False

    def __len__(self) -> int:
        return len(self.frame)
