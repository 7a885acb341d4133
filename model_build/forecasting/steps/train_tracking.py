"""MLflow tracking of a training job: its Lightning logger and the flags it records."""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import MLFlowLogger

from forecasting import tracking
from forecasting.models.family import TrainOptions


def tracking_logger(
    args: argparse.Namespace, member: int
) -> tuple[MLFlowLogger, tracking.Tracking] | None:
    """MLflow's logger when tracking is configured: one run per job, every ensemble member's
    metrics under its own prefix."""
    configured = tracking.configured()
    if configured is None:
        return None
    logger = tracking.training_logger(
        configured,
        Path(args.checkpoint_dir),
        run_name=os.environ.get("TRAINING_JOB_NAME") or f"train-{args.model}",
        prefix=f"member{member}" if args.ensemble_size > 1 else "",
    )
    return logger, configured


def tracked_flags(args: argparse.Namespace, options: TrainOptions) -> dict[str, Any]:
    """The step's flags, with the values the family's training read (such as the Informer's
    completed ``label_len``), as ``train.*`` parameters; where the job's files are is not what
    it trains, and a resumed job may see them elsewhere."""
    hidden = {"tracking", "train", "validation", "model_dir", "output_data_dir", "checkpoint_dir"}
    given = {**vars(args), **asdict(options)}
    flags = {k: v for k, v in given.items() if v is not None and k not in hidden}
    return {f"train.{k}": v for k, v in sorted(flags.items())}
