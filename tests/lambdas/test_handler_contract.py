"""The inference handler's output is what publishing reads: same columns, same formats."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.inference import handler
from lambdas.publish import publishing
from lambdas.publish.stores import LocalStore


def test_publishing_reads_the_columns_the_handler_writes():
    assert publishing.FORECAST_COLUMNS == handler.FORECAST_COLUMNS
    assert publishing.TIMESTAMP_FORMAT == handler.TIMESTAMP_FORMAT


def test_handler_output_publishes_with_its_precision_intact(tmp_path):
    stamps = pd.date_range("2018-07-01", periods=3, freq="MS").strftime(handler.TIMESTAMP_FORMAT)
    table = pd.DataFrame(
        {
            "series_id": "Agency_01/SKU_01",
            "target": "volume",
            "timestamp": stamps,
            "horizon_step": [1, 2, 3],
            "p50": [1234567.75, 2.5, 3.0],
            "p10": [1000000.0, np.nan, 1.0],
            "p90": [1500000.0, np.nan, 4.0],
            "model": "tft",
            "model_version": "3",
        }
    )
    table.loc[1, ["p10", "p90"]] = [2.0, 3.0]
    store = LocalStore(tmp_path)
    store.write("transform/request.csv.out", handler.output_fn(table, "text/csv").encode(), "")
    result = publishing.publish(store, transform_prefix="transform", output_prefix="forecasts",
                                run="job-1")  # fmt: skip
    published = pd.read_csv(tmp_path / result.to_dict()["csv_keys"][0])
    assert published["p50"].tolist() == [1234567.75, 2.5, 3.0]
