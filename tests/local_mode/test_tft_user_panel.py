"""A data scientist's own panel through local mode with the TFT (issue 17, items 8 and 9):
``run --model tft --data my.csv`` on 15-minute load of 3 meters, then ``approve``.

One tiny run (1 host, 1 epoch, an 8-wide network) is shared by the tests below.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch

from forecasting import artifact
from forecasting.channels import read_channel
from forecasting.data.validation import Location
from forecasting.models.tft.evaluation import evaluate_split
from forecasting.models.tft.preprocessing import read_config
from forecasting.models.tft.serving import forecast
from local_mode import cli
from local_mode.layout import Home
from tests.local_mode.test_end_to_end import training_hosts
from tests.model_build.data.test_panel_roles import METERS, write_meters

REPO = Path(__file__).resolve().parents[2]
HORIZON = 6
TINY_TFT = [
    "--model", "tft", "--hosts", "1", "--max-epochs", "1", "--threshold", "100",
    "-H", "hidden_size=8", "-H", "attention_head_size=2", "-H", "hidden_continuous_size=4",
    "-H", "progress_bar=false", "-H", "threads_per_process=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def meter_run(tmp_path_factory):
    """``run --model tft --data my.csv`` then ``approve --latest``: (home, run output, log)."""
    root = tmp_path_factory.mktemp("meters")
    data = write_meters(root / "my.csv")
    home = Home(root / "local")
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    logger = logging.getLogger("forecasting")  # the steps' announcements (run in-process)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            cli.main(["run", "--home", str(home.root), "--data", str(data), *TINY_TFT])
            cli.main(["approve", "--home", str(home.root), "--latest"])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return home, out.getvalue(), records.getvalue()


def run_dir(home: Home) -> Path:
    (run,) = home.runs.iterdir()
    return run


def test_make_run_with_a_file_of_ones_own_names_no_data_set():
    """The Makefile used to add ``--dataset stallion`` to any TFT file: 23 missing columns."""
    command = ["make", "--no-print-directory", "-n", "-C", str(REPO), "run", "-o", "setup"]
    for extra, expected in (
        (["MODEL=tft", "DATA=my.csv"], None),
        (["MODEL=tft"], "stallion"),
        ([], "ETTh1"),
        (["MODEL=tft", "DATA=stallion.csv", "DATASET=stallion"], "stallion"),
    ):
        done = subprocess.run([*command, *extra], capture_output=True, text=True, check=True)
        run_line = next(line for line in done.stdout.splitlines() if " run " in line)
        dataset = run_line.split("--dataset ")[1].split()[0] if "--dataset" in run_line else None
        assert dataset == expected, run_line


def test_the_roles_are_inferred_and_announced(meter_run):
    _, _, log = meter_run
    assert "inferred time column 'ts'; series id 'meter_id'; target 'load_kw'" in log
    assert "calendar known reals for frequency '15min'" in log
    assert "test window: 6 origin(s) of 6 steps" in log


def test_the_gate_saw_every_origin_and_says_how_many_points(meter_run):
    home, output, _ = meter_run
    evaluation = json.loads(
        (run_dir(home) / "opt/ml/processing/evaluation/evaluation.json").read_text()
    )["evaluation"]
    assert (evaluation["series"], evaluation["origins"], evaluation["horizon"]) == (3, 6, 6)
    assert evaluation["forecast_points"] == 3 * 6 * 6
    assert evaluation["clipped_at_zero"] is True
    assert "(over 108 points: 3 series x 6 origins x up to 6 steps)" in output


def test_the_transform_input_has_the_files_columns_and_the_forecast_is_published(meter_run):
    home, output, _ = meter_run
    (request,) = home.root.rglob("transform-input/tft/history.csv")
    rows = pd.read_csv(request, keep_default_na=False)
    assert list(rows.columns) == ["meter_id", "ts", "load_kw", "temp_c"]  # no generated ones
    horizon = rows.groupby("meter_id").tail(HORIZON)
    assert (horizon["load_kw"] == "").all() and (horizon["temp_c"] == "").all()
    assert f"published: {3 * HORIZON} forecast rows of 3 series" in output
    (served,) = home.root.rglob("transform/*/history.csv.out")
    forecasts = pd.read_csv(served)
    assert set(forecasts["series_id"]) == set(METERS)
    assert (forecasts[["p10", "p50", "p90"]] >= 0).all().all()


def test_non_negative_forecasts_are_clipped_in_evaluation_and_serving(meter_run):
    """A model pushed far below 0 still forecasts >= 0 for a target never negative in training;
    with the record removed from the config the same model forecasts below 0."""
    home, _, _ = meter_run
    run = run_dir(home)
    model, config = artifact.load(training_hosts(run)[0] / "model")
    with torch.no_grad():
        model.output_layer.bias -= 1000.0
    pre = read_config(config)
    assert pre.nonnegative_target is True
    test = read_channel(run / "opt/ml/processing/test").frame
    (request,) = home.root.rglob("transform-input/tft/history.csv")
    raw = pd.read_csv(request, dtype=str, keep_default_na=False)
    unclipped = dataclasses.replace(pre, nonnegative_target=False)

    evaluated = evaluate_split(model, test, pre).forecasts
    assert (evaluated[["p10", "p50", "p90"]] == 0).all().all()
    assert (evaluate_split(model, test, unclipped).forecasts["p10"] < 0).all()

    served = forecast(model, config, raw, Location(str(request)))
    assert (served[["p10", "p50", "p90"]] == 0).all().all()
    unclipped_config = {**config, "preprocessing": unclipped.to_dict()}
    signed = forecast(model, unclipped_config, raw, Location(str(request)))
    assert (signed["p10"] < 0).all()


def test_actuals_in_the_files_own_columns_score_as_the_long_ones(meter_run, tmp_path):
    """The backtest's truth in my.csv's columns (the covariate ignored, and said so), read with
    what the TFT registered, gives the same table as the long actuals file the run wrote:
    ``meter_id`` names the series as the served forecasts name them."""
    home, _, _ = meter_run
    forecasts = home.buckets / home.forecasts_bucket
    (published,) = forecasts.glob("forecasts/model=*/version=1/run=*/forecasts.csv")
    rows = pd.read_csv(published, dtype=str, keep_default_na=False)
    assert (rows["actual"] != "").all()

    def accuracy() -> tuple[str, pd.DataFrame]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            cli.main(["accuracy", "--home", str(home.root)])
        (table,) = forecasts.glob("forecasts/accuracy/model=*/accuracy.csv")
        return out.getvalue(), pd.read_csv(table)

    _, from_long = accuracy()
    folder = home.local_path(f"s3://{home.data_bucket}/actuals/")
    for long_file in folder.glob("*.csv"):
        long_file.rename(tmp_path / long_file.name)
    shaped = pd.DataFrame(
        {"meter_id": rows["series_id"], "ts": rows["timestamp"], "load_kw": rows["actual"]}
    )
    shaped["temp_c"] = "20"
    shaped.to_csv(folder / "meters-today.csv", index=False)
    said, from_shaped = accuracy()
    assert "meters-today.csv: column(s) 'temp_c' neither the time, a series id nor a target" in said
    assert from_shaped["matched"].sum() == len(rows) and set(from_shaped["series_id"]) == set(
        METERS
    )
    pd.testing.assert_frame_equal(from_shaped, from_long)
