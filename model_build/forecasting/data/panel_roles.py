"""A user's panel file: the column roles given, the rest inferred and announced."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.panel import ROLES, TIME_IDX, PanelFrame, PanelSchema
from forecasting.data.panel_loading import read_table, validate_rows
from forecasting.data.validation import Location
from forecasting.errors import DataValidationError

log = logging.getLogger("forecasting.data.panel")


@dataclass(frozen=True)
class PanelRoles:
    """Column roles as a user gives them; :func:`infer_schema` fills in what is left out."""

    time_column: str | None = None
    group_columns: tuple[str, ...] = ()
    target: str | None = None
    static_categoricals: tuple[str, ...] = ()
    static_reals: tuple[str, ...] = ()
    known_categoricals: tuple[str, ...] = ()
    known_reals: tuple[str, ...] = ()
    unknown_categoricals: tuple[str, ...] = ()
    unknown_reals: tuple[str, ...] = ()
    freq: str | None = None
    calendar: bool = True


def _is_numeric(column: pd.Series) -> bool:
    """Holds at least one number: a target or real (a text cell in it is reported later)."""
    return bool(np.isfinite(pd.to_numeric(column, errors="coerce")).any())


def _is_time(column: pd.Series) -> bool:
    """Every cell is a date with a 4-digit year (ids like ``M1`` parse as times of day)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return True
    if _is_numeric(column):
        return False
    text = column.astype(str).str.strip()
    if not text.str.contains(r"\d{4}").all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            parsed = pd.to_datetime(text, errors="coerce")
        except (ValueError, TypeError):
            return False
    return bool(parsed.notna().all())


def infer_schema(raw: pd.DataFrame, where: Location, roles: PanelRoles) -> tuple[PanelSchema, str]:
    """The schema of a user panel: the roles given, the rest inferred; and what was inferred.

    Time column: the one column whose every cell is a timestamp. Series ids: the columns
    without numbers (labels), also embedded as static categoricals. Target: the first numeric
    column. Covariates: when no covariate role is given, every other numeric column is an
    unknown real (observed up to the forecast start only, so nothing about the future is
    assumed); otherwise columns in no role are left out, and said so.
    """
    taken = {*roles.group_columns, *(c for r in ROLES for c in getattr(roles, r))}
    taken |= {c for c in (roles.time_column, roles.target) if c}
    inferred: list[str] = []
    time = roles.time_column
    if time is None:
        found = [c for c in raw.columns if c not in taken and _is_time(raw[c])]
        if len(found) != 1:
            what = f"several: {', '.join(map(repr, found))}" if found else "none"
            raise DataValidationError(
                f"{where.header()}: cannot tell the time column ({what} hold only timestamps); "
                "expected one, or pass --time-column"
            )
        time = found[0]
        inferred.append(f"time column {time!r}")
    free = [c for c in raw.columns if c not in taken and c not in (time, TIME_IDX)]
    groups = roles.group_columns
    if not groups:
        groups = tuple(c for c in free if not _is_numeric(raw[c]))
        if not groups:
            raise DataValidationError(
                f"{where.header()}: cannot tell which columns identify a series (no column "
                "holds labels only); pass --group-columns"
            )
        inferred.append(f"series id {', '.join(map(repr, groups))}")
    numeric = [c for c in free if c not in groups and _is_numeric(raw[c])]
    target = roles.target
    if target is None:
        if not numeric:
            raise DataValidationError(
                f"{where.header()}: no numeric column to forecast; expected a target column"
            )
        target = numeric[0]
        inferred.append(f"target {target!r} (the first numeric column; choose with --targets)")
    chosen = {role: getattr(roles, role) for role in ROLES}
    if not chosen["static_categoricals"]:
        chosen["static_categoricals"] = groups
    rest = [c for c in free if c not in groups and c != target]
    if not any(getattr(roles, role) for role in ROLES):
        chosen["unknown_reals"] = tuple(c for c in rest if c in numeric)
        rest = [c for c in rest if c not in numeric]
        if chosen["unknown_reals"]:
            reals = ", ".join(map(repr, chosen["unknown_reals"]))
            inferred.append(
                f"unknown reals {reals} (pass --known-reals for covariates known in advance)"
            )
    if rest:
        inferred.append(f"not used: {', '.join(map(repr, rest))}")
    schema = PanelSchema(
        group_columns=groups,
        time_column=time,
        target=target,
        freq=roles.freq,
        calendar=roles.calendar,
        **chosen,
    )
    return schema, "; ".join(inferred)


def load_user_panel(path: str | Path, roles: PanelRoles, *, min_length: int = 0) -> PanelFrame:
    """A user's panel file with the roles given, the others inferred and announced."""
    raw, where = read_table(path)
    schema, inferred = infer_schema(raw, where, roles)
    if inferred:
        log.info("%s: inferred %s", where.source, inferred)
    parts = [
        f"series id {', '.join(schema.group_columns)}",
        f"time {schema.time_column}",
        f"target {schema.target}",
    ]
    for role, label in ROLES.items():
        if getattr(schema, role):
            parts.append(f"{label}s {', '.join(getattr(schema, role))}")
    log.info("%s: column roles: %s", where.source, "; ".join(parts))
    panel = validate_rows(raw, schema, where, min_length)
    calendar = panel.schema.calendar_columns()
    if calendar:
        log.info(
            "%s: calendar known reals for frequency %r: %s (--calendar-features false to omit)",
            where.source,
            panel.schema.freq,
            ", ".join(calendar),
        )
    return panel
