"""Metrics that stay meaningful on real data: MAPE near zero actuals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.scaling import StandardScaler
from forecasting.metrics import mape_coverage, percentage_metrics


def test_mape_leaves_out_inverse_scaled_zeros_and_says_how_many():
    """A load that is exactly 0 comes back through the float32 scaled model output as about
    1e-6; the old ``!= 0`` guard divided by it (the 1.96e7 % of the issue)."""
    rng = np.random.default_rng(0)
    load = rng.uniform(2.0, 8.0, size=(50 * 24, 2))
    load[5, 0] = load[700, 1] = 0.0
    scaler = StandardScaler.fit(pd.DataFrame(load, columns=["a", "b"]))
    scaled = scaler.transform(load).astype(np.float32)  # what the model and windows carry
    truth = scaler.inverse_transform(scaled.astype(np.float64)).reshape(50, 24, 2)
    assert 0 < abs(truth[0, 5, 0]) < 1e-5
    prediction = truth + 0.1  # an error of 0.1 everywhere: a few percent of a 2-8 level
    assert 1.0 < percentage_metrics(prediction, truth)["mape"] < 6.0
    assert mape_coverage(truth) == {
        "points": truth.size - 2,
        "excluded_points": 2,
        "rule": "actuals below 1% of their target's mean absolute actual are left out",
    }


def test_the_floor_is_per_target():
    """A target in the thousands does not hide a target whose level is 0.1."""
    truth = np.stack([np.full(10, 1000.0), np.full(10, 0.1)], axis=-1)[None]
    truth[0, 0, 1] = 0.0005  # below 1 % of 0.1
    assert mape_coverage(truth)["excluded_points"] == 1
    assert percentage_metrics(truth * 1.5, truth)["mape"] == 50.0


def test_mape_is_left_out_when_every_actual_is_zero():
    assert "mape" not in percentage_metrics(np.ones(5), np.zeros(5))
