"""Local mode's cost of running jobs as SageMaker runs them: the definition interpreter, and a
training job started through SageMaker's training toolkits against the program started directly.

Both job variants run the same one-host, one-batch Informer training on the same preprocessed
demo data, alternating, each ``--repeats`` times after one warm-up of each:

* ``toolkit``: as local mode runs a host of a CPU instance type: the ``train`` program of
  ``sagemaker-training`` with ``sagemaker-pytorch-training`` as its framework module, on its own
  ``SAGEMAKER_BASE_DIR`` (config files, channels and unpacked code in place, the requirements
  file withheld as local mode withholds it);
* ``toolkit-torchrun``: the same with ``sagemaker_torch_distributed_enabled`` (GPU instance types,
  ``training.json``'s default): the toolkit starts the program under ``torchrun``;
* ``direct``: as the previous runner did: ``python entry_train.py --flags`` with the ``SM_*``
  variables set by local mode itself.

Measured per job: seconds from process start to the first epoch line (``epoch=0 ...``, printed
when the one-batch epoch ends) and to the process's end. The interpreter row times building the
definition, planning it and evaluating the arguments of the steps that read no other step.

    python benchmarks/local_mode_overhead.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import print_table, spread, write_result

VARIANTS = ("toolkit", "toolkit-torchrun", "direct")
TINY = {
    "model": "informer", "max_epochs": "1", "limit_train_batches": "1", "limit_val_batches": "1",
    "d_model": "16", "n_heads": "2", "d_ff": "32", "batch_size": "16", "progress_bar": "false",
    "label_len": "8",
}  # fmt: skip


def prepare(work: Path) -> tuple[Path, Path]:
    """The preprocessed demo data and the train step's code tarball, packed as the CodeBuild
    runner packs it."""
    from forecasting.pipeline.source import package_source
    from local_mode.runner import SOURCE_DIR

    data = work / "data"
    subprocess.run(
        [sys.executable, "-m", "forecasting.steps.preprocess", "--model", "informer",
         "--dataset", "demo", "--seq-len", "16", "--pred-len", "4", "--output-dir", str(data)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    archive = work / "sourcedir.tar.gz"
    archive.write_bytes(package_source(SOURCE_DIR, "Train")[0])
    return data, archive


def job_folder(work: Path, data: Path, archive: Path, variant: str, attempt: int) -> Path:
    """A fresh /opt/ml for one job: config files, channels, unpacked code."""
    from local_mode import files, hosts, jobs

    base = work / f"{variant}-{attempt}"
    request = {
        "AlgorithmSpecification": {"TrainingImage": "local", "TrainingInputMode": "File"},
        "HyperParameters": {
            "sagemaker_program": '"entry_train.py"',
            "sagemaker_submit_directory": '"s3://bucket/sourcedir.tar.gz"',
            **TINY,
            **({"sagemaker_torch_distributed_enabled": "true"} if "torchrun" in variant else {}),
        },
        "InputDataConfig": [
            {"ChannelName": c, "DataSource": {"S3DataSource": {"S3Uri": "x"}}}
            for c in ("train", "validation")
        ],
        "ResourceConfig": {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 1},
    }
    (host,) = hosts.host_names(1)
    for name, content in hosts.config_files(host, [host], request).items():
        files.atomic_write_json(base / "input/config" / name, content)
    for channel in ("train", "validation"):
        shutil.copytree(data / channel, base / "input/data" / channel)
    for folder in ("model", "output/data", "checkpoints"):
        (base / folder).mkdir(parents=True)
    files.extract_archive(archive, base / "code")
    (base / "code" / jobs.REQUIREMENTS).unlink(missing_ok=True)  # as local mode withholds it
    return base


def command(variant: str, base: Path) -> tuple[list[str], dict[str, str]]:
    threads = {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if variant.startswith("toolkit"):
        from local_mode import hosts

        environment = {
            "SAGEMAKER_BASE_DIR": str(base),
            "SAGEMAKER_TRAINING_MODULE": hosts.TRAINING_MODULE,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        return [sys.executable, "-m", "sagemaker_training.cli.train"], {**threads, **environment}
    flags = [part for name in sorted(TINY) for part in (f"--{name}", TINY[name])]
    environment = {
        "SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1", "SM_NUM_CPUS": "1",
        "SM_CHANNEL_TRAIN": str(base / "input/data/train"),
        "SM_CHANNEL_VALIDATION": str(base / "input/data/validation"),
        "SM_MODEL_DIR": str(base / "model"), "SM_OUTPUT_DATA_DIR": str(base / "output/data"),
    }  # fmt: skip
    program = [sys.executable, str(base / "code/entry_train.py"), *flags]
    return [*program, "--checkpoint_dir", str(base / "checkpoints")], {**threads, **environment}


def run_job(variant: str, base: Path) -> dict[str, float]:
    argv, environment = command(variant, base)
    started = time.perf_counter()
    first_epoch = None
    with subprocess.Popen(
        argv, cwd=base / "code", env={**os.environ, **environment},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            if first_epoch is None and line.startswith("epoch=0 "):
                first_epoch = time.perf_counter() - started
    if process.returncode or first_epoch is None:
        raise SystemExit(f"{variant} job failed (exit {process.returncode}) in {base}")
    return {"first_epoch": first_epoch, "end": time.perf_counter() - started}


def interpreter_seconds(repeats: int) -> list[float]:
    """Build the definition, plan it, evaluate what needs no step's outcome (no jobs run)."""
    from forecasting.pipeline.definition import build_definition
    from forecasting.pipeline.settings import PipelineSettings
    from local_mode import interpreter
    from local_mode.layout import Home
    from local_mode.runner import local_resources

    with tempfile.TemporaryDirectory() as tmp:
        resources = local_resources(Home(Path(tmp)))
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            definition = build_definition(PipelineSettings(), resources)
            plan = interpreter.plan(definition)
            values = interpreter.parameter_values(definition, {})
            evaluate = interpreter.Evaluator(definition, values, "id", {}, lambda *a: None)
            for step in plan:  # those that read no other step's properties (none ran here)
                if not interpreter.referenced_steps(step.definition["Arguments"]):
                    evaluate(step.definition["Arguments"], step.name)
            seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data, archive = prepare(work)
        timings: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
        for attempt in range(args.repeats + 1):  # attempt 0: the warm-up of each
            for variant in VARIANTS:
                timing = run_job(variant, job_folder(work, data, archive, variant, attempt))
                if attempt:
                    timings[variant].append(timing)
    results: dict[str, Any] = {}
    rows = []
    for variant, runs in timings.items():
        first = spread([r["first_epoch"] for r in runs])
        end = spread([r["end"] for r in runs])
        results[variant] = {"first_epoch_seconds": first, "job_seconds": end, "runs": runs}
        rows.append({"job": variant, "to first epoch s (median)": first["median"],
                     "min": first["min"], "max": first["max"],
                     "job s (median)": end["median"]})  # fmt: skip
    direct = results["direct"]["first_epoch_seconds"]["median"]
    overhead = results["toolkit"]["first_epoch_seconds"]["median"] - direct
    results["toolkit_overhead_seconds"] = overhead
    torchrun = results["toolkit-torchrun"]["first_epoch_seconds"]["median"] - direct
    results["toolkit_torchrun_overhead_seconds"] = torchrun
    results["interpreter_seconds"] = spread(interpreter_seconds(args.repeats))
    print_table(rows, list(rows[0]))
    print(f"\ntoolkit start-up overhead: {overhead:+.2f} s per job (median to first epoch)")
    print(f"toolkit + torchrun start-up overhead: {torchrun:+.2f} s per job")
    print(f"interpreter: {results['interpreter_seconds']['median'] * 1000:.0f} ms per run")
    write_result(
        "local_mode_overhead",
        {"setup": __doc__.split("\n\n")[1], "repeats": args.repeats, "results": results},
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
