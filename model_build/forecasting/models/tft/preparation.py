"""The TFT's preprocessing: a panel of series, its column roles, split into train, validation
and test windows with the encoders and normalizer fitted on the training rows."""

from __future__ import annotations

import argparse
import logging

from forecasting.data.panel_roles import PanelRoles
from forecasting.data.sources import resolve_panel
from forecasting.data.stallion import is_stallion
from forecasting.errors import ConfigError
from forecasting.models.family import PreparedData, comma_names
from forecasting.models.tft.dataset import prepare_panel
from forecasting.models.tft.defaults import PANEL_ROLES, PROTOCOLS

log = logging.getLogger("forecasting.preprocess")


def panel_roles(args: argparse.Namespace) -> PanelRoles:
    targets = comma_names(args.targets) or []
    if len(targets) > 1:
        raise ConfigError(f"--model tft takes one target column, got --targets {args.targets!r}")
    return PanelRoles(
        time_column=args.time_column,
        group_columns=tuple(comma_names(args.group_columns) or ()),
        target=targets[0] if targets else None,
        freq=args.freq,
        calendar=args.calendar_features,
        **{role: tuple(comma_names(getattr(args, role)) or ()) for role in PANEL_ROLES},
    )


def prepare_tft(args: argparse.Namespace) -> PreparedData:
    seq_len, pred_len = args.seq_len, args.pred_len
    min_encoder = args.min_encoder_length or max(1, seq_len // 2)
    panel = resolve_panel(
        args.dataset,
        args.data,
        panel_roles(args),
        min_length=min_encoder + pred_len,
    )
    test_origins = args.test_origins
    if test_origins is None and is_stallion(panel.schema):
        test_origins = 1  # the single test horizon of the published Stallion numbers
    splits, preprocessing = prepare_panel(
        panel,
        max_encoder_length=seq_len,
        min_encoder_length=min_encoder,
        horizon=pred_len,
        protocol=args.split,
        normalizer=args.target_normalizer,
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


def prepare_from_arguments(args: argparse.Namespace) -> PreparedData:
    """The preprocess step's TFT path: a panel protocol, chosen or announced."""
    if args.split not in (None, *PROTOCOLS):
        raise ConfigError(f"--split {args.split} is for single series; use one of {PROTOCOLS}")
    how = "--split" if args.split else f"the default; choose with --split {'|'.join(PROTOCOLS)}"
    args.split = args.split or "holdout"
    log.info("split: %s (%s)", args.split, how)
    return prepare_tft(args)
