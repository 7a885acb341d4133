"""The TFT's preprocessing: a panel of series, its column roles, split into train, validation
and test windows with the encoders and normalizer fitted on the training rows."""

from __future__ import annotations

import logging

from forecasting.data.panel_roles import PanelRoles
from forecasting.data.sources import resolve_panel
from forecasting.data.stallion import is_stallion
from forecasting.errors import ConfigError
from forecasting.models.family import PreparedData, PreprocessOptions
from forecasting.models.tft.dataset import prepare_panel
from forecasting.models.tft.defaults import PROTOCOLS

log = logging.getLogger("forecasting.preprocess")


def panel_roles(options: PreprocessOptions) -> PanelRoles:
    targets = options.targets or ()
    if len(targets) > 1:
        given = ",".join(targets)
        raise ConfigError(f"--model tft takes one target column, got --targets {given!r}")
    return PanelRoles(
        time_column=options.time_column,
        group_columns=options.group_columns,
        target=targets[0] if targets else None,
        freq=options.freq,
        calendar=options.calendar_features,
        static_categoricals=options.static_categoricals,
        static_reals=options.static_reals,
        known_categoricals=options.known_categoricals,
        known_reals=options.known_reals,
        unknown_categoricals=options.unknown_categoricals,
        unknown_reals=options.unknown_reals,
    )


def prepare_tft(options: PreprocessOptions, protocol: str) -> PreparedData:
    seq_len, pred_len = options.seq_len, options.pred_len
    min_encoder = options.min_encoder_length or max(1, seq_len // 2)
    panel = resolve_panel(
        options.dataset,
        options.data,
        panel_roles(options),
        min_length=min_encoder + pred_len,
    )
    test_origins = options.test_origins
    if test_origins is None and is_stallion(panel.schema):
        test_origins = 1  # the single test horizon of the published Stallion numbers
    splits, preprocessing = prepare_panel(
        panel,
        max_encoder_length=seq_len,
        min_encoder_length=min_encoder,
        horizon=pred_len,
        protocol=protocol,
        normalizer=options.target_normalizer,
        test_origins=test_origins,
    )
    cutoffs = preprocessing.cutoffs
    log.info(
        "test window: %d origin(s) of %d steps (time_idx %d to %d), %s protocol; "
        "--test-origins changes it",
        cutoffs.test_origins,
        pred_len,
        cutoffs.origins("test", pred_len)[0],
        cutoffs.test,
        cutoffs.protocol,
    )
    return PreparedData(splits=splits, preprocessing=preprocessing.to_dict())


def prepare_from_options(options: PreprocessOptions) -> PreparedData:
    """The preprocess step's TFT path: a panel protocol, chosen or announced."""
    if options.split not in (None, *PROTOCOLS):
        raise ConfigError(f"--split {options.split} is for single series; use one of {PROTOCOLS}")
    how = "--split" if options.split else f"the default; choose with --split {'|'.join(PROTOCOLS)}"
    split = options.split or "holdout"
    log.info("split: %s (%s)", split, how)
    return prepare_tft(options, split)
