"""SageMaker PyTorch inference handlers (``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``).

The model artifact carries ``code/inference.py``, which re-exports these, ``code/requirements.txt``
and a copy of this package, so a registered model package serves as is, with no repack step.

Batch Transform settings these handlers expect (the approval Lambda and local mode use
:data:`TRANSFORM_SETTINGS`):

* ``ContentType`` ``text/csv`` (or ``application/jsonlines``), ``Accept`` the same: the history
  of one or many series, with a header, one row per series and time step.
* ``SplitType`` ``None``: one file is one request. Splitting by line would cut a series'
  history apart, and every forecast needs the whole window.
* ``BatchStrategy`` ``SingleRecord`` and ``MaxPayloadInMB`` 100 (the largest SageMaker allows):
  a request file may be large; split big panels into several files, never inside a series.
* ``AssembleWith`` ``None``: each ``X.csv`` gives ``X.csv.out``, one complete CSV with its header.
* ``Environment`` ``SAGEMAKER_MODEL_SERVER_WORKERS=1``: one model-server worker, which `model_fn`
  gives every core. The server otherwise starts a worker per vCPU, each holding its own model and
  a thread pool as large as the machine, so the workers oversubscribe the cores.

A request either succeeds whole or fails with a message naming the series and row; nothing is
written for a failed request.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from forecasting import artifact
from forecasting.contracts import ModelConfig
from forecasting.data.validation import Location
from forecasting.errors import DataValidationError
from forecasting.families import family
from forecasting.inference import payload

FORECAST_COLUMNS = (
    "series_id",
    "target",
    "timestamp",
    "horizon_step",
    "p50",
    "p10",
    "p90",
    "model",
    "model_version",
)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # what QuickSight parses as a date without settings
MODEL_NAME_ENV = "FORECAST_MODEL_NAME"
MODEL_VERSION_ENV = "FORECAST_MODEL_VERSION"  # the model package version, set on the Model
TRANSFORM_SETTINGS = {
    "ContentType": payload.CSV,
    "SplitType": "None",
    "BatchStrategy": "SingleRecord",
    "MaxPayloadInMB": 100,
    "AssembleWith": "None",
    "Accept": payload.CSV,
    # read by the sagemaker-inference toolkit that starts the PyTorch container's model server
    "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
}


def format_timestamps(stamps: pd.DatetimeIndex) -> pd.Index:
    """:data:`TIMESTAMP_FORMAT`, followed by the offset (``+02:00``) when the history had one:
    a forecast keeps the time zone of the data it continues."""
    text = stamps.strftime(TIMESTAMP_FORMAT)
    if stamps.tz is None:
        return text
    offsets = stamps.strftime("%z")  # +0200; ISO 8601 and fromisoformat read +02:00 too
    return text + offsets.str[:3] + ":" + offsets.str[3:]


# The truth beside a forecast, in the publish Lambda's actuals format (example requests).
ACTUAL_KEY = ("series_id", "target", "timestamp")


def actual_rows(
    series_ids: pd.Series, target: str, stamps: pd.Series, values: pd.Series
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": series_ids.to_numpy(),
            "target": target,
            "timestamp": format_timestamps(pd.DatetimeIndex(stamps)),
            "value": values.to_numpy(),
        }
    )


@dataclass(frozen=True)
class LoadedModel:
    network: torch.nn.Module
    config: dict[str, Any]
    model_config: ModelConfig
    name: str
    version: str


def available_cores() -> int:
    """The cores this process may run on (a container may be given fewer than the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def model_fn(model_dir: str) -> LoadedModel:
    """Load once per container: weights, config and the fitted preprocessing. The one worker
    (``TRANSFORM_SETTINGS``) computes with a thread per core."""
    torch.set_num_threads(available_cores())
    network, config = artifact.load(model_dir)
    model_config = ModelConfig.of_artifact(config)
    return LoadedModel(
        network,
        config,
        model_config,
        name=os.environ.get(MODEL_NAME_ENV, model_config.family),
        version=os.environ.get(MODEL_VERSION_ENV, "unregistered"),
    )


def input_fn(request_body: bytes | str, request_content_type: str) -> tuple[pd.DataFrame, Location]:
    return payload.decode(request_body, request_content_type)


def predict_fn(input_data: tuple[pd.DataFrame, Location], model: LoadedModel) -> pd.DataFrame:
    """Validate the whole request, then forecast every series in one forward pass."""
    raw, where = input_data
    table = family(model.model_config.family).forecast(model.network, model.config, raw, where)
    table["timestamp"] = format_timestamps(pd.DatetimeIndex(table["timestamp"]))
    table["model"], table["model_version"] = model.name, model.version
    return table[list(FORECAST_COLUMNS)]


def output_fn(prediction: pd.DataFrame, accept: str) -> str:
    kind = (accept or payload.CSV).split(";")[0].strip().lower()
    if kind in (payload.CSV, "*/*"):
        return prediction.to_csv(index=False, float_format="%.10g")
    if kind == payload.JSON_LINES:
        records = prediction.astype(object).where(prediction.notna(), None)
        return "".join(json.dumps(r) + "\n" for r in records.to_dict(orient="records"))
    raise DataValidationError(
        f"accept type {accept!r} is not supported; expected {payload.CSV} or {payload.JSON_LINES}"
    )


def transform(body: bytes | str, model: LoadedModel, content_type: str = payload.CSV) -> str:
    """One request end to end, as the container runs it (local mode and tests)."""
    return output_fn(predict_fn(input_fn(body, content_type), model), content_type)


def read_forecasts(text: str) -> pd.DataFrame:
    """A handler's CSV output back as a table (tests, benchmarks)."""
    return pd.read_csv(io.StringIO(text), keep_default_na=True)
