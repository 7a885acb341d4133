"""The Informer reads preprocessing.json and the train flags through typed contracts."""

from __future__ import annotations

import pytest

from forecasting.channels import read_channel
from forecasting.errors import DataValidationError
from forecasting.models.informer.preprocessing import InformerPreprocessing, read_config
from forecasting.models.informer.training import setup
from forecasting.steps import preprocess, train
from tests.model_build.steps.conftest import TINY_MODEL, write_tiny_csv

# What write_channel adds for every family (forecasting.contracts.Preprocessing).
SHARED = {"format_version", "model", "input_length", "horizon"}


@pytest.fixture
def channels(tmp_path):
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    argv = ["--data", str(csv), "--targets", "load", "--covariates", "temp,price"]
    preprocess.main([*argv, "--seq-len", "16", "--pred-len", "4", "--output-dir", str(tmp_path)])
    return tmp_path


def test_every_field_preprocess_writes_is_read_back(channels):
    written = read_channel(channels / "train").preprocessing
    typed = InformerPreprocessing.from_dict(written, "p.json")
    assert set(written) - SHARED == set(typed.to_dict())  # nothing written is left unread
    assert {k: written[k] for k in typed.to_dict()} == typed.to_dict()
    assert (typed.columns, typed.targets, typed.target_index) == (
        ("load", "temp", "price"),
        ("load",),
        [0],
    )
    assert (typed.context_length, typed.pred_len, typed.split) == (16, 4, "ratio")


@pytest.mark.parametrize("field", ["scaler", "n_time_features", "columns"])
def test_a_file_without_a_field_names_the_file_and_the_field(channels, field):
    written = dict(read_channel(channels / "train").preprocessing)
    del written[field]
    with pytest.raises(DataValidationError, match=rf"p\.json has no '{field}' field"):
        InformerPreprocessing.from_dict(written, "p.json")


def test_training_is_set_up_from_typed_options(channels):
    argv = [*TINY_MODEL, "--seq-len", "16", "--label-len", "6", "--pred-len", "4"]
    options = train.training_options(train.parse_args(argv))
    assert (options.seq_len, options.label_len, options.d_model, options.revin) == (16, 6, 16, True)
    train_channel, validation = (read_channel(channels / s) for s in ("train", "validation"))
    prepared = setup(options, train_channel, validation, per_rank_batch=8)
    assert prepared.hparams["label_len"] == 6 and prepared.hparams["enc_in"] == 3
    x, _, y, _ = next(iter(prepared.train_loader))
    assert (x.shape[1:], y.shape[1:]) == ((16, 3), (6 + 4, 1))
    config = {
        "preprocessing": train_channel.preprocessing,
        "model": prepared.model_config.to_dict(),
    }
    preprocessing, window = read_config(config)
    assert preprocessing == train_channel.informer
    assert (window.seq_len, window.label_len, window.pred_len) == (16, 6, 4)
