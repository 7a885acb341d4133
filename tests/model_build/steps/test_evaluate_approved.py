"""The evaluate step scores the approved version on the new version's test windows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forecasting.steps import evaluate, preprocess, train

from .conftest import TINY_MODEL, train_paths, write_tiny_csv


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """An "approved" model trained on 400 rows and a new one trained on 480 (data that grew):
    other test windows, another fitted scaler."""
    runs = []
    for rows in (400, 480):
        run = tmp_path_factory.mktemp(f"rows{rows}")
        csv = write_tiny_csv(run / "tiny.csv", rows=rows)
        preprocess.main(["--data", str(csv), "--seq-len", "16", "--pred-len", "4",
                         "--output-dir", str(run / "channels")])  # fmt: skip
        train.main([*TINY_MODEL, *train_paths(run, run / "channels"), "--max-epochs", "1"])
        runs.append(run)
    return runs[0], runs[1]


def _evaluate(run: Path, *extra: str) -> dict:
    return evaluate.main(
        ["--model-dir", str(run / "model"), "--test", str(run / "channels" / "test"),
         "--output-dir", str(run / "evaluation"), *extra]
    )  # fmt: skip


def test_the_approved_model_is_scored_on_the_new_versions_windows(two_runs):
    approved, new = two_runs
    report = _evaluate(new, "--approved-model", str(approved / "model"),
                       "--approved-version", "3", "--approved-arn", "arn:aws:x/3")  # fmt: skip
    block = report["approved"]
    assert block["scored"] is True, block
    assert (block["model_package_version"], block["model_package_arn"]) == (3, "arn:aws:x/3")
    # the new version's windows: 480 rows, ratio split -> 96 test rows, horizon 4
    assert block["evaluation"]["windows"] == report["evaluation"]["windows"] == 96 - 4 + 1
    assert block["evaluation"]["source"] == report["evaluation"]["source"]
    # the approved model's own test windows (400 rows) would be 77: these are not those
    own = _evaluate(approved)
    assert own["evaluation"]["windows"] == 77
    assert block["regression_metrics"]["mae"]["value"] != own["regression_metrics"]["mae"]["value"]
    # data that grew: the scaler was fitted again, so the standardised metrics differ in scale
    assert block["same_fitted_preprocessing"] is False
    assert {"mse", "mae"} <= block["original_scale_metrics"].keys()
    written = json.loads((new / "evaluation" / "evaluation.json").read_text())
    assert written["approved"] == json.loads(json.dumps(block))


def test_the_model_itself_as_approved_scores_what_it_scores(two_runs):
    _, new = two_runs
    report = _evaluate(new, "--approved-model", str(new / "model"))
    block = report["approved"]
    assert block["same_fitted_preprocessing"] is True
    assert block["regression_metrics"] == report["regression_metrics"]


def test_no_approved_version_is_said(two_runs, tmp_path):
    _, new = two_runs
    (tmp_path / evaluate.NO_APPROVED_MODEL_FILE).write_text(
        json.dumps({"reason": "no version of demo is approved yet"})
    )
    block = _evaluate(new, "--approved-model", str(tmp_path))["approved"]
    assert block == {"model_package_version": None, "model_package_arn": None,
                     "scored": False, "reason": "no version of demo is approved yet"}  # fmt: skip
    assert _evaluate(new)["approved"]["reason"].startswith("no approved model was given")


def test_an_approved_model_that_reads_longer_inputs_is_announced(tmp_path, two_runs):
    """An approved model with seq_len 24 cannot read windows cut with 16 rows of context."""
    _, new = two_runs
    longer = [*TINY_MODEL]
    longer[longer.index("--seq-len") + 1] = "24"
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    preprocess.main(["--data", str(csv), "--seq-len", "24", "--pred-len", "4",
                     "--output-dir", str(tmp_path / "channels")])  # fmt: skip
    train.main([*longer, *train_paths(tmp_path, tmp_path / "channels"), "--max-epochs", "1"])
    block = _evaluate(new, "--approved-model", str(tmp_path / "model"))["approved"]
    assert block["scored"] is False
    assert "cannot score this version's test windows" in block["reason"]
    assert "seq_len 24" in block["reason"]


def test_an_approved_model_of_another_family_is_announced_not_crashed(two_runs, tmp_path):
    from .conftest import TINY_TFT, preprocess_demo

    _, new = two_runs
    channels = preprocess_demo(tmp_path / "channels")
    train.main([*TINY_TFT, *train_paths(tmp_path, channels), "--max-epochs", "1"])
    report = _evaluate(new, "--approved-model", str(tmp_path / "model"), "--approved-version", "2")
    block = report["approved"]
    assert (block["scored"], block["model_family"], block["model_package_version"]) == (
        False, "tft", 2
    )  # fmt: skip
    assert "a tft model and this one a informer model" in block["reason"]


def test_an_approved_tft_scores_the_new_tft_windows(tmp_path, tft_channels):
    """The TFT's path: the approved model (trained on the same panel) on the new run's windows."""
    from .conftest import TINY_TFT, evaluate_run

    for name in ("approved", "new"):
        train.main([*TINY_TFT, *train_paths(tmp_path / name, tft_channels), "--max-epochs", "1"])
    report = evaluate.main(
        ["--model-dir", str(tmp_path / "new" / "model"), "--test", str(tft_channels / "test"),
         "--output-dir", str(tmp_path / "evaluation"),
         "--approved-model", str(tmp_path / "approved" / "model")]
    )  # fmt: skip
    block = report["approved"]
    assert block["scored"] is True, block
    assert block["same_fitted_preprocessing"] is True
    assert block["evaluation"]["windows"] == report["evaluation"]["windows"]
    own = evaluate_run(tmp_path / "approved", tft_channels / "test")
    assert block["regression_metrics"] == own["regression_metrics"]
