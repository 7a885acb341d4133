"""The Lightning Trainer the train step fits with: its callbacks, checkpoints and DDP strategy,
and the per-rank facts the step reports."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.strategies import DDPStrategy

from forecasting.distributed import ClusterSpec
from forecasting.errors import ConfigError
from forecasting.models.moving_average import MovingAverage

LAST_CHECKPOINT = "last.ckpt"


class EpochSummary(Callback):
    """Times the training part of each epoch and prints one plain line per epoch on rank 0.

    The line is what the SageMaker metric definitions match, so CloudWatch shows loss curves.
    """

    def __init__(self, global_batch_size: int) -> None:
        self.global_batch_size = global_batch_size
        self.windows_per_second: list[float] = []
        self._started: float | None = None
        self._seconds = float("nan")

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._started is not None and not trainer.sanity_checking:
            self._training_finished(trainer)

    def _training_finished(self, trainer: pl.Trainer) -> None:
        self._seconds = time.perf_counter() - (self._started or 0.0)
        self._started = None
        windows = trainer.num_training_batches * self.global_batch_size
        self.windows_per_second.append(windows / self._seconds)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._started is not None:  # an epoch without validation
            self._training_finished(trainer)
        if not trainer.is_global_zero:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        parts = " ".join(f"{k}={v:.6f}" for k, v in sorted(metrics.items()))
        print(
            f"epoch={trainer.current_epoch} {parts} train_seconds={self._seconds:.2f}", flush=True
        )


def resumable_checkpoint(checkpoint_dir: Path, hparams: dict[str, Any]) -> str | None:
    """``last.ckpt`` if there is one and it was trained with the same architecture, else None.

    A checkpoint of another architecture would fail deep inside ``load_state_dict``; name the
    difference instead.
    """
    last = Path(checkpoint_dir) / LAST_CHECKPOINT
    if not last.is_file():
        return None
    saved = torch.load(last, map_location="cpu", weights_only=True).get("hyper_parameters", {})
    changed = {k: (saved.get(k), v) for k, v in hparams.items() if saved.get(k) != v}
    if changed:
        details = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in sorted(changed.items()))
        raise ConfigError(
            f"{last} is from a run with other model settings ({details}); resume with the same "
            "settings or point --checkpoint-dir at an empty folder"
        )
    return str(last)


def parameter_fingerprint(module: torch.nn.Module) -> list[float]:
    """Sum and sum of squares of all parameters: equal on every rank when DDP kept them in sync."""
    with torch.no_grad():
        flat = torch.cat([p.detach().double().flatten() for p in module.parameters()])
    return [float(flat.sum()), float((flat * flat).sum())]


def gather_rank_states(
    trainer: pl.Trainer, module: torch.nn.Module, extra: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each rank's parameter fingerprint, val_loss and shard size, for a consistency check."""
    loader = trainer.train_dataloader
    if loader is None:
        raise RuntimeError("rank states are gathered after fitting, once the loader exists")
    state = {
        **(extra or {}),
        "rank": trainer.global_rank,
        "param_fingerprint": parameter_fingerprint(module),
        "val_loss": float(trainer.callback_metrics.get("val_loss", float("nan"))),
        "train_windows_seen_per_epoch": len(loader.sampler),
    }
    if trainer.world_size == 1:
        return [state]
    gathered: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(gathered, state)
    return gathered


class CPUCheckpointIO(TorchCheckpointIO):
    """Checkpoints load onto the CPU first; Lightning then moves the weights and the optimizer
    state to each rank's device. Lightning's own loads every tensor onto the device it was saved
    from: under DDP that is rank 0's GPU, for every rank."""

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        # Lightning annotates map_location as a callable; torch.load, which gets it, also takes
        # a device name.
        return super().load_checkpoint(
            path,
            map_location="cpu",  # type: ignore[arg-type]
            weights_only=weights_only,
        )


class SumThenDivideDDPStrategy(DDPStrategy):
    """DDP whose mean reductions all-reduce a sum and divide by the world size.

    Lightning averages logged values (``sync_dist``) with ``ReduceOp.AVG`` on every backend but
    gloo, and smddp rejects that op; a sum is supported everywhere.
    """

    def reduce(self, tensor: Any, group: Any = None, reduce_op: Any = "mean") -> Any:
        is_mean = reduce_op == torch.distributed.ReduceOp.AVG or (
            isinstance(reduce_op, str) and reduce_op.lower() in ("mean", "avg")
        )
        if isinstance(tensor, torch.Tensor) and is_mean:
            return super().reduce(tensor, group, "sum") / self.world_size
        return super().reduce(tensor, group, reduce_op)


def build_trainer(
    args: argparse.Namespace,
    spec: ClusterSpec,
    has_cuda: bool,
    batches_per_epoch: int,
    checkpoint_dir: Path,
    gradient_clip: float | None = None,
    loggers: Sequence[Logger] = (),
) -> pl.Trainer:
    """``loggers``: more loggers beside the CSV log (MLflow's, when tracking is configured)."""
    best = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="best",
        monitor="val_loss",
        mode="min",
        save_top_k=1,
        every_n_epochs=1,
    )
    # Not save_last: Lightning 2.6 rewrites that only in epochs that improve val_loss, so a
    # resume would redo every epoch since the best one. Without a monitor it is every epoch.
    last = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename=Path(LAST_CHECKPOINT).stem,
        save_top_k=1,
        every_n_epochs=1,
        enable_version_counter=False,
    )
    strategy: Any = "auto"
    if spec.world_size > 1:
        backend = args.backend  # resolved by main
        if backend == "smddp":  # registers the backend with torch.distributed
            import smdistributed.dataparallel.torch.torch_smddp  # noqa: F401

            strategy = SumThenDivideDDPStrategy(process_group_backend=backend)
        else:
            strategy = DDPStrategy(process_group_backend=backend)
    callbacks: list[Callback] = [
        best,  # first: trainer.checkpoint_callback, whose best_model_path is reported
        last,
        EarlyStopping(monitor="val_loss", mode="min", patience=args.patience),
        EpochSummary(args.batch_size),
    ]
    if args.ema_decay:
        # Lightning's weight averaging: validation, both checkpoints' weights and the end of the
        # fit use the average; a resumed fit restores the average and the current weights alike.
        # An EMA updated every step, as EMAWeightAveraging's, but as one foreach lerp per dtype
        # (that one loops over the tensors in Python, which costs more than a small network's
        # step) and with its step counter on the host (no CUDA sync per step).
        callbacks.append(MovingAverage(args.ema_decay))
    return pl.Trainer(
        accelerator="gpu" if has_cuda else "cpu",
        devices=spec.devices_per_node,
        num_nodes=spec.num_nodes,
        strategy=strategy,
        precision=args.precision,
        max_epochs=args.max_epochs,
        limit_train_batches=args.limit_train_batches or None,
        gradient_clip_val=gradient_clip,
        limit_val_batches=args.limit_val_batches or None,
        callbacks=callbacks,
        plugins=[CPUCheckpointIO()],
        logger=[CSVLogger(args.output_data_dir, name="logs"), *loggers],
        enable_progress_bar=args.progress_bar,
        log_every_n_steps=max(1, min(50, batches_per_epoch)),
        deterministic=False,
        use_distributed_sampler=True,
    )


def use_tensor_cores() -> None:
    """fp32 matrix products in TF32 on Ampere and later GPUs (the A10G of ml.g5 included): the
    inputs' mantissas are rounded to 10 bits, accumulation stays fp32. torch's default,
    "highest", leaves the tensor cores idle at precision 32."""
    torch.set_float32_matmul_precision("high")
