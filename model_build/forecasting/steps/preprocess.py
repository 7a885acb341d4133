"""Preprocess step: load and validate the data, split it, fit the scaler once, write channels.

Runs as a SageMaker Processing job (input under ``/opt/ml/processing/input``, output under
``/opt/ml/processing/output``) or locally with the same flags.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from forecasting.channels import SPLITS, write_channel
from forecasting.errors import ConfigError
from forecasting.families import FAMILIES, family
from forecasting.models.family import PreparedData, PreprocessOptions
from forecasting.models.informer.preparation import SPLITS_OF_SERIES
from forecasting.models.tft.defaults import PANEL_ROLES, PROTOCOLS, TARGET_NORMALIZERS
from forecasting.steps.arguments import add_option, run_step, str2bool

log = logging.getLogger("forecasting.preprocess")

PROCESSING_INPUT = Path("/opt/ml/processing/input/data")
PROCESSING_OUTPUT = Path("/opt/ml/processing/output")


def write_prepared(prepared: PreparedData, output_dir: Path) -> None:
    for name in SPLITS:
        write_channel(output_dir / name, prepared.splits[name], prepared.preprocessing)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: a misspelt flag from a pipeline setting must fail, not match another.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    default_data = str(PROCESSING_INPUT) if PROCESSING_INPUT.exists() else None
    add_option(parser, "model", default="informer", choices=list(FAMILIES))
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
    add_option(
        parser, "seq-len", type=int,
        help=f"input (encoder) length, recorded for training {by_family('seq_len')}",
    )  # fmt: skip
    add_option(
        parser, "pred-len", type=int, help=f"horizon, recorded for training {by_family('pred_len')}"
    )
    add_option(
        parser,
        "split",
        choices=[*SPLITS_OF_SERIES, *PROTOCOLS],
        help="informer: ett (ETT's published borders; the default for ETTh1 and demo) or ratio "
        "(70/10/20; the default for --data files); tft: " + ", ".join(PROTOCOLS) + " (holdout)",
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
    return parser


def by_family(name: str) -> str:
    """``(informer 96, tft 24)``: each family's window default, for the help text."""
    return "(" + ", ".join(f"{n} {f.windows[name]}" for n, f in FAMILIES.items()) + ")"


def resolved_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments as the step uses them: a Processing input folder stands for its one file."""
    args = parse_args(argv)
    data = args.data
    if data and Path(data).is_dir():  # a Processing input is a folder: take its single file
        files = sorted(p for p in Path(data).iterdir() if p.suffix in {".csv", ".parquet"})
        args.data = str(files[0]) if len(files) == 1 else data
    for name, value in family(args.model).windows.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
        elif getattr(args, name) < 1:
            flag = name.replace("_", "-")
            raise ConfigError(f"--{flag} must be at least 1, got {getattr(args, name)}")
    return args


def comma_names(text: str | None) -> tuple[str, ...] | None:
    """A flag's comma-separated column names (None when empty)."""
    return tuple(n.strip() for n in (text or "").split(",") if n.strip()) or None


def preprocess_options(args: argparse.Namespace) -> PreprocessOptions:
    """The resolved flags as the families read them (they never see argparse)."""
    return PreprocessOptions(
        model=args.model,
        dataset=args.dataset,
        data=args.data,
        time_column=args.time_column,
        targets=comma_names(args.targets),
        covariates=comma_names(args.covariates) or (),
        freq=args.freq,
        seq_len=args.seq_len,
        pred_len=args.pred_len,
        split=args.split,
        group_columns=comma_names(args.group_columns) or (),
        **{role: comma_names(getattr(args, role)) or () for role in PANEL_ROLES},
        min_encoder_length=args.min_encoder_length,
        calendar_features=args.calendar_features,
        test_origins=args.test_origins,
        target_normalizer=args.target_normalizer,
    )


def main(argv: Sequence[str] | None = None) -> PreparedData:
    args = resolved_args(argv)
    prepared = family(args.model).prepare(preprocess_options(args))
    write_prepared(prepared, Path(args.output_dir))
    sizes = ", ".join(f"{k} {len(v)} rows" for k, v in prepared.splits.items())
    recorded = prepared.recorded
    log.info(
        "wrote %s to %s (%s); input length %d, horizon %d",
        sizes, args.output_dir, recorded.source, recorded.input_length, recorded.horizon,
    )  # fmt: skip
    return prepared


if __name__ == "__main__":
    run_step(main)
