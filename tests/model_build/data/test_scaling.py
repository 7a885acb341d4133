import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecasting.data.scaling import StandardScaler
from forecasting.errors import ConfigError


@pytest.fixture
def frame():
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {"a": rng.normal(5, 2, 50), "b": np.full(50, 3.0), "c": rng.normal(-1, 0.5, 50)}
    )


def test_fit_uses_population_std_and_guards_constant_columns(frame):
    scaler = StandardScaler.fit(frame, ["a", "b"])
    assert scaler.columns == ["a", "b"]
    np.testing.assert_allclose(scaler.mean, [frame["a"].mean(), 3.0])
    np.testing.assert_allclose(scaler.std, [np.std(frame["a"].to_numpy(), ddof=0), 1.0])
    assert all(type(v) is float for v in [*scaler.mean, *scaler.std])


def test_transform_round_trip_keeps_float32(frame):
    scaler = StandardScaler.fit(frame)
    values = frame.to_numpy(dtype=np.float32)
    scaled = scaler.transform(values)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[:, 0].mean(), 0, atol=1e-5)
    np.testing.assert_allclose(scaled[:, 0].std(), 1, atol=1e-5)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), values, rtol=1e-5)


def test_column_subset_for_target_only_outputs(frame):
    scaler = StandardScaler.fit(frame)
    batch = np.ones((4, 6, 1))  # [batch, horizon, 1 target]
    restored = scaler.inverse_transform(batch, columns=["c"])
    np.testing.assert_allclose(restored, scaler.std[2] + scaler.mean[2])
    with pytest.raises(ConfigError, match="no statistics"):
        scaler.transform(batch, columns=["zzz"])


def test_wrong_width_is_a_config_error(frame):
    with pytest.raises(ConfigError, match="3 columns"):
        StandardScaler.fit(frame).transform(np.ones((2, 2)))


def test_state_is_plain_json_and_loads_with_weights_only(frame, tmp_path):
    scaler = StandardScaler.fit(frame)
    state = json.loads(json.dumps(scaler.to_dict()))
    assert StandardScaler.from_dict(state) == scaler
    torch.save({"scaler": scaler.to_dict()}, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert StandardScaler.from_dict(loaded["scaler"]) == scaler


@pytest.mark.parametrize(
    "state",
    [
        {"mean": [0.0], "std": [1.0]},
        {"mean": [0.0], "std": [1.0, 2.0], "columns": ["a"]},
        {"mean": [0.0], "std": [0.0], "columns": ["a"]},
    ],
)
def test_bad_state_is_a_config_error(state):
    with pytest.raises(ConfigError):
        StandardScaler.from_dict(state)


def test_fit_rejects_empty_or_missing_data(frame):
    with pytest.raises(ConfigError, match="zero rows"):
        StandardScaler.fit(frame.iloc[:0])
    with pytest.raises(ConfigError, match="missing columns"):
        StandardScaler.fit(frame, ["zzz"])
