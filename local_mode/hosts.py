"""Simulated SageMaker training hosts: one real process per host, each told only what SageMaker
tells a host.

Each process gets ``SM_HOSTS`` (a JSON list), ``SM_CURRENT_HOST``, the channel and model paths
and a share of the cores, and runs the training entry point as the toolkit would. SageMaker
hosts resolve each other's names (``algo-1``) through DNS; on one machine they cannot, so the
first host's address is given as ``MASTER_ADDR=127.0.0.1``, which the training code's cluster
resolution already honours (see ``forecasting.distributed.resolve_cluster``).

Rank 0's output goes to the terminal (progress bars and per-epoch lines); the other hosts write
to log files in the run folder. If one host fails, the others are stopped, since they would
otherwise wait for it forever. A host dies with the process that started it, even a killed
one (Linux: the parent-death signal), and holds the run's lock while it lives.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_GRACE_SECONDS = 10.0
Host = tuple[str, subprocess.Popen[bytes], Path | None]  # name, process, log file


# The toolkit's own hyperparameters (``sagemaker_training.params``) and what local mode does with
# each: the program and its code are run; the rest only tune the toolkit's logging, region or
# launcher (one process per host here; torchrun per GPU is the cloud's, see host_environment).
TOOLKIT_HYPERPARAMETERS = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_torch_distributed_enabled",
)


@dataclass(frozen=True)
class TrainingPaths:
    channels: Mapping[str, Path]  # channel name → its folder (the request's InputDataConfig)
    model_dir: Path
    output_data_dir: Path


def decode(value: str) -> Any:
    """A hyperparameter as the training toolkit reads it: JSON where it parses, else the text."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def split_hyperparameters(
    hyperparameters: Mapping[str, Any], step: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the toolkit's ``sagemaker_*`` values, the program's), decoded; an unknown
    ``sagemaker_*`` name is refused, not ignored."""
    from local_mode.interpreter import StepError, UnsupportedError

    decoded = {k: decode(v) for k, v in hyperparameters.items()}
    toolkit = {k: v for k, v in decoded.items() if k.startswith("sagemaker_")}
    unknown = sorted(set(toolkit) - set(TOOLKIT_HYPERPARAMETERS))
    if unknown:
        raise UnsupportedError(f"step {step}: toolkit hyperparameters {', '.join(unknown)}")
    for required in ("sagemaker_program", "sagemaker_submit_directory"):
        if required not in toolkit:
            raise StepError(step, f"script mode needs the hyperparameter {required}")
    return toolkit, {k: v for k, v in decoded.items() if k not in toolkit}


def command_arguments(hyperparameters: Mapping[str, Any]) -> list[str]:
    """``--name value`` per hyperparameter, sorted, values as Python prints them: the training
    toolkit's ``to_cmd_args`` (so a boolean arrives as ``True``)."""
    out: list[str] = []
    for name in sorted(hyperparameters):
        out += [f"--{name}", str(hyperparameters[name])]
    return out


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
    hyperparameters: Mapping[str, Any],
    gpus: Sequence[str] = (),
) -> dict[str, str]:
    """The variables a SageMaker training container sets for one host; ``gpus`` are the devices
    it owns (none: a CPU instance, and the machine's GPUs are hidden from it)."""
    threads = str(max(1, cpus // len(hosts)))
    return {
        "SM_HOSTS": json.dumps(list(hosts)),
        "SM_CURRENT_HOST": host,
        "SM_CHANNELS": json.dumps(sorted(paths.channels)),
        **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in paths.channels.items()},
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


def die_with_parent() -> Callable[[], None] | None:
    """What a host runs before ``exec``: be killed when this process dies (Linux).

    Without it a ``kill -9`` of the run would leave the hosts training, orphaned. If this
    process died before the signal was set, the host exits at once. Elsewhere there is no such
    signal; the hosts still hold the run lock (see :func:`run_hosts`), so none is started twice.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child may only call it
    parent = os.getpid()

    def set_signal() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return set_signal


def run_hosts(
    command: Sequence[str],
    environments: Sequence[Mapping[str, str]],
    *,
    cwd: Path,
    log_dir: Path,
    keep_open: int | None = None,
) -> tuple[int, str | None]:
    """Start every host, wait for all; return (exit code, failing host's log or None).

    Host 1 inherits the terminal; the others log to ``log_dir/<host>.log``. ``keep_open`` (the
    run lock's descriptor) is inherited by every host, so the lock holds while any host lives.
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
                pass_fds=() if keep_open is None else (keep_open,),
                preexec_fn=die_with_parent(),
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
