"""Argument handling shared by the step entry points (the SageMaker script-mode contract).

SageMaker passes every hyperparameter as a string, ``--name value``, with the name exactly as
given in the job definition, and says where inputs and outputs live through ``SM_*`` variables.
Outside SageMaker the same flags work and the paths fall back to local folders.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from forecasting.errors import ConfigError, ForecastingError

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def str2bool(value: str | bool) -> bool:
    """Parse a boolean as people write it (``bool("false")`` is True: the seed's bug)."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def add_option(parser: argparse._ActionsContainer, name: str, **kwargs: Any) -> None:
    """Register ``--kebab-case`` and its ``--snake_case`` twin: hyperparameter dicts use both.

    ``parser`` is a parser or one of its argument groups (argparse's common base class).
    """
    flags = [f"--{name}"]
    if "-" in name:
        flags.append(f"--{name.replace('-', '_')}")
    parser.add_argument(*flags, **kwargs)


def env_path(variable: str, local_default: str) -> str:
    """An ``SM_*`` path when SageMaker set it, else a local default (relative to the cwd)."""
    return os.environ.get(variable, local_default)


def sagemaker_checkpoint_dir() -> str:
    """SageMaker syncs ``/opt/ml/checkpoints`` with the job's checkpoint S3 URI. The training
    toolkit's ``SAGEMAKER_BASE_DIR`` says where ``/opt/ml`` is (local mode gives each simulated
    host its own)."""
    base = os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")
    return os.path.join(base, "checkpoints") if os.path.isdir(base) else "checkpoints"


def run_step(
    main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None
) -> None:
    """Run a step: user mistakes end in one clear line and exit code 2; bugs keep a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        main(argv)
    except ForecastingError as err:
        kind = "configuration error" if isinstance(err, ConfigError) else "error"
        print(f"{kind}: {err}", file=sys.stderr)
        raise SystemExit(2) from None
