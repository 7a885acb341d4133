"""Request bodies to a table of text cells, with the line numbers messages need.

Both formats give the same thing: one row per series and time step, every cell as text (empty
when missing), so the same validation as for training files can quote bad values back.

* ``text/csv``: a header line, then one record per line (quoted fields may hold commas).
* ``application/jsonlines``: one JSON object per line, keyed by column name; numbers and
  ``null`` are accepted and turned into text.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd

from forecasting.data.validation import Location, check_header
from forecasting.errors import DataValidationError

CSV = "text/csv"
JSON_LINES = "application/jsonlines"
CONTENT_TYPES = (CSV, JSON_LINES)


def _text(body: bytes | str, source: str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataValidationError(
            f"{source}: byte {error.start} is not UTF-8; expected UTF-8 text"
        ) from None


def _csv(text: str, source: str) -> tuple[pd.DataFrame, Location]:
    where = Location(source)
    lines = list(csv.reader(io.StringIO(text)))
    while lines and not any(cell.strip() for cell in lines[-1]):
        lines.pop()  # trailing blank lines
    if not lines:
        raise DataValidationError(f"{source}: empty request; expected a CSV header and rows")
    header = [name.strip() for name in lines[0]]
    check_header(header, where)
    for number, record in enumerate(lines[1:], start=2):
        if len(record) != len(header):
            raise DataValidationError(
                f"{source}, line {number}: {len(record)} fields; expected {len(header)} as in "
                f"the header ({', '.join(header)})"
            )
    return pd.DataFrame(lines[1:], columns=header, dtype=str), where


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | dict | list):
        raise TypeError(type(value).__name__)
    return str(value)


def _json_lines(text: str, source: str) -> tuple[pd.DataFrame, Location]:
    where = Location(source, first_row=1, header_line=None)
    records: list[dict[str, str]] = []
    columns: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataValidationError(f"{source}, line {number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise DataValidationError(
                f"{source}, line {number}: a JSON {type(record).__name__}; expected one object "
                "per line, keyed by column name"
            )
        if columns is None:
            columns = list(record)
        elif set(record) != set(columns):
            missing = sorted(set(columns) - set(record))
            extra = sorted(set(record) - set(columns))
            raise DataValidationError(
                f"{source}, line {number}: keys differ from line 1 (missing {missing}, extra "
                f"{extra}); expected the same keys on every line"
            )
        try:
            records.append({key: _cell(value) for key, value in record.items()})
        except TypeError as error:
            raise DataValidationError(
                f"{source}, line {number}: a JSON {error} value; expected numbers, text or null"
            ) from None
        if len(records) == 1:
            where = Location(source, first_row=number, header_line=None)
        elif number != where.number(len(records) - 1):
            raise DataValidationError(
                f"{source}, line {number}: blank line inside the data; expected one object per line"
            )
    if not records:
        raise DataValidationError(f"{source}: empty request; expected one JSON object per line")
    return pd.DataFrame(records, columns=columns, dtype=str), where


def decode(
    body: bytes | str, content_type: str, source: str = "request"
) -> tuple[pd.DataFrame, Location]:
    """The request as text cells and the way to name its rows; unknown types are refused."""
    kind = content_type.split(";")[0].strip().lower()
    text = _text(body, source)
    if kind == CSV:
        return _csv(text, source)
    if kind in (JSON_LINES, "application/jsonl", "application/x-jsonlines"):
        return _json_lines(text, source)
    raise DataValidationError(
        f"{source}: content type {content_type!r} is not supported; expected one of "
        f"{', '.join(CONTENT_TYPES)}"
    )
