"""Training step: the SageMaker script-mode entry point, also run as is outside SageMaker.

One process, several processes on one host, or several hosts (under ``torchrun`` or under plain
SageMaker multi-host, where the cluster comes from ``SM_HOSTS``). Data comes from the channels
that preprocess wrote; checkpoints go to ``/opt/ml/checkpoints`` every epoch and a restarted job
resumes from the last one; only global rank 0 writes the model directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from forecasting import artifact, tracking
from forecasting.channels import PREPROCESSING_FILE, Channel, read_channel
from forecasting.distributed import (
    BACKENDS,
    ClusterSpec,
    choose_backend,
    export_rendezvous,
    gpus_on_host,
    num_cpus,
    resolve_cluster,
    smddp_available,
)
from forecasting.errors import ConfigError
from forecasting.families import FAMILIES, family
from forecasting.files import atomic_path
from forecasting.models.ensemble import Ensemble
from forecasting.models.family import Family, TrainOptions
from forecasting.models.training_setup import TrainingSetup
from forecasting.steps.arguments import (
    add_option,
    env_path,
    run_step,
    sagemaker_checkpoint_dir,
    str2bool,
)
from forecasting.steps.train_tracking import tracked_flags, tracking_logger
from forecasting.trainer import (
    EpochSummary,
    build_trainer,
    gather_rank_states,
    resumable_checkpoint,
    use_tensor_cores,
)

log = logging.getLogger("forecasting.train")

# Lightning 2.6 builds torch's deprecated pytree LeafSpec on every batch; torch 2.13 warns once
# per process, which is noise in every job log and not ours to fix.
warnings.filterwarnings(
    "ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning
)

FINISHED_MEMBER = "member.pt"  # a finished ensemble member: its best weights and summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return apply_family_defaults(build_parser().parse_args(argv))


def apply_family_defaults(args: argparse.Namespace) -> argparse.Namespace:
    if args.progress_bar is None:  # SageMaker sets TRAINING_JOB_NAME in its training containers
        args.progress_bar = "TRAINING_JOB_NAME" not in os.environ
    for name, value in family(args.model).fit_defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: a misspelt hyperparameter must fail, not set a flag it is a prefix of.
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    paths = p.add_argument_group("paths (SageMaker sets these through SM_* variables)")
    add_option(paths, "train", default=env_path("SM_CHANNEL_TRAIN", "data/train"))
    add_option(paths, "validation", default=env_path("SM_CHANNEL_VALIDATION", "data/validation"))
    add_option(paths, "model-dir", default=env_path("SM_MODEL_DIR", "model"))
    add_option(paths, "output-data-dir", default=env_path("SM_OUTPUT_DATA_DIR", "output"))
    add_option(paths, "checkpoint-dir", default=sagemaker_checkpoint_dir())

    add_option(p, "model", default="informer", choices=list(FAMILIES), help="model family")
    windows = p.add_argument_group("windows (preprocess sets and records them)")
    add_option(
        windows, "seq-len", type=int,
        help="input length; preprocess sets it (--seq-len there) and records it, so leave it out "
        "or give the same value",
    )  # fmt: skip
    add_option(windows, "pred-len", type=int, help="horizon; as --seq-len")
    for each in FAMILIES.values():
        add_family_flags(p, each)

    fit = p.add_argument_group(f"training (family defaults: {' / '.join(FAMILIES)})")
    add_option(fit, "dropout", type=float, default=0.1)
    add_option(
        fit, "batch-size", type=int,
        help=f"global batch, split across ranks {family_defaults('batch_size')}",
    )  # fmt: skip
    add_option(fit, "learning-rate", type=float, help=family_defaults("learning_rate"))
    add_option(
        fit, "gradient-clip", type=float,
        help=f"gradient norm clip {family_defaults('gradient_clip')}",
    )  # fmt: skip
    add_option(fit, "max-epochs", type=int, help=family_defaults("max_epochs"))
    add_option(
        fit, "patience", type=int,
        help=f"early-stopping patience in epochs {family_defaults('patience')}",
    )  # fmt: skip
    add_option(
        fit, "limit-train-batches", type=int,
        help=f"batches per epoch; 0 = all {family_defaults('limit_train_batches')}",
    )  # fmt: skip
    add_option(fit, "limit-val-batches", type=int, default=0, help="0 = every batch")
    add_option(fit, "precision", default="32", choices=["32", "bf16-mixed", "16-mixed"])
    add_option(fit, "seed", type=int, default=2021)
    add_option(
        fit, "ensemble-size", type=int, default=1,
        help="train this many models (seeds seed, seed+1, ...) and forecast their mean",
    )  # fmt: skip
    add_option(
        fit, "ema-decay", type=float,
        help="validate, checkpoint and keep an exponential moving average of the weights, "
        "updated every step with this decay (0 = off; 0.99 averages about the last 100 steps) "
        + family_defaults("ema_decay"),
    )  # fmt: skip
    add_option(
        fit, "progress-bar", type=str2bool,
        help="default: on, except in a SageMaker job (its log is CloudWatch, not a terminal)",
    )  # fmt: skip

    dist = p.add_argument_group("distribution")
    add_option(dist, "processes-per-host", type=int, default=0, help="0 = one per GPU, else 1")
    add_option(
        dist, "backend", default="auto", choices=BACKENDS,
        help="auto = nccl on GPU, gloo on CPU; smddp only on ml.p4d, ml.p4de and ml.p5",
    )  # fmt: skip
    add_option(dist, "threads-per-process", type=int, default=0, help="0 = cores / processes")
    return p


def add_family_flags(parser: argparse.ArgumentParser, each: Family) -> None:
    """The family's own flags, in a section of their own."""
    group = parser.add_argument_group(each.train_flags_title)
    for flag in each.train_flags:
        add_option(
            group, flag.name.replace("_", "-"), default=flag.default, help=flag.help,
            type=str2bool if flag.type is bool else flag.type, choices=flag.choices,
        )  # fmt: skip


def family_defaults(name: str) -> str:
    """``(informer 0.001 / tft 0.01)``: the help text's defaults, read from their one home."""
    values = (f"{name_} {each.fit_defaults[name]}" for name_, each in FAMILIES.items())
    return f"({' / '.join(values)})"


def take_windows(args: argparse.Namespace, train: Channel) -> None:
    """Set ``seq_len``/``pred_len`` from preprocessing.json; a different value given is refused.

    Preprocess cut the splits (and, for the TFT, built the windows) for one input length and
    one horizon, so a second setting here could only disagree with the data.
    """
    contract = train.recorded
    recorded = {"seq_len": contract.input_length, "pred_len": contract.horizon}
    for name, value in recorded.items():
        given = getattr(args, name)
        if given is not None and given != value:
            flag = f"--{name.replace('_', '-')}"
            raise ConfigError(
                f"{flag} {given} contradicts the {value} that preprocess recorded in "
                f"{train.path / PREPROCESSING_FILE}; the input length and horizon are set once, "
                f"at preprocess: leave {flag} out here, or preprocess again with {flag} {given}"
            )
        setattr(args, name, value)


def training_options(args: argparse.Namespace) -> TrainOptions:
    """What the family's training reads, built once the windows are known (checked again:
    some checks need them)."""
    return family(args.model).train_options(vars(args))


def check_channels(args: argparse.Namespace, train: Channel, validation: Channel) -> None:
    recorded = train.recorded.model
    if recorded != args.model:
        raise ConfigError(
            f"{args.train} was preprocessed for the {recorded} (preprocess --model {recorded}); "
            f"train with --model {recorded} or rerun preprocess with --model {args.model}"
        )
    fitted = family(args.model).fitted
    if fitted(train) != fitted(validation):
        raise ConfigError(f"{args.train} and {args.validation} come from different preprocess runs")


def check_config(args: argparse.Namespace, spec: ClusterSpec) -> None:
    """Refuse values that cannot train; the window lengths are checked once they are known."""
    if not 0.0 <= args.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {args.dropout}")
    for name in ("seq_len", "pred_len", "batch_size", "max_epochs", "ensemble_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(args, name)}")
    if args.batch_size < spec.world_size or args.batch_size % spec.world_size:
        raise ConfigError(
            f"batch size {args.batch_size} is the global batch and must be a multiple of the "
            f"world size {spec.world_size} ({spec.num_nodes} hosts x {spec.devices_per_node} "
            "processes)"
        )
    if not 0 <= args.ema_decay < 1:
        raise ConfigError(f"ema_decay must be at least 0 and below 1, got {args.ema_decay}")
    family(args.model).check_train_flags(vars(args))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus = gpus_on_host(os.environ, visible)
    has_cuda = gpus > 0
    # One process per GPU, else one per host (it uses all the host's cores).
    spec = resolve_cluster(os.environ, args.processes_per_host or max(1, gpus))
    check_config(args, spec)
    if has_cuda:
        use_tensor_cores()
    # Resolved before any data is read, so a backend that cannot run here fails at once, also
    # on one process (where it is not used).
    args.backend = choose_backend(
        args.backend, has_cuda, smddp_available(), os.environ.get("SM_CURRENT_INSTANCE_TYPE")
    )
    export_rendezvous(spec, os.environ)
    threads = args.threads_per_process or max(1, num_cpus() // spec.devices_per_node)
    torch.set_num_threads(threads)

    train, validation = read_channel(args.train), read_channel(args.validation)
    check_channels(args, train, validation)
    take_windows(args, train)
    options = training_options(args)
    pl.seed_everything(args.seed, workers=True, verbose=False)
    per_rank_batch = args.batch_size // spec.world_size
    setup = family(args.model).training_setup(
        options, train, validation, per_rank_batch, pin_memory=has_cuda
    )
    networks, members = [], []
    for member in range(args.ensemble_size):
        if member:  # member 0 is the setup's own module, seeded above
            pl.seed_everything(args.seed + member, workers=True, verbose=False)
            module, network = setup.build_member()
        else:
            module, network = setup.module, setup.network
        members.append(train_member(args, options, spec, has_cuda, setup, member, module, network))
        networks.append(network)
    summary = {
        **combine_members(members),
        "model": args.model,
        "ensemble_size": args.ensemble_size,
        "train_windows": setup.train_windows,
        "world_size": spec.world_size,
        "num_nodes": spec.num_nodes,
        "launcher": spec.launcher,
        "threads_per_process": threads,
        "precision": args.precision,
        **setup.summary,
    }
    if args.ensemble_size > 1:
        summary["members"] = members
    if getattr(args, "tracking", None) is not None:  # the evaluate step logs into this run
        summary["tracking"] = args.tracking.to_dict()
    if is_global_zero(spec):
        artifact.save(
            Path(args.model_dir),
            model=networks[0] if len(networks) == 1 else Ensemble(networks),
            model_config=replace(setup.model_config, ensemble_size=args.ensemble_size),
            preprocessing=train.preprocessing,
            training=summary,
        )
        output = Path(args.output_data_dir)
        output.mkdir(parents=True, exist_ok=True)
        (output / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        log.info("model written to %s", args.model_dir)
    if torch.distributed.is_initialized():
        # No rank may exit while another still talks to it: gloo aborts a process whose peer
        # has gone, and the other hosts should end only once rank 0 has saved the model.
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return summary


def is_global_zero(spec: ClusterSpec) -> bool:
    if torch.distributed.is_initialized():
        return torch.distributed.get_rank() == 0
    # No fit ran here (every ensemble member had finished), so Lightning started no other
    # process on this host: only torchrun's ranks or one launcher process per host exist.
    local = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))
    return spec.node_rank == 0 and local == 0


def member_checkpoint_dir(args: argparse.Namespace, member: int) -> Path:
    """A single model checkpoints where it always has; ensemble members in a folder each."""
    root = Path(args.checkpoint_dir)
    return root if args.ensemble_size == 1 else root / f"member-{member}"


def train_member(
    args: argparse.Namespace,
    options: TrainOptions,
    spec: ClusterSpec,
    has_cuda: bool,
    setup: TrainingSetup,
    member: int,
    module: pl.LightningModule,
    network: torch.nn.Module,
) -> dict[str, Any]:
    """Fit one model, resuming from its last checkpoint; on rank 0 ``network`` ends as its best
    epoch. An ensemble member that already finished is loaded from its folder instead."""
    directory = member_checkpoint_dir(args, member)
    finished = directory / FINISHED_MEMBER
    if args.ensemble_size > 1 and finished.is_file():
        saved = torch.load(finished, map_location="cpu", weights_only=True)
        if saved["hparams"] != setup.hparams:
            raise ConfigError(
                f"{finished} is from a run with other model settings; resume with the same "
                "settings or point --checkpoint-dir at an empty folder"
            )
        network.load_state_dict(saved["state_dict"])
        log.info("ensemble member %d already trained: loaded %s", member, finished)
        recorded: dict[str, Any] = saved["summary"]
        return recorded
    if args.ensemble_size > 1:
        log.info("training ensemble member %d of %d", member + 1, args.ensemble_size)
    tracked = tracking_logger(args, member)
    trainer = build_trainer(
        args, spec, has_cuda, len(setup.train_loader), directory, setup.gradient_clip,
        loggers=[tracked[0]] if tracked else [],
    )  # fmt: skip
    if tracked and trainer.is_global_zero:  # the other ranks' loggers never create a run
        if member == 0:
            tracked[0].log_hyperparams(tracked_flags(args, options))
        args.tracking = tracking.remember_run(*tracked, Path(args.checkpoint_dir))
    # Lightning sets Trainer.callbacks in its callback connector, undeclared on the class.
    callbacks: list[pl.Callback] = trainer.callbacks  # type: ignore[attr-defined]
    timing = next(c for c in callbacks if isinstance(c, EpochSummary))
    best_checkpoint = trainer.checkpoint_callback  # the first ModelCheckpoint: the best epoch
    if not isinstance(best_checkpoint, ModelCheckpoint):
        raise RuntimeError("build_trainer keeps the best epoch with a ModelCheckpoint")
    resume = resumable_checkpoint(directory, setup.hparams)
    if resume and trainer.is_global_zero:
        log.info("resuming from %s", resume)
    started = time.perf_counter()
    trainer.fit(module, setup.train_loader, setup.val_loader, ckpt_path=resume)
    fit_seconds = time.perf_counter() - started

    # The TFT's ranks also report the digest of the encoders they loaded: all must be equal.
    digest = {k: v for k, v in setup.summary.items() if k == "parameters_sha256"}
    summary = {
        "member": member,
        "seed": args.seed + member,
        "resumed_from": resume,
        "epochs_completed": trainer.current_epoch,
        "global_steps": trainer.global_step,
        "fit_seconds": round(fit_seconds, 3),
        "train_windows_per_second": [round(w, 2) for w in timing.windows_per_second],
        "best_checkpoint": best_checkpoint.best_model_path,
        "best_val_loss": float(best_checkpoint.best_model_score or float("nan")),
        "ranks": gather_rank_states(trainer, module, digest),
    }
    if trainer.is_global_zero:
        best = best_checkpoint.best_model_path
        if best:  # the artifact carries the best epoch, not the last
            state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
            module.load_state_dict(state)
        if args.ensemble_size > 1:
            record = {"state_dict": network.state_dict(), "hparams": setup.hparams}
            with atomic_path(finished) as partial:
                torch.save({**record, "summary": summary}, partial)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()  # the next member starts once this one is recorded
    return summary


def combine_members(members: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's training facts: a single model's own, or summed over an ensemble's members
    (its epochs, steps and time; its best validation loss is the members' mean)."""
    if len(members) == 1:
        return {k: v for k, v in members[0].items() if k not in ("member", "seed")}
    return {
        "resumed_from": next((m["resumed_from"] for m in members if m["resumed_from"]), None),
        "epochs_completed": sum(m["epochs_completed"] for m in members),
        "global_steps": sum(m["global_steps"] for m in members),
        "fit_seconds": round(sum(m["fit_seconds"] for m in members), 3),
        "train_windows_per_second": [w for m in members for w in m["train_windows_per_second"]],
        "best_checkpoint": members[-1]["best_checkpoint"],
        "best_val_loss": sum(m["best_val_loss"] for m in members) / len(members),
        "ranks": members[-1]["ranks"],
    }


if __name__ == "__main__":
    run_step(main)
