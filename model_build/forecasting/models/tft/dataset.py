"""The TimeSeriesDataSet for a panel: fitted once in preprocess, rebuilt from JSON everywhere else.

Categorical encoders, the target normalizer and the real-valued scalers are all fitted on the
training rows by :func:`fit_dataset`. Train ranks, evaluation and inference rebuild the data set
with :func:`from_parameters`, so every process encodes the same category as the same index
(ranks that fitted their own encoders disagree on embedding sizes: pytorch-forecasting #1825).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from pytorch_forecasting import TimeSeriesDataSet
from pytorch_forecasting.data import EncoderNormalizer, GroupNormalizer

from forecasting.data.panel import TIME_IDX, PanelFrame
from forecasting.data.panel_loading import check_panel_lengths
from forecasting.errors import ConfigError
from forecasting.models.tft import codec
from forecasting.models.tft.defaults import TARGET_NORMALIZERS
from forecasting.models.tft.preprocessing import Cutoffs, TFTPreprocessing

# With the encoder normalizer, pytorch-forecasting scales each window's reals with numpy arrays
# through scalers fitted on DataFrames: sklearn warns once per window (a thousand lines per
# epoch on a small panel), about nothing that changes a value.
warnings.filterwarnings(
    "ignore", message="X does not have valid feature names", category=UserWarning
)


# The test window when none is given: as many horizons as fit in the last tenth of the time
# range, so the gate sees more than one forecast per series where the data allows (Stallion's
# 60 months with a horizon of 6 keep the single test horizon its published numbers use).
AUTO_TEST_SHARE = 0.1
MAX_AUTO_TEST_ORIGINS = 20


def auto_test_origins(n_steps: int, horizon: int) -> int:
    return max(1, min(MAX_AUTO_TEST_ORIGINS, int(n_steps * AUTO_TEST_SHARE) // horizon))


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
        time_varying_known_reals=[*schema.known_reals, *schema.calendar_columns()],
        time_varying_unknown_categoricals=list(schema.unknown_categoricals),
        time_varying_unknown_reals=[schema.target, *schema.unknown_reals],
        target_normalizer=target_normalizer(normalizer, list(schema.group_columns), nonnegative),
        add_relative_time_idx=True,
        add_target_scales=True,
        add_encoder_length=True,
    )


def encode_parameters(dataset: TimeSeriesDataSet) -> dict[str, Any]:
    """The fitted parameters as plain JSON (what preprocessing.json stores)."""
    encoded: dict[str, Any] = codec.encode(dataset.get_parameters())
    return encoded


def from_parameters(
    encoded: Mapping[str, Any],
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


def prepare_panel(
    panel: PanelFrame,
    *,
    max_encoder_length: int,
    min_encoder_length: int,
    horizon: int,
    protocol: str = "holdout",
    normalizer: str = "encoder",
    test_origins: int | None = None,
) -> tuple[dict[str, pd.DataFrame], TFTPreprocessing]:
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
    first, last = int(frame[TIME_IDX].min()), int(frame[TIME_IDX].max())
    if test_origins is None:
        test_origins = 1 if protocol == "tutorial" else auto_test_origins(last - first + 1, horizon)
    cutoffs = Cutoffs.for_panel(last, horizon, protocol, test_origins)
    if cutoffs.train - first + 1 < min_encoder_length + 1:
        raise ConfigError(
            f"{panel.source}: {cutoffs.train - first + 1} steps before the validation split "
            f"leave no training window of {min_encoder_length} encoder steps and 1 forecast "
            f"step; use more history, a shorter --min-encoder-length, fewer --test-origins "
            f"(now {cutoffs.test_origins}), or --split tutorial"
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
    train = frame[frame[TIME_IDX] <= cutoffs.train]
    trained = train[groups].drop_duplicates()
    splits = {
        name: frame[frame[TIME_IDX] <= end].reset_index(drop=True)
        for name, end in (
            ("train", cutoffs.train),
            ("validation", cutoffs.validation),
            ("test", cutoffs.test),
        )
    }
    preprocessing = TFTPreprocessing(
        source=panel.source,
        synthetic=panel.synthetic,
        schema=panel.schema,
        time_origin=frame[panel.schema.time_column].min().isoformat(),
        cutoffs=cutoffs,
        max_encoder_length=max_encoder_length,
        min_encoder_length=min_encoder_length,
        horizon=horizon,
        target_normalizer=normalizer,
        nonnegative_target=bool((train[panel.schema.target] >= 0).all()),
        trained_series=tuple(
            sorted(tuple(str(v) for v in row) for row in trained.itertuples(index=False))
        ),
        dataset_parameters=encode_parameters(dataset),
    )
    return splits, preprocessing


def split_dataset(
    channel_frame: pd.DataFrame, preprocessing: TFTPreprocessing, split: str
) -> TimeSeriesDataSet:
    """The windows of one split: every training window, or one forecast per series from each
    origin of the split (see :meth:`Cutoffs.origins`): the longest encoder, the full horizon
    where the series has it."""
    parameters = preprocessing.dataset_parameters
    if split == "train":
        return from_parameters(parameters, channel_frame)
    origins = preprocessing.cutoffs.origins(split, preprocessing.horizon)
    if len(origins) == 1:  # pytorch-forecasting's own last window per series
        return from_parameters(
            parameters, channel_frame, predict=True, min_prediction_idx=origins[0]
        )
    dataset = from_parameters(parameters, channel_frame, min_prediction_idx=origins[0])
    windows = dataset.decoded_index
    windows["span"] = windows["time_idx_last"] - windows["time_idx_first"]
    windows["row"] = range(len(windows))
    windows = windows[windows["time_idx_first_prediction"].isin(origins)]
    keys = [*dataset.group_ids, "time_idx_first_prediction"]
    # the longest decoder (the horizon, or up to the series' end), then the longest encoder
    order = ["time_idx_last", "span"]
    longest = windows.sort_values(order, kind="stable").drop_duplicates(keys, keep="last")
    chosen = np.zeros(len(dataset.index), dtype=bool)
    chosen[longest["row"].to_numpy()] = True
    return dataset.filter(lambda _: chosen)


def clip_forecasts(prediction: torch.Tensor, preprocessing: TFTPreprocessing) -> torch.Tensor:
    """Quantile forecasts of a target that was never negative in training, floored at 0.

    The quantile loss does not bound the output, so an always-positive meter gets negative
    p10s; clipping can only lower each quantile's loss when the truth is >= 0. Evaluation and
    inference both apply it, as ``preprocessing.json`` records.
    """
    return prediction.clamp(min=0) if preprocessing.nonnegative_target else prediction
