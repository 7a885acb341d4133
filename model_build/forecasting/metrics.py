"""Point-forecast metrics, computed the way the published benchmarks compute them."""

from __future__ import annotations

import numpy as np


def regression_metrics(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """MSE, MAE and RMSE over every element, as in the Informer/DLinear/PatchTST tables."""
    error = prediction.astype(np.float64) - truth.astype(np.float64)
    mse = float(np.mean(error**2))
    return {"mse": mse, "mae": float(np.mean(np.abs(error))), "rmse": mse**0.5}


# MAPE divides by the actual, so it is computed only where the actual is at least this share of
# the target's mean absolute actual. Exact zeros come back from the scaler as about 1e-6, and one
# of them made a MAPE of 1.96e7 %; below 1 % of the typical level a percentage says little.
MAPE_FLOOR_SHARE = 0.01


def mape_points(truth: np.ndarray) -> np.ndarray:
    """Where MAPE is computed: ``|actual| >= MAPE_FLOOR_SHARE * mean |actual|`` of its target.

    The last axis holds the targets of a multi-target array (``[..., targets]``, ndim >= 2);
    a one-dimensional array is one target.
    """
    size = np.abs(truth.astype(np.float64))
    axes = tuple(range(truth.ndim - 1)) if truth.ndim >= 2 else None
    floor = MAPE_FLOOR_SHARE * size.mean(axis=axes, keepdims=truth.ndim >= 2)
    scored: np.ndarray = (size >= floor) & (size > 0)
    return scored


def mape_coverage(truth: np.ndarray) -> dict[str, object]:
    """How many points MAPE used and left out, for evaluation.json."""
    used = mape_points(truth)
    return {
        "points": int(used.sum()),
        "excluded_points": int(used.size - used.sum()),
        "rule": f"actuals below {MAPE_FLOOR_SHARE:.0%} of their target's mean absolute actual "
        "are left out",
    }


def percentage_metrics(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """MAPE where the actual is meaningfully non-zero (:func:`mape_points`), and sMAPE
    (0-200 %) where it is defined.

    Both need the original scale: on standardised data the truth crosses zero and MAPE explodes.
    A metric with no defined element is left out rather than reported as 0 or infinity.
    """
    pred, true = prediction.astype(np.float64), truth.astype(np.float64)
    out: dict[str, float] = {}
    used = mape_points(true)
    if used.any():
        out["mape"] = float(np.mean(np.abs((pred - true)[used] / true[used])) * 100)
    denominator = np.abs(pred) + np.abs(true)
    defined = denominator > 0
    if defined.any():
        ratio = 2 * np.abs(pred - true)[defined] / denominator[defined]
        out["smape"] = float(np.mean(ratio) * 100)
    return out


def quantile_metrics(
    prediction: np.ndarray, truth: np.ndarray, quantiles: list[float]
) -> dict[str, float]:
    """Pinball loss over quantile forecasts ``prediction[..., q]`` of ``truth[...]``.

    ``quantile_loss`` is the mean over points and quantiles (pytorch-forecasting's QuantileLoss);
    ``q_risk_p50``/``q_risk_p90`` are the TFT paper's normalised losses,
    2 * sum(pinball_q) / sum(|y|).
    """
    true = truth.astype(np.float64)[..., None]
    error = true - prediction.astype(np.float64)
    q = np.asarray(quantiles, dtype=np.float64)
    pinball = np.maximum(q * error, (q - 1) * error)
    out = {"quantile_loss": float(pinball.mean())}
    scale = float(np.abs(truth).sum())
    for level in (0.5, 0.9):
        match = np.flatnonzero(np.isclose(q, level))
        if len(match) and scale > 0:
            out[f"q_risk_p{round(level * 100)}"] = 2 * float(pinball[..., match[0]].sum()) / scale
    return out
