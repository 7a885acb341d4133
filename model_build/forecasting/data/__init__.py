"""Data loading, validation, splitting, scaling for the forecasting models."""

from forecasting.data.ett import ETT_COLUMNS, load_ett, split_bounds
from forecasting.data.panel import TIME_IDX, PanelFrame, PanelSchema
from forecasting.data.panel_loading import load_panel
from forecasting.data.scaling import StandardScaler
from forecasting.data.series import SeriesFrame, load_csv_series
from forecasting.data.sources import (
    DATASETS,
    DatasetUnavailableError,
    demo_ett,
    fetch,
    resolve_dataset,
    resolve_panel,
)
from forecasting.data.stallion import STALLION_SCHEMA, demo_panel, stallion
from forecasting.data.time_features import n_time_features, time_features

__all__ = [
    "DATASETS",
    "ETT_COLUMNS",
    "STALLION_SCHEMA",
    "TIME_IDX",
    "DatasetUnavailableError",
    "PanelFrame",
    "PanelSchema",
    "SeriesFrame",
    "StandardScaler",
    "demo_ett",
    "demo_panel",
    "fetch",
    "load_csv_series",
    "load_ett",
    "load_panel",
    "n_time_features",
    "resolve_dataset",
    "resolve_panel",
    "split_bounds",
    "stallion",
    "time_features",
]
