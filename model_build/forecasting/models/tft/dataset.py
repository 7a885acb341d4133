"""The TimeSeriesDataSet for a panel: fitted once in preprocess, rebuilt from JSON everywhere else.

Categorical encoders, the target normalizer and the real-valued scalers are all fitted on the
training rows by :func:`fit_dataset`. Train ranks, evaluation and inference rebuild the data set
with :func:`from_parameters`, so every process encodes the same category as the same index
(ranks that fitted their own encoders disagree on embedding sizes: pytorch-forecasting #1825).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pytorch_forecasting import TimeSeriesDataSet
from pytorch_forecasting.data import EncoderNormalizer, GroupNormalizer

from forecasting.data.panel import TIME_IDX, PanelFrame, PanelSchema, check_panel_lengths
from forecasting.errors import ConfigError
from forecasting.models.tft import codec

# With the encoder normalizer, pytorch-forecasting scales each window's reals with numpy arrays
# through scalers fitted on DataFrames: sklearn warns once per window (a thousand lines per
# epoch on a small panel), about nothing that changes a value.
warnings.filterwarnings(
    "ignore", message="X does not have valid feature names", category=UserWarning
)

# encoder: each window scaled by its own history (the default: Stallion validation MAE 246 vs
# 265 for group in benchmarks/tft_stallion.py); group: the tutorial's per-series scale.
TARGET_NORMALIZERS = ("encoder", "group")

PROTOCOLS = ("holdout", "tutorial")


@dataclass(frozen=True)
class Cutoffs:
    """Last ``time_idx`` of each split; a split's forecasts start after the previous cutoff.

    ``holdout``: validation is the horizon before the test horizon, so the test window is
    never seen in model selection. ``tutorial``: pytorch-forecasting's Stallion protocol, where
    the last horizon is both validation and test (use it to compare with published numbers).
    """

    train: int
    validation: int
    test: int
    protocol: str

    @classmethod
    def for_panel(cls, last_time_idx: int, horizon: int, protocol: str) -> Cutoffs:
        if protocol not in PROTOCOLS:
            raise ConfigError(f"unknown split protocol {protocol!r}; expected one of {PROTOCOLS}")
        if protocol == "tutorial":
            return cls(last_time_idx - horizon, last_time_idx, last_time_idx, protocol)
        return cls(last_time_idx - 2 * horizon, last_time_idx - horizon, last_time_idx, protocol)

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": self.train,
            "validation": self.validation,
            "test": self.test,
            "protocol": self.protocol,
        }


def target_normalizer(
    name: str, group_columns: list[str], nonnegative: bool
) -> EncoderNormalizer | GroupNormalizer:
    """``encoder`` scales each window by its own encoder; ``group`` by each series' training
    mean (the tutorial's, with softplus keeping forecasts of a non-negative target >= 0).

    The encoder normalizer stays untransformed: with softplus it scored 258 instead of 250 on
    Stallion under the tutorial's settings.
    """
    if name == "encoder":
        return EncoderNormalizer()
    if name == "group":
        transformation = "softplus" if nonnegative else None
        return GroupNormalizer(groups=group_columns, transformation=transformation)
    raise ConfigError(f"target normalizer {name!r} is not one of {', '.join(TARGET_NORMALIZERS)}")


def fit_dataset(
    panel: PanelFrame,
    *,
    train_end: int,
    max_encoder_length: int,
    min_encoder_length: int,
    horizon: int,
    normalizer: str = "encoder",
) -> TimeSeriesDataSet:
    """Fit encoders, normalizer and scalers on the rows up to ``train_end`` (the tutorial's way)."""
    schema = panel.schema
    train = panel.frame[panel.frame[TIME_IDX] <= train_end]
    nonnegative = bool((train[schema.target] >= 0).all())
    return TimeSeriesDataSet(
        train,
        time_idx=TIME_IDX,
        target=schema.target,
        group_ids=list(schema.group_columns),
        min_encoder_length=min_encoder_length,
        max_encoder_length=max_encoder_length,
        min_prediction_length=1,
        max_prediction_length=horizon,
        static_categoricals=list(schema.static_categoricals),
        static_reals=list(schema.static_reals),
        time_varying_known_categoricals=list(schema.known_categoricals),
        variable_groups={k: list(v) for k, v in schema.variable_groups.items()},
        time_varying_known_reals=list(schema.known_reals),
        time_varying_unknown_categoricals=list(schema.unknown_categoricals),
        time_varying_unknown_reals=[schema.target, *schema.unknown_reals],
        target_normalizer=target_normalizer(normalizer, list(schema.group_columns), nonnegative),
        add_relative_time_idx=True,
        add_target_scales=True,
        add_encoder_length=True,
    )


def encode_parameters(dataset: TimeSeriesDataSet) -> dict[str, Any]:
    """The fitted parameters as plain JSON (what preprocessing.json stores)."""
    return codec.encode(dataset.get_parameters())


def from_parameters(
    encoded: dict[str, Any],
    frame: pd.DataFrame,
    *,
    predict: bool = False,
    min_prediction_idx: int | None = None,
) -> TimeSeriesDataSet:
    """Rebuild the data set over ``frame`` with the saved fit; nothing is refitted.

    ``predict`` keeps one window per series, forecasting its last horizon (validation, test and
    inference); ``min_prediction_idx`` keeps forecasts after a split's cutoff.
    """
    parameters = codec.decode(encoded)
    overrides: dict[str, Any] = {"predict": predict, "stop_randomization": True}
    if min_prediction_idx is not None:
        overrides["min_prediction_idx"] = min_prediction_idx
    return TimeSeriesDataSet.from_parameters(parameters, frame, **overrides)


def schema_of(preprocessing: dict[str, Any]) -> PanelSchema:
    return PanelSchema.from_dict(preprocessing["schema"])


def prepare_panel(
    panel: PanelFrame,
    *,
    max_encoder_length: int,
    min_encoder_length: int,
    horizon: int,
    protocol: str = "holdout",
    normalizer: str = "encoder",
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Split by time and fit the data set once: (frame per split, preprocessing.json content).

    Each split's frame holds every row up to its cutoff, since the TFT's encoder reads the
    history before the forecast window.
    """
    if not 1 <= min_encoder_length <= max_encoder_length:
        raise ConfigError(
            f"min encoder length {min_encoder_length} must be between 1 and the encoder length "
            f"{max_encoder_length}"
        )
    if horizon < 1:
        raise ConfigError(f"the horizon must be at least 1, got {horizon}")
    frame = panel.frame
    cutoffs = Cutoffs.for_panel(int(frame[TIME_IDX].max()), horizon, protocol)
    first = int(frame[TIME_IDX].min())
    if cutoffs.train - first + 1 < min_encoder_length + 1:
        raise ConfigError(
            f"{panel.source}: {cutoffs.train - first + 1} steps before the validation split "
            f"leave no training window of {min_encoder_length} encoder steps and 1 forecast "
            f"step; use more history, a shorter --min-encoder-length, or --split tutorial"
        )
    # A series seen only after the cutoff gets no training window, and GroupNormalizer gives a
    # single training row a NaN scale, which turns every forecast of it into NaN.
    check_panel_lengths(
        frame,
        panel.schema.group_columns,
        min_length=min_encoder_length + 1,
        source=panel.source,
        up_to=cutoffs.train,
        why="a training window: --min-encoder-length steps and one forecast step before the "
        "validation split; drop the series or lower --min-encoder-length",
    )
    dataset = fit_dataset(
        panel,
        train_end=cutoffs.train,
        max_encoder_length=max_encoder_length,
        min_encoder_length=min_encoder_length,
        horizon=horizon,
        normalizer=normalizer,
    )
    groups = list(panel.schema.group_columns)
    trained = frame.loc[frame[TIME_IDX] <= cutoffs.train, groups].drop_duplicates()
    splits = {
        name: frame[frame[TIME_IDX] <= end].reset_index(drop=True)
        for name, end in (
            ("train", cutoffs.train),
            ("validation", cutoffs.validation),
            ("test", cutoffs.test),
        )
    }
    preprocessing = {
        "model": "tft",
        "source": panel.source,
        "synthetic": panel.synthetic,
        "schema": panel.schema.to_dict(),
        "time_column": panel.schema.time_column,
        "freq": panel.schema.freq,
        # time_idx 0: inference counts the steps of new rows from here (see validate_panel)
        "time_origin": frame[panel.schema.time_column].min().isoformat(),
        "targets": [panel.schema.target],
        "cutoffs": cutoffs.to_dict(),
        "max_encoder_length": max_encoder_length,
        "min_encoder_length": min_encoder_length,
        "horizon": horizon,
        "target_normalizer": normalizer,
        # what inference accepts: the series with training windows (check_panel_lengths above)
        "trained_series": sorted([str(v) for v in row] for row in trained.itertuples(index=False)),
        "dataset_parameters": encode_parameters(dataset),
    }
    return splits, preprocessing


def split_dataset(
    channel_frame: pd.DataFrame, preprocessing: dict[str, Any], split: str
) -> TimeSeriesDataSet:
    """The windows of one split: every training window, or one forecast per series after the
    previous split's cutoff (validation and test)."""
    parameters = preprocessing["dataset_parameters"]
    if split == "train":
        return from_parameters(parameters, channel_frame)
    cutoffs = preprocessing["cutoffs"]
    previous = cutoffs["train"] if split == "validation" else cutoffs["validation"]
    if cutoffs["protocol"] == "tutorial" and split == "test":
        previous = cutoffs["train"]  # the tutorial scores its validation horizon
    return from_parameters(parameters, channel_frame, predict=True, min_prediction_idx=previous + 1)


def trained_series(preprocessing: dict[str, Any]) -> set[tuple[str, ...]]:
    """The series the model was fitted on, as label tuples of the group columns.

    Inference refuses any other series by name: the group normalizer has no scale for it
    (pytorch-forecasting would silently give it a default one) and its embeddings were never
    trained.
    """
    return {tuple(labels) for labels in preprocessing["trained_series"]}
