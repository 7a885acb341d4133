"""JSON for pytorch-forecasting's fitted dataset parameters and model hyperparameters.

Its encoders and normalizers are sklearn-style objects that pickle would carry, but a pickle
runs code on load and torch refuses it under ``weights_only``. Here they become plain JSON:
objects of an allow-listed class, arrays, tensors and data frames each get a tagged form, and
decoding restores an object's attributes without calling any constructor.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import numpy as np
import pandas as pd
import torch

from forecasting.errors import DataValidationError

# Every class that may appear in TimeSeriesDataSet.get_parameters() or the TFT's hparams.
ALLOWED_CLASSES = frozenset(
    {
        "pytorch_forecasting.data.encoders.NaNLabelEncoder",
        "pytorch_forecasting.data.encoders.GroupNormalizer",
        "pytorch_forecasting.data.encoders.TorchNormalizer",
        "pytorch_forecasting.data.encoders.EncoderNormalizer",
        "pytorch_forecasting.data.encoders.MultiNormalizer",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.RobustScaler",
    }
)
_TAG = "__type__"


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def encode(value: Any) -> Any:
    """A JSON-serialisable form of ``value``; raises TypeError for anything not allow-listed."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {_TAG: "ndarray", "dtype": value.dtype.str, "data": value.tolist()}
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().numpy()
        return {_TAG: "tensor", "dtype": array.dtype.str, "data": array.tolist()}
    if isinstance(value, pd.DataFrame):
        return {_TAG: "dataframe", "data": encode(value.to_dict(orient="tight"))}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "items": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: encode(v) for k, v in value.items()}
        return {_TAG: "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    name = _qualname(type(value))
    if name in ALLOWED_CLASSES:
        return {_TAG: "object", "class": name, "state": encode(vars(value))}
    raise TypeError(f"cannot store a {name} as JSON; add it to codec.ALLOWED_CLASSES if it is safe")


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: decode(v) for k, v in value.items()}
    if tag == "ndarray":
        return np.array(value["data"], dtype=np.dtype(value["dtype"]))
    if tag == "tensor":
        return torch.from_numpy(np.array(value["data"], dtype=np.dtype(value["dtype"])))
    if tag == "dataframe":
        return pd.DataFrame.from_dict(decode(value["data"]), orient="tight")
    if tag == "tuple":
        return tuple(decode(v) for v in value["items"])
    if tag == "dict":
        return {_hashable(decode(k)): decode(v) for k, v in value["items"]}
    if tag == "object":
        name = value["class"]
        if name not in ALLOWED_CLASSES:
            raise DataValidationError(f"refusing to restore an object of class {name!r}")
        module, _, attribute = name.rpartition(".")
        cls = getattr(importlib.import_module(module), attribute)
        instance = cls.__new__(cls)
        instance.__dict__.update(decode(value["state"]))
        return instance
    raise DataValidationError(f"unknown tag {tag!r} in stored parameters")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def dumps(value: Any) -> str:
    """Stable text: the same parameters always give the same bytes (ranks compare hashes)."""
    return json.dumps(encode(value), sort_keys=True, separators=(",", ":"))


def loads(text: str) -> Any:
    return decode(json.loads(text))
