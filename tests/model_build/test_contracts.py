"""preprocessing.json and config.json's "model" as typed contracts, older files included."""

from __future__ import annotations

import pytest

from forecasting.contracts import ModelConfig, Preprocessing
from forecasting.errors import DataValidationError

DATA = {"source": "ETTh1.csv", "synthetic": False}  # what every family records of its data


def test_both_families_record_input_length_and_horizon_under_one_name():
    informer = Preprocessing.from_dict({"context_length": 96, "pred_len": 24, **DATA}, "p.json")
    tft = Preprocessing.from_dict(
        {"model": "tft", "max_encoder_length": 24, "horizon": 6, **DATA}, "p.json"
    )
    assert (informer.model, informer.input_length, informer.horizon) == ("informer", 96, 24)
    assert (tft.model, tft.input_length, tft.horizon) == ("tft", 24, 6)
    assert (tft.source, tft.synthetic) == ("ETTh1.csv", False)
    written = informer.to_dict()
    assert (written["model"], written["input_length"], written["horizon"]) == ("informer", 96, 24)
    assert written["context_length"] == 96  # the family's own fields stay as they were
    assert Preprocessing.from_dict(written, "p.json").to_dict() == written


def test_a_file_without_a_horizon_names_itself_and_the_fix():
    with pytest.raises(DataValidationError, match=r"p\.json comes from an older preprocess"):
        Preprocessing.from_dict({"context_length": 96, **DATA}, "p.json")


def test_a_file_without_its_source_names_itself_and_the_field():
    with pytest.raises(DataValidationError, match=r"p\.json has no source field"):
        Preprocessing.from_dict({"context_length": 96, "pred_len": 24, "synthetic": 0}, "p.json")


def test_a_models_contracts_are_read_from_its_whole_config_json():
    preprocessing = {"model": "tft", "max_encoder_length": 24, "horizon": 6, **DATA}
    config = {
        "format_version": 1,
        "model": {"family": "tft", "hparams": {"hidden_size": 8}},
        "preprocessing": preprocessing,
    }
    assert ModelConfig.of_artifact(config) == ModelConfig("tft", {"hidden_size": 8})
    assert Preprocessing.of_artifact(config).fields == preprocessing
    with pytest.raises(DataValidationError, match=r"c\.json: \"model\" must hold"):
        ModelConfig.of_artifact({"format_version": 1}, "c.json")


def test_a_model_config_round_trips_and_older_ones_hold_one_network():
    old = ModelConfig.from_dict({"family": "informer", "hparams": {"d_model": 8}}, "c.json")
    assert old.ensemble_size == 1 and old.constructor is None
    tft = ModelConfig("tft", {"hidden_size": 8}, 3, {"x": 1})
    assert ModelConfig.from_dict(tft.to_dict(), "c.json") == tft
    assert "constructor" not in old.to_dict()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"hparams": {}}, r'c\.json: "model" must hold a "family"'),
        ({"family": "informer", "hparams": {}, "ensemble_size": 0}, r"c\.json: ensemble_size 0"),
    ],
)
def test_a_broken_model_config_is_refused_by_file(data, message):
    with pytest.raises(DataValidationError, match=message):
        ModelConfig.from_dict(data, "c.json")
