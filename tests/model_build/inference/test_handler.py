"""The SageMaker inference handlers on tiny trained artifacts of both model families."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecasting.channels import read_channel
from forecasting.data.panel import TIME_IDX
from forecasting.errors import DataValidationError
from forecasting.inference import handler
from forecasting.steps import preprocess, train
from tests.model_build.steps.conftest import (
    PRED_LEN,
    TINY_MODEL,
    TINY_TFT,
    evaluate_run,
    preprocess_demo,
    train_paths,
    write_tiny_csv,
)

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
STALLION = SHARED / "stallion" / "stallion.parquet"


@pytest.fixture(scope="module")
def informer_run(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    run = tmp_path_factory.mktemp("informer")
    csv = write_tiny_csv(run / "tiny.csv")
    windows = ["--seq-len", "16", "--pred-len", "4"]
    preprocess.main(["--data", str(csv), *windows, "--output-dir", str(run / "channels")])
    train.main([*TINY_MODEL, *train_paths(run, run / "channels"), "--max-epochs", "1"])
    return run / "model", pd.read_csv(csv)


def trained_tft(run: Path, *flags: str) -> Path:
    channels = preprocess_demo(run / "channels")
    train.main([*TINY_TFT, *train_paths(run, channels), "--max-epochs", "1", *flags])
    evaluate_run(run, channels / "test")
    return run


@pytest.fixture(scope="module")
def tft_run(tmp_path_factory) -> Path:
    return trained_tft(tmp_path_factory.mktemp("tft"))


@pytest.fixture(scope="module")
def tft_ensemble_run(tmp_path_factory) -> Path:
    return trained_tft(tmp_path_factory.mktemp("tft_ensemble"), "--ensemble-size", "2")


def tft_request(channel_dir: Path) -> pd.DataFrame:
    """The test channel as a request: its last horizon to forecast (target left empty)."""
    test = read_channel(channel_dir)
    cutoff = test.preprocessing["cutoffs"]["validation"]
    request = test.frame.drop(columns=[TIME_IDX]).astype(str)
    future = (test.frame[TIME_IDX] > cutoff).to_numpy()
    request.loc[future, ["volume", "avg_max_temp"]] = ""
    return request


def forecast(model: handler.LoadedModel, request: pd.DataFrame | str, kind=handler.payload.CSV):
    body = request if isinstance(request, str) else request.to_csv(index=False)
    return handler.read_forecasts(handler.transform(body, model, kind))


# --- packaging -----------------------------------------------------------------------------


def test_the_artifact_asks_the_container_to_install_nothing(tft_run):
    """The inference toolkit pip-installs code/requirements.txt when one exists, which a
    network-isolated transform cannot: the packages are the project inference image's."""
    code = tft_run / "model" / "code"
    assert (code / "inference.py").is_file()
    assert not (code / "requirements.txt").exists()


def test_the_artifact_serves_from_its_own_code_directory(tmp_path, tft_run):
    """What the PyTorch container does: import code/inference.py with code/ on the path."""
    model_dir = tft_run / "model"
    code = model_dir / "code"
    request = tmp_path / "request.csv"
    tft_request(tft_run / "channels" / "test").to_csv(request, index=False)
    script = (
        "import sys, inference, forecasting;"
        "assert forecasting.__file__.startswith(sys.argv[2]), forecasting.__file__;"
        "m = inference.model_fn(sys.argv[1]);"
        "out = inference.output_fn(inference.predict_fn("
        "inference.input_fn(open(sys.argv[3], 'rb').read(), 'text/csv'), m), 'text/csv');"
        "print(len(out.splitlines()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(model_dir), str(code), str(request)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == 1 + 12 * PRED_LEN  # header + 12 demo series x horizon


def test_the_one_model_server_worker_computes_on_every_core(informer_run, monkeypatch):
    model_dir, _ = informer_run
    monkeypatch.setattr(handler, "available_cores", lambda: 3)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        handler.model_fn(str(model_dir))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    assert handler.TRANSFORM_SETTINGS["Environment"] == {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}


# --- the Informer --------------------------------------------------------------------------


def test_informer_forecasts_continue_the_input_timestamps(informer_run):
    model_dir, frame = informer_run
    model = handler.model_fn(str(model_dir))
    request = frame.iloc[100:140]
    out = forecast(model, request)
    pred_len = model.config["model"]["hparams"]["pred_len"]
    targets = model.config["preprocessing"]["targets"]
    assert list(out.columns) == list(handler.FORECAST_COLUMNS)
    assert len(out) == len(targets) * pred_len
    last = pd.Timestamp(request["date"].iloc[-1])
    for target, part in out.groupby("target"):
        stamps = pd.DatetimeIndex(part["timestamp"])
        expected = pd.date_range(last, periods=pred_len + 1, freq="h")[1:]
        assert (stamps == expected).all(), target
        assert (part["horizon_step"] == np.arange(1, pred_len + 1)).all()
    assert (pd.DatetimeIndex(out["timestamp"]) > last).all()  # never beside the past
    assert out["p10"].isna().all() and out["p90"].isna().all() and out["p50"].notna().all()
    assert set(out["model"]) == {"informer"} and set(out["model_version"]) == {"unregistered"}


def test_a_timestamp_offset_is_kept_in_the_forecast(informer_run):
    """A history at +02:00 is forecast at +02:00; the offset used to be dropped."""
    model_dir, frame = informer_run
    model = handler.model_fn(str(model_dir))
    request = frame.iloc[100:140].assign(date=lambda f: f["date"] + "+02:00")
    stamps = forecast(model, request)["timestamp"]
    last = pd.Timestamp(request["date"].iloc[-1])
    assert (str(last), str(last.tz)) == ("2024-01-06 19:00:00+02:00", "UTC+02:00")
    assert stamps.iloc[0] == "2024-01-06 20:00:00+02:00"
    assert pd.Timestamp(stamps.iloc[0]) == last + pd.Timedelta(hours=1)


def test_informer_forecasts_match_the_model_on_the_same_window(informer_run):
    """The handler's scaling, time features and decoder input are the evaluate step's."""
    from forecasting.models.informer.evaluation import predict_windows

    model_dir, _ = informer_run
    model = handler.model_fn(str(model_dir))
    channel = read_channel(model_dir.parent / "channels" / "test")
    hp = model.config["model"]["hparams"]
    windows = channel.windows(hp["seq_len"], hp["label_len"], hp["pred_len"])
    import torch

    torch.manual_seed(0)
    scaled, _ = predict_windows(model.network, windows)
    expected = channel.scaler.inverse_transform(
        scaled[:1], columns=channel.preprocessing["targets"]
    )
    skip = channel.preprocessing["context_length"] - hp["seq_len"]
    history = channel.frame.iloc[skip : skip + hp["seq_len"]].reset_index()
    out = forecast(model, history)
    for t, target in enumerate(channel.preprocessing["targets"]):
        got = out.loc[out["target"] == target, "p50"].to_numpy()
        np.testing.assert_allclose(got, expected[0, :, t], rtol=1e-4, atol=1e-4)


def test_informer_takes_several_histories_in_one_request(informer_run):
    model_dir, frame = informer_run
    model = handler.model_fn(str(model_dir))
    a, b = frame.iloc[0:40].assign(series_id="a"), frame.iloc[200:240].assign(series_id="b")
    out = forecast(model, pd.concat([a, b]))
    alone = forecast(model, frame.iloc[200:240])
    assert {s.split("/")[0] for s in out["series_id"]} == {"a", "b"}
    b_rows = out[out["series_id"].str.startswith("b/")].reset_index(drop=True)
    np.testing.assert_allclose(b_rows["p50"], alone["p50"], rtol=1e-5)


def test_json_lines_gives_the_same_forecasts_as_csv(informer_run):
    model_dir, frame = informer_run
    model = handler.model_fn(str(model_dir))
    request = frame.iloc[100:140]
    lines = "".join(json.dumps(r) + "\n" for r in request.to_dict(orient="records"))
    as_json = handler.transform(lines, model, handler.payload.JSON_LINES)
    records = pd.DataFrame([json.loads(line) for line in as_json.splitlines()])
    np.testing.assert_allclose(records["p50"], forecast(model, request)["p50"], rtol=1e-5)


def test_model_name_and_version_come_from_the_environment(informer_run, monkeypatch):
    monkeypatch.setenv(handler.MODEL_NAME_ENV, "ett-informer")
    monkeypatch.setenv(handler.MODEL_VERSION_ENV, "7")
    model = handler.model_fn(str(informer_run[0]))
    out = forecast(model, informer_run[1].iloc[:40])
    assert set(out["model"]) == {"ett-informer"} and set(out["model_version"]) == {7}


# --- the TFT -------------------------------------------------------------------------------


@pytest.mark.parametrize("run", ["tft_run", "tft_ensemble_run"])
def test_tft_forecasts_equal_the_evaluate_steps_forecasts(run, request):
    tft_run = request.getfixturevalue(run)
    model = handler.model_fn(str(tft_run / "model"))
    out = forecast(model, tft_request(tft_run / "channels" / "test"))
    evaluated = pd.read_csv(tft_run / "evaluation" / "forecasts.csv")
    evaluated["series_id"] = evaluated["agency"] + "/" + evaluated["sku"]
    merged = out.merge(evaluated, on=["series_id", "horizon_step"], suffixes=("", "_eval"))
    assert len(merged) == len(out) == 12 * PRED_LEN
    for q in ("p10", "p50", "p90"):
        np.testing.assert_allclose(merged[q], merged[f"{q}_eval"], rtol=1e-4, atol=1e-3)
    assert (pd.DatetimeIndex(merged["timestamp"]) == pd.DatetimeIndex(merged["date"])).all()
    assert (merged["p10"] <= merged["p50"]).all() and (merged["p50"] <= merged["p90"]).all()


def test_tft_forecasts_start_after_the_history(tft_run):
    request = tft_request(tft_run / "channels" / "test")
    model = handler.model_fn(str(tft_run / "model"))
    out = forecast(model, request)
    history = request[request["volume"] != ""]
    last = pd.DatetimeIndex(history["date"]).max()
    assert (pd.DatetimeIndex(out["timestamp"]) > last).all()
    first = out[out["horizon_step"] == 1]
    assert (pd.DatetimeIndex(first["timestamp"]) == last + pd.offsets.MonthBegin(1)).all()


@pytest.mark.slow
@pytest.mark.skipif(not STALLION.is_file(), reason=f"{STALLION} is absent")
def test_a_stallion_model_forecasts_raw_stallion_rows(tmp_path):
    """Stallion requests carry the raw columns; the tutorial's features are derived as in
    training, and the forecasts start after each series' last month."""
    channels = tmp_path / "channels"
    preprocess.main(["--model", "tft", "--data", str(STALLION), "--dataset", "stallion",
                     "--output-dir", str(channels)])  # fmt: skip
    train.main([*TINY_TFT, *train_paths(tmp_path, channels), "--max-epochs", "1",
                "--limit-train-batches", "2"])  # fmt: skip
    raw = pd.read_parquet(STALLION)
    chosen = raw[raw["agency"].isin(["Agency_01", "Agency_02"])].sort_values(
        ["agency", "sku", "date"]
    )
    request = chosen.groupby(["agency", "sku"]).tail(30).astype(str)
    future = pd.DatetimeIndex(chosen.loc[request.index, "date"]) >= "2017-07-01"
    request.loc[future, "volume"] = ""
    out = forecast(handler.model_fn(str(tmp_path / "model")), request)
    n_series = request[["agency", "sku"]].drop_duplicates().shape[0]
    assert len(out) == n_series * 6 and out[["p10", "p50", "p90"]].notna().all().all()
    assert (pd.DatetimeIndex(out["timestamp"]) >= "2017-07-01").all()


# --- bad requests: a message naming the series and row, and no output -------------------------


def failure(model: handler.LoadedModel, body: str, kind: str = handler.payload.CSV) -> str:
    with pytest.raises(DataValidationError) as error:
        handler.transform(body, model, kind)
    return str(error.value)


def test_a_row_with_a_missing_field_is_named(informer_run):
    model = handler.model_fn(str(informer_run[0]))
    lines = informer_run[1].iloc[:40].to_csv(index=False).splitlines()
    lines[7] = lines[7].rsplit(",", 1)[0]
    assert failure(model, "\n".join(lines)).startswith("request, line 8: 3 fields; expected 4")


def test_a_bad_number_is_named_by_line_and_column(informer_run):
    model = handler.model_fn(str(informer_run[0]))
    request = informer_run[1].iloc[:40].astype(str)
    request.iloc[5, 2] = "n/a"
    assert "request, line 7, column 'temp': missing value 'n/a'" in failure(
        model, request.to_csv(index=False)
    )


def test_a_timestamp_out_of_order_names_the_series_and_line(informer_run):
    model = handler.model_fn(str(informer_run[0]))
    request = informer_run[1].iloc[:40].assign(series_id="north")
    request.iloc[[10, 11]] = request.iloc[[11, 10]].to_numpy()
    message = failure(model, request.to_csv(index=False))
    assert message.startswith("request, line 13, column 'date': series 'north': timestamp")
    assert "is earlier than" in message


def test_a_short_history_names_the_series(informer_run):
    model = handler.model_fn(str(informer_run[0]))
    request = pd.concat(
        [
            informer_run[1].iloc[:40].assign(series_id="a"),
            informer_run[1].iloc[:5].assign(series_id="b"),
        ]
    )
    assert "series 'b' has 5 rows of history; expected at least 16" in failure(
        model, request.to_csv(index=False)
    )


def test_a_gap_in_a_history_is_named(informer_run):
    model = handler.model_fn(str(informer_run[0]))
    request = informer_run[1].iloc[:40].drop(index=20)
    assert (
        "request, line 22: series (the only one) jumps from 2024-01-01 19:00:00 to "
        "2024-01-01 21:00:00" in failure(model, request.to_csv(index=False))
    )


def test_an_unknown_tft_series_is_named(tft_run):
    model = handler.model_fn(str(tft_run / "model"))
    request = tft_request(tft_run / "channels" / "test")
    request.loc[(request["agency"] == "Agency_01") & (request["sku"] == "SKU_02"), "agency"] = (
        "Agency_99"
    )
    message = failure(model, request.to_csv(index=False))
    assert "series agency 'Agency_99' / sku 'SKU_02' is not one the model was trained on" in message


def test_a_tft_series_without_its_forecast_rows_is_named(tft_run):
    model = handler.model_fn(str(tft_run / "model"))
    request = tft_request(tft_run / "channels" / "test")
    request = request.drop(
        request[(request["volume"] == "") & (request["sku"] == "SKU_01")].index[:1]
    )
    message = failure(model, request.to_csv(index=False))
    assert "series agency 'Agency_01' / sku 'SKU_01' has 2 rows with an empty 'volume'" in message
    assert f"expected its last {PRED_LEN} rows" in message


def test_an_unsupported_content_type_is_refused(informer_run):
    model = handler.model_fn(str(informer_run[0]))
    assert "content type 'application/x-npy' is not supported" in failure(
        model, "x", "application/x-npy"
    )


def test_a_json_line_that_is_not_an_object_is_named(informer_run):
    model = handler.model_fn(str(informer_run[0]))
    assert "request, line 2: a JSON list" in failure(
        model, '{"date": "2024-01-01", "load": 1}\n[1, 2]\n', handler.payload.JSON_LINES
    )
