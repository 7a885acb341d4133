"""Preprocess step: load and validate the data, split it, fit the scaler once, write channels.

Runs as a SageMaker Processing job (input under ``/opt/ml/processing/input``, output under
``/opt/ml/processing/output``) or locally with the same flags.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.channels import SPLITS, write_channel
from forecasting.data.ett import split_bounds
from forecasting.data.panel import PanelRoles, is_stallion
from forecasting.data.scaling import StandardScaler
from forecasting.data.series import SeriesFrame
from forecasting.data.sources import resolve_dataset, resolve_panel
from forecasting.data.time_features import n_time_features
from forecasting.errors import ConfigError
from forecasting.models.tft.dataset import PROTOCOLS, TARGET_NORMALIZERS, Cutoffs, prepare_panel
from forecasting.steps.arguments import add_option, run_step, str2bool

log = logging.getLogger("forecasting.preprocess")

PANEL_ROLES = (
    "static_categoricals",
    "static_reals",
    "known_categoricals",
    "known_reals",
    "unknown_categoricals",
    "unknown_reals",
)
PROCESSING_INPUT = Path("/opt/ml/processing/input/data")
PROCESSING_OUTPUT = Path("/opt/ml/processing/output")


@dataclass(frozen=True)
class PreparedData:
    splits: dict[str, pd.DataFrame]
    preprocessing: dict[str, Any]


def split_kind(series: SeriesFrame, requested: str) -> str:
    """ETT files and the ETT-shaped demo use the published borders; other data 70/10/20."""
    if requested != "auto":
        return requested
    name = Path(series.source).name.upper()
    if series.synthetic or name.startswith("ETTH"):
        return "ett_hour"
    return "ett_minute" if name.startswith("ETTM") else "ratio"


def prepare(
    series: SeriesFrame, seq_len: int, pred_len: int = 1, split: str = "auto"
) -> PreparedData:
    """Split into train/validation/test and fit the scaler on the training rows only."""
    kind = split_kind(series, split)
    borders = split_bounds(len(series.frame), seq_len, kind=kind, pred_len=pred_len)
    bounds = {"train": borders["train"], "validation": borders["val"], "test": borders["test"]}
    columns = [*series.targets, *series.covariates]
    splits = {
        name: series.frame.iloc[start:stop][columns] for name, (start, stop) in bounds.items()
    }
    scaler = StandardScaler.fit(splits["train"], columns)
    preprocessing = {
        "source": str(series.source),
        "synthetic": series.synthetic,
        "time_column": series.frame.index.name,
        "freq": series.freq,
        "columns": columns,
        "targets": list(series.targets),
        "covariates": list(series.covariates),
        "scaler": scaler.to_dict(),
        "split": kind,
        "bounds": {name: list(b) for name, b in bounds.items()},
        "context_length": seq_len,
        "n_time_features": n_time_features(series.freq),
    }
    return PreparedData(splits=splits, preprocessing=preprocessing)


def write_prepared(prepared: PreparedData, output_dir: Path) -> None:
    for name in SPLITS:
        write_channel(output_dir / name, prepared.splits[name], prepared.preprocessing)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = str(PROCESSING_INPUT) if PROCESSING_INPUT.exists() else None
    add_option(parser, "model", default="informer", choices=["informer", "tft"])
    add_option(
        parser, "dataset", help="informer: ETTh1 (default) or demo; tft: stallion (default) or demo"
    )
    add_option(parser, "data", default=default_data, help="a local CSV (or Parquet) used as is")
    add_option(
        parser,
        "time-column",
        help="timestamp column of a user file (informer: date; tft: inferred when omitted)",
    )
    add_option(parser, "targets", default=None, help="comma-separated target columns (tft: one)")
    add_option(parser, "covariates", default="", help="informer: comma-separated covariates")
    add_option(parser, "freq", default=None, help="pandas frequency; inferred when omitted")
    add_option(parser, "seq-len", type=int, help="encoder length (informer 96, tft 24)")
    add_option(parser, "pred-len", type=int, help="horizon (informer 24, tft 6)")
    add_option(
        parser,
        "split",
        default="auto",
        choices=["auto", "ett_hour", "ett_minute", "ratio", *PROTOCOLS],
        help="auto: ETT borders for ETT files, else 70/10/20; panels: holdout",
    )
    panel = parser.add_argument_group(
        "panel column roles for --model tft with --data (comma lists; roles left out are "
        "inferred and announced: series ids = the label columns, target = the first numeric "
        "column, other numeric columns = unknown reals when no covariate role is given)"
    )
    add_option(panel, "group-columns", help="series id column(s)")
    for role in PANEL_ROLES:
        add_option(panel, role.replace("_", "-"), default="")
    add_option(panel, "min-encoder-length", type=int, help="shortest encoder (seq-len / 2)")
    add_option(
        panel,
        "calendar-features",
        type=str2bool,
        default=True,
        help="known reals from the time column for the frequency (hour of day, day of week...)",
    )
    add_option(
        parser,
        "test-origins",
        type=int,
        help="tft: horizons in the test window, one forecast per series from each (default: as "
        "many as fit in the last tenth of the time range, 1 to 20; Stallion: 1)",
    )
    add_option(
        parser,
        "target-normalizer",
        default="encoder",
        choices=list(TARGET_NORMALIZERS),
        help="tft: scale each window by its encoder (default) or each series by its training "
        "mean (group, the tutorial's)",
    )
    default_out = str(PROCESSING_OUTPUT) if PROCESSING_OUTPUT.parent.exists() else "data"
    add_option(parser, "output-dir", default=default_out)
    return parser.parse_args(argv)


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def panel_roles(args: argparse.Namespace) -> PanelRoles:
    targets = _names(args.targets) or []
    if len(targets) > 1:
        raise ConfigError(f"--model tft takes one target column, got --targets {args.targets!r}")
    return PanelRoles(
        time_column=args.time_column,
        group_columns=tuple(_names(args.group_columns) or ()),
        target=targets[0] if targets else None,
        freq=args.freq,
        calendar=args.calendar_features,
        **{role: tuple(_names(getattr(args, role)) or ()) for role in PANEL_ROLES},
    )


def prepare_tft(args: argparse.Namespace) -> PreparedData:
    seq_len, pred_len = args.seq_len or 24, args.pred_len or 6
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
        protocol="holdout" if args.split == "auto" else args.split,
        normalizer=args.target_normalizer,
        test_origins=test_origins,
    )
    cutoffs = Cutoffs(**preprocessing["cutoffs"])
    log.info(
        "test window: %d origin(s) of %d steps (time_idx %d to %d), %s protocol; "
        "--test-origins changes it",
        cutoffs.test_origins,
        pred_len,
        cutoffs.origins("test", pred_len)[0],
        cutoffs.test,
        cutoffs.protocol,
    )
    return PreparedData(splits=splits, preprocessing=preprocessing)


def main(argv: Sequence[str] | None = None) -> PreparedData:
    args = parse_args(argv)
    data = args.data
    if data and Path(data).is_dir():  # a Processing input is a folder: take its single file
        files = sorted(p for p in Path(data).iterdir() if p.suffix in {".csv", ".parquet"})
        data = args.data = str(files[0]) if len(files) == 1 else data
    if args.model == "tft":
        if args.split not in ("auto", *PROTOCOLS):
            raise ConfigError(f"--split {args.split} is for single series; use one of {PROTOCOLS}")
        prepared = prepare_tft(args)
        write_prepared(prepared, Path(args.output_dir))
        log.info("wrote train/validation/test panels to %s", args.output_dir)
        return prepared
    if args.split in PROTOCOLS:
        raise ConfigError(f"--split {args.split} is for panels (--model tft)")
    if args.test_origins is not None:
        raise ConfigError("--test-origins is for panels (--model tft)")
    if not args.calendar_features:
        raise ConfigError("--calendar-features is for panels; the Informer always has them")
    args.seq_len, args.pred_len = args.seq_len or 96, args.pred_len or 24
    series = resolve_dataset(
        args.dataset or "ETTh1",
        data,
        time_column=args.time_column or "date",
        targets=_names(args.targets),
        covariates=_names(args.covariates) or (),
        freq=args.freq,
        encoder_length=args.seq_len,
        horizon=args.pred_len,
    )
    prepared = prepare(series, seq_len=args.seq_len, pred_len=args.pred_len, split=args.split)
    write_prepared(prepared, Path(args.output_dir))
    sizes = ", ".join(f"{k} {len(v)} rows" for k, v in prepared.splits.items())
    log.info("wrote %s to %s (%s)", sizes, args.output_dir, series.source)
    return prepared


if __name__ == "__main__":
    run_step(main)
