"""Simulated SageMaker training hosts: one real process per host, each started as the AWS PyTorch
training image starts its container, and each told only what SageMaker tells a host.

A host is the ``train`` program of SageMaker's training toolkit (``sagemaker-training``) with the
PyTorch container's toolkit (``sagemaker-pytorch-training``) as its framework module, both read
at start-up from ``SAGEMAKER_TRAINING_MODULE``. Each host has its own ``SAGEMAKER_BASE_DIR``: the
folder that is ``/opt/ml`` for that host, holding ``input/config/*.json`` as SageMaker writes them
(:func:`config_files`), its channels, code, model, output and checkpoints.

What stands in for the container boundary, each said where it applies:

* host names are loopback addresses (``127.0.0.1``, ``127.0.0.2``, ...): the toolkit resolves
  every host name before it starts, retrying silently for 15 minutes, and ``algo-1`` does not
  resolve on a laptop; the first address is the rendezvous master, as ``algo-1`` is in AWS;
* each host runs on its own share of the cores (CPU affinity, Linux), as a host has its own
  machine; the toolkit's ``SM_NUM_CPUS`` counts the whole machine, the training code reads the
  affinity (``forecasting.distributed.num_cpus``);
* each host owns its GPUs (``CUDA_VISIBLE_DEVICES``), and the ``nvidia-smi`` it finds first on its
  ``PATH`` lists only those, as a container's does; the toolkit counts GPUs with it.

Rank 0's output goes to the terminal; the other hosts write to log files. If one host fails, the
others are stopped, since they would otherwise wait for it forever. A host dies with the process
that started it, even a killed one (Linux: the parent-death signal), and holds the run's lock
while it lives.
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_GRACE_SECONDS = 10.0
# The AWS PyTorch training image's entry: its Dockerfile sets this variable, and the platform
# runs the toolkit's `train` program (sagemaker_training.cli.train), which imports it.
TRAINING_MODULE = "sagemaker_pytorch_container.training:main"
# sagemaker_pytorch_container.training.MASTER_PORT: fixed, exported as MASTER_PORT to every host
RENDEZVOUS_PORT = 7777
INSTANCE_GROUP = "homogeneousCluster"  # SageMaker's name for the one group of a plain job
NETWORK_INTERFACE = "eth0"
Host = tuple[str, subprocess.Popen[bytes], Path | None]  # name, process, log file


# The toolkit's own hyperparameters (``sagemaker_training.params``) that the definition may use;
# any other ``sagemaker_*`` name is refused, not passed on unexamined.
TOOLKIT_HYPERPARAMETERS = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_torch_distributed_enabled",
)


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


def host_names(count: int) -> list[str]:
    """Loopback addresses, one per host, in the order SageMaker sorts host names (the toolkit's
    master is the first); 127.0.0.0/8 is all loopback."""
    if not 1 <= count <= 254:
        raise ValueError(f"1 to 254 simulated hosts fit on the loopback network, not {count}")
    return [f"127.0.0.{i}" for i in range(1, count + 1)]


def config_files(
    host: str, hosts: Sequence[str], request: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """``input/config/*.json`` of one host as SageMaker writes them for a CreateTrainingJob
    ``request`` (the SageMaker Developer Guide, "How Amazon SageMaker AI Provides Training
    Information"): the hyperparameters exactly as requested (string values), the cluster, and
    each channel's input mode and distribution."""
    instance_type = request["ResourceConfig"]["InstanceType"]
    mode = request["AlgorithmSpecification"].get("TrainingInputMode", "File")
    channels = {}
    for channel in request.get("InputDataConfig", []):
        source = channel["DataSource"]["S3DataSource"]
        channels[channel["ChannelName"]] = {
            "TrainingInputMode": channel.get("InputMode", mode),
            "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            **({"ContentType": channel["ContentType"]} if "ContentType" in channel else {}),
        }
    return {
        "hyperparameters.json": dict(request.get("HyperParameters", {})),
        "resourceconfig.json": {
            "current_host": host,
            "current_instance_type": instance_type,
            "current_group_name": INSTANCE_GROUP,
            "hosts": list(hosts),
            "instance_groups": [
                {
                    "instance_group_name": INSTANCE_GROUP,
                    "instance_type": instance_type,
                    "hosts": list(hosts),
                }
            ],
            "network_interface_name": NETWORK_INTERFACE,
        },
        "inputdataconfig.json": channels,
    }


def rendezvous_port_free(port: int = RENDEZVOUS_PORT) -> bool:
    """Whether the toolkit's fixed rendezvous port can be listened on (torch's store binds every
    address, with SO_REUSEADDR, so connections of an ended job do not count): a second local
    multi-host run training at the same time would find it taken."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
        return True


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


def cores_per_host(host_count: int, cores: Sequence[int]) -> list[list[int]]:
    """Each host's own cores: an equal share, or one core each, round robin, when there are more
    hosts than cores (they then share, as oversubscribed machines would)."""
    if len(cores) < host_count:
        return [[cores[i % len(cores)]] for i in range(host_count)]
    share = len(cores) // host_count
    return [list(cores[i * share : (i + 1) * share]) for i in range(host_count)]


def available_cores() -> list[int]:
    """The cores this process may run on (all of them where affinity is not supported)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def gpu_listing(bin_dir: Path, own: Sequence[str]) -> bool:
    """Put an ``nvidia-smi`` into ``bin_dir`` whose ``--list-gpus`` lists only ``own`` (the
    machine's listing, filtered), as inside a container given those devices; anything else is
    the real ``nvidia-smi``. Returns False, writing nothing, where the machine has none."""
    real = shutil.which("nvidia-smi")
    if real is None:
        return False
    listing = subprocess.run(
        [real, "--list-gpus"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    mine = [
        line
        for line in listing
        if any(line.startswith(f"GPU {d}:") or f"UUID: {d})" in line for d in own)
    ]
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "nvidia-smi"
    answer = shlex.quote("".join(f"{line}\n" for line in mine))
    script.write_text(
        "#!/bin/sh\n# local mode: this simulated host's GPUs only, as a container sees them\n"
        f'if [ "$*" = "--list-gpus" ]; then printf %s {answer}; exit 0; fi\n'
        f'exec {shlex.quote(real)} "$@"\n'
    )
    script.chmod(0o755)
    return True


def host_setup(cores: Sequence[int] = ()) -> Callable[[], None] | None:
    """What a host runs before ``exec``: be killed when this process dies, and run on ``cores``
    only (Linux).

    Without the parent-death signal a ``kill -9`` of the run would leave the hosts training,
    orphaned. If this process died before the signal was set, the host exits at once. Elsewhere
    there is no such signal; the hosts still hold the run lock (see :func:`run_hosts`), so none
    is started twice.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child may only call it
    parent = os.getpid()
    own = set(cores)

    def set_up() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
        if own:
            os.sched_setaffinity(0, own)

    return set_up


def run_hosts(
    command: Sequence[str],
    environments: Mapping[str, Mapping[str, str]],
    *,
    cwd: Path,
    log_dir: Path,
    keep_open: int | None = None,
    cores: Sequence[Sequence[int]] = (),
    log_prefix: str = "train",
) -> tuple[int, str | None]:
    """Start every host, wait for all; return (exit code, failing host's log or None).

    ``environments``: each host's name and the variables it gets. Host 1 inherits the terminal;
    the others log to ``log_dir/<prefix>-<host>.log``. ``keep_open`` (the run lock's
    descriptor) is inherited by every host, so the lock holds while any host lives.
    ``cores[i]``: the cores host i runs on (all, if not given).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: list[Host] = []
    logs = []
    try:
        for number, (host, extra) in enumerate(environments.items()):
            log = None if number == 0 else log_dir / f"{log_prefix}-{host}.log"
            handle = log.open("wb") if log else None
            logs.append(handle)
            process = subprocess.Popen(
                list(command),
                cwd=cwd,
                env={**os.environ, **extra},
                stdout=handle,
                stderr=subprocess.STDOUT if handle else None,
                pass_fds=() if keep_open is None else (keep_open,),
                preexec_fn=host_setup(cores[number] if cores else ()),
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
