"""A run's -P/-H flags and data: mistakes end in one line before any step runs, and the input
length and horizon have one home (preprocess, which records them for training)."""

from __future__ import annotations

import json

import pytest

from forecasting.errors import ConfigError
from forecasting.models.informer.preparation import SPLIT_RULES
from local_mode.layout import Home
from local_mode.runner import Runner
from local_mode.runs import RunConfig, StepFailedError, latest_unfinished

from .test_cli import exit_code, one_error_line

TINY_TRAIN = [
    "--dataset", "demo", "--hosts", "1", "--max-epochs", "1", "--stop-after", "Train",
    "-H", "d_model=16", "-H", "n_heads=2", "-H", "d_ff=32", "-H", "factor=3",
    "-H", "batch_size=16", "-H", "progress_bar=false", "-H", "limit_train_batches=2",
    "-H", "limit_val_batches=1",
]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-H", "nonsense=1"], "-H nonsense: the train step has no such flag"),
        (["-H", "d_mod=3"], "-H d_mod: the train step has no such flag"),  # no abbreviations
        (["-H", "d_model=abc"], "-H d_model=abc: invalid int value: 'abc'"),
        (["-H", "attention=dense"], "-H attention=dense: invalid choice: 'dense'"),
        (["-H", "dropout=1.5"], "-H: dropout must be in [0, 1), got 1.5"),
        (["-H", "batch_size=3"], "-H: batch size 3 is the global batch and must be a multiple"),
        (["-P", "nonsense=1"], "-P nonsense: the preprocess step has no such flag"),
        (["-P", "split=random"], "-P split=random: invalid choice: 'random'"),
        (["-P", "seq_len=0"], "-P seq_len=0: the input length must be at least 1"),
        (
            ["-H", "pred_len=96"],
            "-H pred_len=96: the horizon is set once, at preprocess, which records it for "
            "training (24, the informer default); use -P pred_len=96 instead",
        ),
        (
            ["-P", "seq_len=48", "-H", "seq_len=96"],
            "-H seq_len=96: the input length is set once, at preprocess, which records it for "
            "training (48, -P); use -P seq_len=96 instead",
        ),
    ],
)
def test_a_wrong_step_flag_is_one_line_before_preprocess_runs(capsys, tmp_path, flags, message):
    line = one_error_line(
        capsys, ["run", "--home", str(tmp_path), "--dataset", "demo", "--hosts", "2", *flags]
    )
    assert line.startswith(f"configuration error: {message}"), line
    assert not (tmp_path / "runs").exists()  # no step ran, no run folder was left


def test_the_input_length_and_horizon_of_preprocess_are_the_ones_trained(tmp_path):
    """``-P seq_len=48`` (the example in ``run --help``) failed at Train; ``-P pred_len=...``
    trained a 24-step Informer without a word."""
    home = Home(tmp_path)
    config = RunConfig(
        dataset="demo", hosts=1, max_epochs=1,
        preprocess_arguments={"seq_len": "48", "pred_len": "8"},
        hyperparameters={k: v for k, v in (a.split("=") for a in TINY_TRAIN[9::2])},
    )  # fmt: skip
    said: list[str] = []
    runner = Runner(home, "windows", config, say=said.append)
    runner.execute(stop_after="Train")
    model_config = json.loads((runner.output("Train", "model") / "config.json").read_text())
    hparams = model_config["model"]["hparams"]
    assert (hparams["seq_len"], hparams["label_len"], hparams["pred_len"]) == (48, 48, 8)
    assert f"    split: ett ({SPLIT_RULES['ett']})" in said


def test_data_that_fails_validation_names_the_users_file_and_leaves_no_run(capsys, tmp_path):
    data = tmp_path / "meters.csv"
    data.write_text("date,load\n2024-01-01 00:00,1.5\n2024-01-01 01:00,12.5 kW\n")
    home = tmp_path / "home"
    assert exit_code(["run", "--home", str(home), "--data", str(data), "--run-id", "bad"]) == 2
    out, err = capsys.readouterr()
    assert err == f"error: {data}, line 3, column 'load': expected a number, got '12.5 kW'\n"
    assert "run bad removed: nothing in it could be resumed" in out
    assert list((home / "runs").iterdir()) == []


def test_resume_picks_only_a_run_that_can_be_resumed(tmp_path):
    home = Home(tmp_path)
    for run_id, markers in {
        "a-preprocessed": {"Preprocess": {}},
        "b-registered": {"Preprocess": {}, "TransformInput": {}},
        "c-gate-failed": {"Preprocess": {}, "CheckMetric": {"passed": False}},
        "d-killed-in-preprocess": {},
    }.items():
        run = home.run_dir(run_id)
        (run / "status").mkdir(parents=True)
        for name, value in markers.items():
            (run / "status" / f"{name}.json").write_text(json.dumps(value))
        (run / "run.json").write_text("{}")
    assert latest_unfinished(home) == "a-preprocessed"
    home.run_dir("a-preprocessed").joinpath("status", "Preprocess.json").unlink()
    with pytest.raises(ConfigError, match="can be resumed"):
        latest_unfinished(home)


@pytest.mark.parametrize("step", ["processing", "training"])  # Preprocess, Train
def test_an_interrupted_run_is_kept_only_when_it_can_be_resumed(
    capsys, monkeypatch, tmp_path, step
):
    def interrupt(self, definition, result):
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, step, interrupt)
    argv = ["run", "--home", str(tmp_path), "--dataset", "demo", "--run-id", "r"]
    assert exit_code(argv) == 130
    out, err = capsys.readouterr()
    assert err == "interrupted\n"
    kept = Home(tmp_path).run_dir("r").is_dir()
    assert kept == (step == "training")
    if kept:
        assert f"continue with: python -m local_mode run --home {tmp_path} --run-id r" in out
        assert latest_unfinished(Home(tmp_path)) == "r"
    else:
        assert "run r removed: nothing in it could be resumed" in out


def test_a_run_its_options_cannot_train_is_not_resumed(capsys, monkeypatch, tmp_path):
    """A step that refused the options (exit code 2) would refuse them again on a resume."""

    def refuse(self, definition, result):
        raise StepFailedError("Train stopped on algo-1 with the error above", exit_code=2)

    monkeypatch.setattr(Runner, "training", refuse)
    argv = ["run", "--home", str(tmp_path), "--dataset", "demo", "--run-id", "r"]
    assert exit_code(argv) == 2
    assert Home(tmp_path).run_dir("r").is_dir()  # preprocessed: kept, for inspection
    with pytest.raises(ConfigError, match="can be resumed"):
        latest_unfinished(Home(tmp_path))
    capsys.readouterr()
    line = one_error_line(capsys, ["run", "--home", str(tmp_path), "--run-id", "r"])
    assert line == (
        "configuration error: run r cannot be resumed: its Train step refused the run's options "
        "or data (Train stopped on algo-1 with the error above); start a new run"
    )
