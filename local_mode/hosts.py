"""Simulated SageMaker training hosts: one real process per host, each told only what SageMaker
tells a host.

Each process gets ``SM_HOSTS`` (a JSON list), ``SM_CURRENT_HOST``, the channel and model paths
and a share of the cores, and runs the training entry point as the toolkit would. SageMaker
hosts resolve each other's names (``algo-1``) through DNS; on one machine they cannot, so the
first host's address is given as ``MASTER_ADDR=127.0.0.1``, which the training code's cluster
resolution already honours (see ``forecasting.distributed.resolve_cluster``).

Rank 0's output goes to the terminal (progress bars and per-epoch lines); the other hosts write
to log files in the run folder. If one host fails, the others are stopped, since they would
otherwise wait for it forever.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 10.0
Host = tuple[str, subprocess.Popen[bytes], Path | None]  # name, process, log file


@dataclass(frozen=True)
class TrainingPaths:
    train: Path
    validation: Path
    model_dir: Path
    output_data_dir: Path


def host_names(count: int) -> list[str]:
    return [f"algo-{i}" for i in range(1, count + 1)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def visible_gpus(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The CUDA devices this process may use, as ``CUDA_VISIBLE_DEVICES`` names them."""
    import torch  # here, not at import: only the train step needs it

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    listed = [d.strip() for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if "CUDA_VISIBLE_DEVICES" in environ else [str(i) for i in range(count)]


def gpus_per_host(host_count: int, gpus: Sequence[str]) -> list[list[str]]:
    """Each simulated host's own GPUs: an equal share when there is at least one per host, else
    none (the CPU). Two hosts may not share a GPU: NCCL refuses two ranks on one device."""
    share = len(gpus) // host_count
    return [list(gpus[i * share : (i + 1) * share]) for i in range(host_count)]


def host_environment(
    host: str,
    hosts: Sequence[str],
    paths: TrainingPaths,
    *,
    cpus: int,
    master_port: int,
    hyperparameters: Mapping[str, str],
    gpus: Sequence[str] = (),
) -> dict[str, str]:
    """The variables a SageMaker training container sets for one host; ``gpus`` are the devices
    it owns (none: a CPU instance, and the machine's GPUs are hidden from it)."""
    threads = str(max(1, cpus // len(hosts)))
    return {
        "SM_HOSTS": json.dumps(list(hosts)),
        "SM_CURRENT_HOST": host,
        "SM_CHANNELS": json.dumps(["train", "validation"]),
        "SM_CHANNEL_TRAIN": str(paths.train),
        "SM_CHANNEL_VALIDATION": str(paths.validation),
        "SM_MODEL_DIR": str(paths.model_dir),
        "SM_OUTPUT_DATA_DIR": str(paths.output_data_dir),
        "SM_HPS": json.dumps(dict(hyperparameters), sort_keys=True),
        "SM_NUM_CPUS": threads,  # this host's share of the machine
        "SM_NUM_GPUS": str(len(gpus)),
        "CUDA_VISIBLE_DEVICES": ",".join(gpus),
        "OMP_NUM_THREADS": threads,
        "MASTER_ADDR": LOOPBACK,  # what algo-1 resolves to on this machine
        "MASTER_PORT": str(master_port),
    }


def run_hosts(
    command: Sequence[str],
    environments: Sequence[Mapping[str, str]],
    *,
    cwd: Path,
    log_dir: Path,
) -> tuple[int, str | None]:
    """Start every host, wait for all; return (exit code, failing host's log or None).

    Host 1 inherits the terminal; the others log to ``log_dir/<host>.log``.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: list[Host] = []
    logs = []
    try:
        for number, extra in enumerate(environments):
            host = extra["SM_CURRENT_HOST"]
            log = None if number == 0 else log_dir / f"train-{host}.log"
            handle = log.open("wb") if log else None
            logs.append(handle)
            process = subprocess.Popen(
                list(command),
                cwd=cwd,
                env={**os.environ, **extra},
                stdout=handle,
                stderr=subprocess.STDOUT if handle else None,
            )
            processes.append((host, process, log))
        return _wait(processes)
    except BaseException:
        _stop([p for _, p, _ in processes])
        raise
    finally:
        for handle in logs:
            if handle:
                handle.close()


def _wait(
    processes: list[tuple[str, subprocess.Popen[bytes], Path | None]],
) -> tuple[int, str | None]:
    while True:
        codes = [(host, p.poll(), log) for host, p, log in processes]
        failed = [(host, code, log) for host, code, log in codes if code not in (None, 0)]
        if failed:
            host, code, log = failed[0]
            _stop([p for _, p, _ in processes])
            where = f"{host} (log: {log})" if log else f"{host} (output above)"
            return int(code or 1), where
        if all(code == 0 for _, code, _ in codes):
            return 0, None
        time.sleep(0.2)


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def python_module(module: str) -> list[str]:
    return [sys.executable, "-m", module]
