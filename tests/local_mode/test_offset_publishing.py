"""Local mode end to end on a history whose timestamps carry a UTC offset: the forecast keeps
the offset, and approval publishes it (wall clock in ``timestamp``, offset in ``utc_offset``,
actuals joined as instants) instead of refusing it."""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

from forecasting.data.sources import demo_ett
from local_mode import cli
from local_mode.layout import Home

TINY = [
    "--max-epochs", "1", "--hosts", "1", "--threshold", "100",
    "-P", "seq_len=16", "-P", "pred_len=4",
    "-H", "label_len=8", "-H", "d_model=16",
    "-H", "n_heads=2", "-H", "d_ff=32", "-H", "factor=3", "-H", "batch_size=16",
    "-H", "progress_bar=false", "-H", "limit_train_batches=2", "-H", "limit_val_batches=1",
]  # fmt: skip


def test_a_history_with_an_offset_is_forecast_and_published_with_it(tmp_path: Path) -> None:
    frame = demo_ett(n_rows=400).frame[["HUFL", "OT"]]
    stamps = frame.index.strftime("%Y-%m-%d %H:%M:%S") + "+02:00"
    data = tmp_path / "meters.csv"
    frame.set_axis(stamps, axis=0).rename_axis("date").to_csv(data)
    home = Home(tmp_path / "home")
    at = ["--home", str(home.root)]
    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(["run", *at, "--data", str(data), "--run-id", "offsets", *TINY])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(["approve", *at, "--latest"])

    assert "published:" in out.getvalue(), out.getvalue()
    (published,) = sorted(home.root.rglob("forecasts/model=*/**/forecasts.csv"))
    with published.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {row["utc_offset"] for row in rows} == {"+02:00"}
    assert all("+" not in row["timestamp"] for row in rows)  # QuickSight's format, wall clock
    assert any(row["actual"] for row in rows)  # the backtest's truth joined, instant to instant
