"""The Informer's preprocessing: one multivariate series, split by time, scaled by its training
rows."""

from __future__ import annotations

import logging

from forecasting.data.ett import split_bounds
from forecasting.data.scaling import StandardScaler
from forecasting.data.series import SeriesFrame
from forecasting.data.sources import resolve_dataset
from forecasting.data.time_features import n_time_features
from forecasting.errors import ConfigError
from forecasting.models.family import PreparedData, PreprocessOptions
from forecasting.models.informer.preprocessing import InformerPreprocessing
from forecasting.models.tft.defaults import PROTOCOLS

log = logging.getLogger("forecasting.preprocess")

SPLITS_OF_SERIES = ("ett", "ratio")
# What each single-series protocol is, in the words the log and evaluation.json use.
SPLIT_RULES = {
    "ett": "ETT's published borders: 12 / 4 / 4 months of 30 days (Informer, AAAI 2021)",
    "ratio": "the first 70 % of rows to train, the next 10 % to validate, the last 20 % to test",
}


def ett_borders(series: SeriesFrame) -> str:
    """ETT's borders count hours (ETTh) or 15-minute steps (ETTm); other steps have none."""
    kinds = {"h": "ett_hour", "15min": "ett_minute"}
    if series.freq not in kinds:
        raise ConfigError(
            f"--split ett: ETT's borders are defined for hourly or 15-minute data, "
            f"{series.source} is {series.freq!r}; use --split ratio"
        )
    return kinds[series.freq]


def prepare(series: SeriesFrame, seq_len: int, pred_len: int, split: str) -> PreparedData:
    """Split into train/validation/test and fit the scaler on the training rows only."""
    if split not in SPLITS_OF_SERIES:
        raise ConfigError(f"--split {split}: expected one of {', '.join(SPLITS_OF_SERIES)}")
    kind = ett_borders(series) if split == "ett" else "ratio"
    borders = split_bounds(len(series.frame), seq_len, kind=kind, pred_len=pred_len)
    bounds = {"train": borders["train"], "validation": borders["val"], "test": borders["test"]}
    columns = [*series.targets, *series.covariates]
    splits = {
        name: series.frame.iloc[start:stop][columns] for name, (start, stop) in bounds.items()
    }
    preprocessing = InformerPreprocessing(
        source=str(series.source),
        synthetic=series.synthetic,
        time_column=str(series.frame.index.name),
        freq=series.freq,
        columns=tuple(columns),
        targets=tuple(series.targets),
        covariates=tuple(series.covariates),
        scaler=StandardScaler.fit(splits["train"], columns),
        split=split,
        split_rule=SPLIT_RULES[split],
        bounds=bounds,
        context_length=seq_len,
        pred_len=pred_len,
        n_time_features=n_time_features(series.freq),
    )
    return PreparedData(splits=splits, preprocessing=preprocessing.to_dict())


def informer_series(options: PreprocessOptions) -> SeriesFrame:
    """The whole series an Informer run uses, before splitting (local mode also forecasts past
    its end)."""
    return resolve_dataset(
        options.dataset or "ETTh1",
        options.data,
        time_column=options.time_column or "date",
        targets=list(options.targets) if options.targets else None,
        covariates=list(options.covariates),
        freq=options.freq,
        encoder_length=options.seq_len,
        horizon=options.pred_len,
    )


def prepare_from_options(options: PreprocessOptions) -> PreparedData:
    """The preprocess step's Informer path: refuse the panel flags, announce the split."""
    if options.split in PROTOCOLS:
        raise ConfigError(f"--split {options.split} is for panels (--model tft)")
    if options.test_origins is not None:
        raise ConfigError("--test-origins is for panels (--model tft)")
    if not options.calendar_features:
        raise ConfigError("--calendar-features is for panels; the Informer always has them")
    series = informer_series(options)
    # The default rests on what was asked for (a named ETT-shaped set, or a file), never on a
    # file's name, and is announced.
    split = options.split or ("ratio" if options.data else "ett")
    how = "--split" if options.split else "the default; choose with --split ett|ratio"
    log.info("split: %s (%s): %s", split, how, SPLIT_RULES[split])
    return prepare(series, seq_len=options.seq_len, pred_len=options.pred_len, split=split)
