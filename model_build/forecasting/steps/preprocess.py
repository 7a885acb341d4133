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
from forecasting.data.scaling import StandardScaler
from forecasting.data.series import SeriesFrame
from forecasting.data.sources import resolve_dataset
from forecasting.data.time_features import n_time_features
from forecasting.steps.arguments import add_option, run_step

log = logging.getLogger("forecasting.preprocess")

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
    add_option(parser, "dataset", default="ETTh1", help="ETTh1 (downloaded and cached) or demo")
    add_option(parser, "data", default=default_data, help="a local CSV used as is")
    add_option(parser, "time-column", default="date", help="timestamp column of a user CSV")
    add_option(parser, "targets", default=None, help="comma-separated target columns")
    add_option(parser, "covariates", default="", help="comma-separated covariate columns")
    add_option(parser, "freq", default=None, help="pandas frequency; inferred when omitted")
    add_option(parser, "seq-len", type=int, default=96, help="context rows kept before val/test")
    add_option(parser, "pred-len", type=int, default=24, help="horizon, to check series length")
    add_option(parser, "split", default="auto", choices=["auto", "ett_hour", "ett_minute", "ratio"])
    default_out = str(PROCESSING_OUTPUT) if PROCESSING_OUTPUT.parent.exists() else "data"
    add_option(parser, "output-dir", default=default_out)
    return parser.parse_args(argv)


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def main(argv: Sequence[str] | None = None) -> PreparedData:
    args = parse_args(argv)
    data = args.data
    if data and Path(data).is_dir():  # a Processing input is a folder: take its single file
        files = sorted(p for p in Path(data).iterdir() if p.suffix in {".csv", ".parquet"})
        data = str(files[0]) if len(files) == 1 else data
    series = resolve_dataset(
        args.dataset,
        data,
        time_column=args.time_column,
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
