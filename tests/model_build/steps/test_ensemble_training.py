"""Seed ensembles through the real entry points: train, resume, evaluate, DDP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from forecasting import artifact
from forecasting.channels import read_channel
from forecasting.errors import DataValidationError
from forecasting.models.ensemble import Ensemble
from forecasting.models.tft.evaluation import evaluate_split
from forecasting.models.tft.module import TFTForecaster
from forecasting.models.tft.preprocessing import read_config
from forecasting.steps import train

from .conftest import (
    TINY_MODEL,
    TINY_TFT,
    evaluate_run,
    finish,
    read_summary,
    step_error,
    train_paths,
    train_process,
)

TFT_ENSEMBLE = [*TINY_TFT, "--ensemble-size", "2", "--max-epochs", "1"]


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory, tft_channels):
    run = tmp_path_factory.mktemp("ensemble")
    summary = train.main([*TFT_ENSEMBLE, *train_paths(run, tft_channels)])
    report = evaluate_run(run, tft_channels / "test")
    return run, summary, report


def test_members_train_from_consecutive_seeds_into_one_artifact(ensemble_run):
    run, summary, _ = ensemble_run
    assert summary == read_summary(run)
    assert summary["ensemble_size"] == 2
    members = summary["members"]
    assert [(m["member"], m["seed"]) for m in members] == [(0, 2021), (1, 2022)]
    assert summary["epochs_completed"] == sum(m["epochs_completed"] for m in members) == 2
    for member in members:
        assert (
            Path(member["best_checkpoint"]).parent
            == run / "checkpoints" / f"member-{member['member']}"
        )
        assert (run / "checkpoints" / f"member-{member['member']}" / "member.pt").is_file()

    model, config = artifact.load(run / "model")
    assert config["model"]["ensemble_size"] == 2
    assert isinstance(model, Ensemble) and not model.training
    assert all(isinstance(m, TFTForecaster) for m in model.members)
    first, second = (torch.cat([p.flatten() for p in m.parameters()]) for m in model.members)
    assert not torch.equal(first, second), "both members started from the same seed"


def test_the_evaluated_forecast_is_the_mean_of_the_members(ensemble_run, tft_channels):
    run, _, report = ensemble_run
    model, config = artifact.load(run / "model")
    test = read_channel(tft_channels / "test")
    singles = [evaluate_split(m, test.frame, read_config(config)) for m in model.members]
    written = pd.read_csv(run / "evaluation" / "forecasts.csv")
    for column in ("p10", "p50", "p90"):
        mean = (singles[0].forecasts[column] + singles[1].forecasts[column]) / 2
        assert written[column].to_numpy() == pytest.approx(mean.to_numpy(), rel=1e-5)
    interpretation = json.loads((run / "evaluation" / "interpretation.json").read_text())
    assert sum(interpretation["encoder_attention"]["share"]) == pytest.approx(1.0)
    single_maes = [s.report["regression_metrics"]["mae"]["value"] for s in singles]
    assert report["regression_metrics"]["mae"]["value"] <= max(single_maes) + 1e-6


def test_a_stopped_ensemble_keeps_finished_members_and_resumes_the_next(
    ensemble_run, tft_channels, tmp_path
):
    run, first_summary, _ = ensemble_run
    shutil.copytree(run / "checkpoints", tmp_path / "checkpoints")
    # as if the job stopped after member 1's last epoch, before it was recorded
    (tmp_path / "checkpoints" / "member-1" / "member.pt").unlink()
    summary = train.main([*TFT_ENSEMBLE, *train_paths(tmp_path, tft_channels)])
    first, second = summary["members"]
    assert first == first_summary["members"][0]  # loaded, not retrained
    assert second["resumed_from"] == str(tmp_path / "checkpoints" / "member-1" / "last.ckpt")
    before = torch.load(run / "model" / "model.pt", weights_only=True)
    after = torch.load(tmp_path / "model" / "model.pt", weights_only=True)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_finished_member_of_other_settings_is_named(ensemble_run, tft_channels, tmp_path, capsys):
    run, _, _ = ensemble_run
    shutil.copytree(run / "checkpoints", tmp_path / "checkpoints")
    argv = [*TFT_ENSEMBLE, *train_paths(tmp_path, tft_channels), "--dropout", "0.2"]
    line = step_error(capsys, train.main, argv)
    assert str(tmp_path / "checkpoints" / "member-0" / "member.pt") in line


def test_ensemble_size_must_be_positive(tmp_path, tft_channels, capsys):
    argv = [*TINY_TFT, *train_paths(tmp_path, tft_channels), "--ensemble-size", "0"]
    assert "ensemble_size must be at least 1" in step_error(capsys, train.main, argv)


@pytest.mark.ddp
def test_two_ranks_train_every_member_in_sync(tmp_path, channels):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "1"]
    finish(train_process([*args, "--processes-per-host", "2", "--ensemble-size", "2"]))
    summary = json.loads((tmp_path / "output" / "training_summary.json").read_text())
    assert summary["world_size"] == 2 and len(summary["members"]) == 2
    for member in summary["members"]:
        prints = [rank["param_fingerprint"] for rank in member["ranks"]]
        assert sorted(r["rank"] for r in member["ranks"]) == [0, 1]
        assert prints[0] == prints[1]
    model, config = artifact.load(tmp_path / "model")
    assert isinstance(model, Ensemble) and config["model"]["ensemble_size"] == 2
    report = evaluate_run(tmp_path, channels / "test")  # the Informer's evaluation, averaged
    assert report["regression_metrics"]["mse"]["value"] > 0


def test_an_artifact_claiming_no_members_is_refused(ensemble_run, tmp_path):
    run, _, _ = ensemble_run
    shutil.copytree(run / "model", tmp_path / "model", ignore=shutil.ignore_patterns("code"))
    config_path = tmp_path / "model" / "config.json"
    config = json.loads(config_path.read_text())
    config["model"]["ensemble_size"] = 0
    config_path.write_text(json.dumps(config))
    with pytest.raises(DataValidationError, match="ensemble_size 0 must be at least 1"):
        artifact.load(tmp_path / "model")
