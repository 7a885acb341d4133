"""GPU smoke check of the default cloud training path (ml.g5.xlarge: one A10G), in one call.

    PYTHONPATH=model_build python benchmarks/gpu_smoke.py        # a CUDA torch; about 3-5 min
    PYTHONPATH=model_build python benchmarks/gpu_smoke.py --dry-run   # the same on the CPU, tiny

Needs a Python with a CUDA build of torch and model_build's requirements installed (no network:
the data are the built-in synthetic demo series and panel). Every check runs even when one
fails; the JSON records each outcome, the device, windows/s per precision beside the same run on
the CPU, the TFT's loss curves at 32 and bf16-mixed, and CUDA host syncs per training step.
Writes benchmarks/results/gpu_smoke.json (``--dry-run`` only to ``--output``); then run
``python benchmarks/report.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model_build"))

from machine import machine

from forecasting.channels import read_channel
from forecasting.distributed import resolve_cluster
from forecasting.families import FAMILIES
from forecasting.models.moving_average import HostCountedEMA
from forecasting.steps import preprocess, train

RESULT = Path(__file__).resolve().parent / "results" / "gpu_smoke.json"
INFORMER = ["--model", "informer", "--progress-bar", "false"]
TFT = ["--model", "tft", "--progress-bar", "false"]
SYNC_WARMUP, SYNC_STEPS = 5, 20  # steps 5 to 24 of a fit of at least 25


def run_paths(run: Path, channels: Path) -> list[str]:
    return [
        "--train", str(channels / "train"), "--validation", str(channels / "validation"),
        "--model-dir", str(run / "model"), "--output-data-dir", str(run / "output"),
        "--checkpoint-dir", str(run / "checkpoints"),
    ]  # fmt: skip


def subprocess_env(**extra: str) -> dict[str, str]:
    model_build = str(Path(__file__).resolve().parents[1] / "model_build")
    path = os.pathsep.join(p for p in (model_build, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def median_windows_per_second(summary: dict[str, Any]) -> float:
    rates = summary["train_windows_per_second"]
    rates = rates[1:] or rates  # the first epoch pays for CUDA start-up and autotuning
    return sorted(rates)[len(rates) // 2]


def loss_curve(run: Path) -> list[dict[str, float]]:
    """Per-epoch train_loss and val_loss from the CSV logger."""
    (metrics,) = (run / "output").rglob("metrics.csv")
    epochs: dict[int, dict[str, float]] = {}
    for row in csv.DictReader(metrics.open()):
        epoch = epochs.setdefault(int(row["epoch"]), {})
        for key in ("train_loss", "val_loss"):
            if row.get(key):
                epoch[key] = float(row[key])
    return [epochs[e] for e in sorted(epochs)]


class SyncCounter(pl.Callback):
    """CUDA host syncs per training step (hooks and callbacks of the step included), counted
    with torch's sync debug mode after a warm-up."""

    def __init__(self) -> None:
        self.per_step: list[int] = []
        self._caught: Any = None
        self._records: list[warnings.WarningMessage] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if SYNC_WARMUP <= trainer.global_step < SYNC_WARMUP + SYNC_STEPS:
            self._caught = warnings.catch_warnings(record=True)
            self._records = self._caught.__enter__()
            warnings.simplefilter("always")
            if torch.cuda.is_available():  # a dry run on the CPU counts nothing
                torch.cuda.set_sync_debug_mode("warn")

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self._caught is not None:
            if torch.cuda.is_available():
                torch.cuda.set_sync_debug_mode("default")
            self._caught.__exit__(None, None, None)
            self.per_step.append(sum("synchroniz" in str(w.message) for w in self._records))
            self._caught = None


class SmokeRun:
    def __init__(self, work: Path, dry_run: bool) -> None:
        self.work, self.dry_run = work, dry_run
        self.epochs = (
            ["--max-epochs", "1", "--limit-train-batches", "3", "--limit-val-batches", "2"]
            if dry_run
            else []
        )
        self.result: dict[str, Any] = {"machine": machine(), "checks": [], "dry_run": dry_run}

    def check(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            detail, ok = fn(), True
        except Exception as err:  # every check runs; the JSON says which failed and why
            detail, ok = f"{type(err).__name__}: {err}"[:500], False
            traceback.print_exc()
        seconds = round(time.perf_counter() - started, 1)
        self.result["checks"].append({"check": name, "ok": ok, "detail": detail, "s": seconds})
        print(f"{'ok  ' if ok else 'FAIL'} {name} ({seconds} s): {detail}", flush=True)
        return detail if ok else None

    def train(self, name: str, family: list[str], channels: Path, *flags: str) -> dict[str, Any]:
        run = self.work / name
        return train.main([*family, *run_paths(run, channels), *self.epochs, *flags])

    def informer_precision(self, channels: Path, precision: str) -> dict[str, Any]:
        summary = self.train(f"informer-{precision}", INFORMER, channels, "--max-epochs", "3",
                             "--precision", precision)  # fmt: skip
        if not summary["best_val_loss"] < float("inf"):
            raise AssertionError(f"validation loss {summary['best_val_loss']}")
        return {
            "windows_per_s": round(median_windows_per_second(summary), 1),
            "best_val_loss": round(summary["best_val_loss"], 5),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        }

    def resume(self, channels: Path) -> dict[str, Any]:
        self.train("resume", INFORMER, channels, "--max-epochs", "1")
        again = self.train("resume", INFORMER, channels, "--max-epochs", "2")
        if not again["resumed_from"] or again["epochs_completed"] != 2:
            raise AssertionError(
                f"resumed_from {again['resumed_from']}, {again['epochs_completed']}"
            )
        return {"resumed_from": Path(again["resumed_from"]).name, "epochs": 2}

    def torchrun(self, channels: Path) -> dict[str, Any]:
        run = self.work / "torchrun"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", "1", "-m", "forecasting.steps.train", *INFORMER,
                   *run_paths(run, channels), "--max-epochs", "1", *self.epochs]  # fmt: skip
        subprocess.run(command, env=subprocess_env(), check=True, timeout=300)
        summary = json.loads((run / "output" / "training_summary.json").read_text())
        if summary["launcher"] != "torchrun":
            raise AssertionError(f"launcher {summary['launcher']}")
        return {"launcher": "torchrun", "world_size": summary["world_size"]}

    def evaluate_without_cuda(self, channels: Path) -> dict[str, Any]:
        """The GPU-trained artifact evaluated where no GPU is visible (the processing job)."""
        run = self.work / "informer-32"
        command = [sys.executable, "-m", "forecasting.steps.evaluate", "--model-dir",
                   str(run / "model"), "--test", str(channels / "test"), "--output-dir",
                   str(run / "evaluation")]  # fmt: skip
        subprocess.run(command, env=subprocess_env(CUDA_VISIBLE_DEVICES=""), check=True,
                       timeout=300)  # fmt: skip
        return {"files": sorted(p.name for p in (run / "evaluation").iterdir())}

    def cpu_baseline(self, channels: Path) -> dict[str, Any]:
        """The Informer at 32 on this machine's CPU, same configuration, for the ratio."""
        run = self.work / "informer-cpu"
        command = [sys.executable, "-m", "forecasting.steps.train", *INFORMER,
                   *run_paths(run, channels), "--max-epochs", "2", "--limit-train-batches",
                   "3" if self.dry_run else "100",
                   "--limit-val-batches", "2" if self.dry_run else "0"]  # fmt: skip
        subprocess.run(command, env=subprocess_env(CUDA_VISIBLE_DEVICES=""), check=True,
                       timeout=300)  # fmt: skip
        summary = json.loads((run / "output" / "training_summary.json").read_text())
        return {"windows_per_s": round(median_windows_per_second(summary), 1)}

    def tft_curves(self, channels: Path) -> dict[str, Any]:
        """The TFT at 32 and bf16-mixed from one seed: the cuDNN LSTM runs in reduced precision
        without a loss scaler under bf16 autocast, so the curves are compared before bf16 is
        offered for the TFT."""
        curves = {}
        for precision in ("32", "bf16-mixed"):
            self.train(f"tft-{precision}", TFT, channels, "--max-epochs", "8",
                       "--precision", precision)  # fmt: skip
            curves[precision] = loss_curve(self.work / f"tft-{precision}")
        final = {p: c[-1].get("val_loss", float("nan")) for p, c in curves.items()}
        return {"curves": curves, "final_val_loss": final}

    def syncs_per_step(
        self, channels: Path, family: list[str], name: str, *flags: str
    ) -> dict[str, Any]:
        """``flags`` end the fit with an epoch after the counted steps, so it validates."""
        quick = ["--limit-val-batches", "2"] if self.dry_run else []
        args = train.parse_args([*family, *run_paths(self.work / name, channels), *quick, *flags])
        spec = resolve_cluster({}, 1)
        train_channel, val_channel = read_channel(args.train), read_channel(args.validation)
        setup = FAMILIES[args.model].training_setup(
            train.training_options(args),
            train_channel,
            val_channel,
            args.batch_size,
            pin_memory=True,
        )
        trainer = train.build_trainer(
            args, spec, torch.cuda.is_available(), len(setup.train_loader),
            self.work / name / "checkpoints", setup.gradient_clip,
        )  # fmt: skip
        counter = SyncCounter()
        trainer.callbacks.append(counter)
        trainer.fit(setup.module, setup.train_loader, setup.val_loader)
        return {"per_step": counter.per_step, "ema": bool(args.ema_decay)}

    def ema_syncs(self) -> dict[str, Any]:
        """One EMA update on the GPU: ours under sync debug mode "error", torch's counted."""
        model = torch.nn.Sequential(*[torch.nn.Linear(64, 64) for _ in range(40)]).cuda()
        ours = HostCountedEMA(model, 0.99)
        theirs = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.99), use_buffers=True
        )
        for average in (ours, theirs):
            average.update_parameters(model)
        torch.cuda.set_sync_debug_mode("error")
        try:
            ours.update_parameters(model)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            theirs.update_parameters(model)
            torch.cuda.set_sync_debug_mode("default")
        return {"ours": 0, "torch_averaged_model": len(caught)}

    def run(self) -> dict[str, Any]:
        informer = self.work / "channels-informer"
        tft = self.work / "channels-tft"
        preprocess.main(["--dataset", "demo", "--output-dir", str(informer)])
        preprocess.main(["--model", "tft", "--dataset", "demo", "--output-dir", str(tft)])
        rates = {}
        for precision in ("32", "bf16-mixed", "16-mixed"):
            rates[precision] = self.check(
                f"informer {precision}", lambda p=precision: self.informer_precision(informer, p)
            )
        self.result["informer"] = rates
        self.result["informer_cpu"] = self.check(
            "informer 32 on the CPU", lambda: self.cpu_baseline(informer)
        )
        self.check("resume", lambda: self.resume(informer))
        self.check("torchrun --standalone --nproc-per-node 1", lambda: self.torchrun(informer))
        self.check("evaluate with CUDA hidden", lambda: self.evaluate_without_cuda(informer))
        self.result["tft"] = self.check("tft 32 and bf16-mixed", lambda: self.tft_curves(tft))
        informer_steps = ["--max-epochs", "1", "--limit-train-batches", "25"]
        tft_steps = ["--max-epochs", "7"]  # 4 steps an epoch on the demo panel
        self.result["syncs"] = {
            "informer": self.check(
                "host syncs per step, informer (EMA on)",
                lambda: self.syncs_per_step(informer, INFORMER, "sync-i", *informer_steps),
            ),
            "tft": self.check(
                "host syncs per step, tft",
                lambda: self.syncs_per_step(tft, TFT, "sync-t", *tft_steps),
            ),
        }
        if not self.dry_run:
            self.result["syncs"]["ema_update"] = self.check(
                "host syncs of one EMA update", self.ema_syncs
            )
        return self.result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="on the CPU, tiny")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument(
        "--output", type=Path, help=f"the JSON (default: {RESULT.name} in results/)"
    )
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("no CUDA device visible: run on a GPU machine, or pass --dry-run")
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    result = SmokeRun(work, args.dry_run).run()
    failed = [c["check"] for c in result["checks"] if not c["ok"]]
    output = args.output or (None if args.dry_run else RESULT)
    if output:
        output.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {output}")
    print(f"{len(result['checks']) - len(failed)} of {len(result['checks'])} checks passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
