"""Tiny generated data files for the data tests (real data is used only where noted).

Helpers are fixtures rather than importable functions so that the tests work under any pytest
import mode and next to other conftest.py files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
ETT_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


def _hourly_csv(n_rows: int = 6, columns: tuple[str, ...] = ("a", "b"), freq: str = "h") -> str:
    index = pd.date_range("2016-07-01", periods=n_rows, freq=freq)
    lines = ["date," + ",".join(columns)]
    for i, stamp in enumerate(index):
        cells = [str(i * 10 + j) for j in range(len(columns))]
        lines.append(f"{stamp:%Y-%m-%d %H:%M:%S}," + ",".join(cells))
    return "\n".join(lines) + "\n"


def _ett_frame(n_rows: int, seed: int = 0, freq: str = "h") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n_rows, len(ETT_COLUMNS))), columns=ETT_COLUMNS)
    frame.insert(0, "date", pd.date_range("2016-07-01", periods=n_rows, freq=freq))
    return frame


@pytest.fixture
def hourly_csv() -> Callable[..., str]:
    """CSV text with a regular ``date`` column; the cell in row i, column j holds i * 10 + j."""
    return _hourly_csv


@pytest.fixture
def ett_frame() -> Callable[..., pd.DataFrame]:
    """Random data with ETT's columns (``date`` first), e.g. to write a small ETT-shaped CSV."""
    return _ett_frame


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write text to ``tmp_path / name`` and return the path."""

    def write(text: str, name: str = "data.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def ett_csv() -> Path:
    path = SHARED_DATA / "ett" / "ETTh1.csv"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture
def stallion_parquet() -> Path:
    path = SHARED_DATA / "stallion" / "stallion.parquet"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path
