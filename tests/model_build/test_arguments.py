import argparse

import pytest

from forecasting.families import FAMILIES
from forecasting.models.informer.defaults import PAPER_ARGUMENTS
from forecasting.steps import train
from forecasting.steps.arguments import str2bool


@pytest.mark.parametrize("text", ["true", "True", "TRUE", "1", "yes", "on"])
def test_true_values(text):
    assert str2bool(text) is True


@pytest.mark.parametrize("text", ["false", "False", "0", "no", "off", " false "])
def test_false_values(text):
    assert str2bool(text) is False


def test_other_text_is_rejected():
    with pytest.raises(argparse.ArgumentTypeError, match="expected true or false"):
        str2bool("maybe")


def test_flags_mean_what_they_say():
    args = train.parse_args(["--distil", "false", "--mix", "true", "--revin", "False"])
    assert (args.distil, args.mix, args.revin) == (False, True, False)
    defaults = train.parse_args([])
    assert (defaults.distil, defaults.mix) == (True, True)


def test_family_defaults_fill_only_what_was_not_given():
    assert train.parse_args([]).ema_decay == 0.99  # the Informer averages its weights
    assert train.parse_args(["--model", "tft"]).ema_decay == 0.0
    assert train.parse_args(["--ema-decay", "0"]).ema_decay == 0.0
    paper = train.parse_args(list(PAPER_ARGUMENTS))  # the paper has no weight average
    assert (paper.ema_decay, paper.learning_rate) == (0.0, 1e-4)


def test_snake_case_hyperparameters_as_sagemaker_may_pass_them():
    args = train.parse_args(["--seq_len", "48", "--pred-len", "12", "--batch_size", "8"])
    assert (args.seq_len, args.pred_len, args.batch_size) == (48, 12, 8)


def test_sagemaker_paths_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    args = train.parse_args([])
    assert (args.train, args.model_dir) == ("/opt/ml/input/data/train", "/opt/ml/model")


@pytest.mark.parametrize("step", ["preprocess", "train", "evaluate"])
def test_every_step_has_help(step, capsys):
    module = __import__(f"forecasting.steps.{step}", fromlist=["parse_args"])
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_the_help_shows_each_familys_defaults_as_they_are(capsys):
    """The TFT's learning rate read 0.03 in --help while its default was 0.01."""
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ("learning_rate", "max_epochs", "batch_size", "patience", "ema_decay"):
        informer, tft = (FAMILIES[f].fit_defaults[name] for f in ("informer", "tft"))
        assert f"(informer {informer} / tft {tft})" in text, name
        assert getattr(train.parse_args(["--model", "tft"]), name) == tft
    assert "(informer 0.001 / tft 0.01)" in text


def test_a_misspelt_flag_is_refused_not_taken_for_a_longer_one():
    with pytest.raises(SystemExit):
        train.parse_args(["--d-mod", "8"])  # argparse would take it for --d-model
