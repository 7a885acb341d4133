"""Where this process sits in a training cluster: torchrun, SageMaker multi-host, or one host.

Pure functions of the environment, so the same rules serve SageMaker, local simulated hosts and
tests. The seed workshop took ``len()`` of the ``SM_HOSTS`` string as the node count; here the
JSON is parsed and checked.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Literal

from forecasting.errors import ConfigError

DEFAULT_MASTER_PORT = 29500
Launcher = Literal["single", "torchrun", "sagemaker"]


@dataclass(frozen=True)
class ClusterSpec:
    """The shape of the job: ``num_nodes`` hosts with ``devices_per_node`` processes each."""

    launcher: Launcher
    num_nodes: int
    node_rank: int
    devices_per_node: int
    master_addr: str = "127.0.0.1"
    master_port: int = DEFAULT_MASTER_PORT

    @property
    def world_size(self) -> int:
        return self.num_nodes * self.devices_per_node


def parse_sm_hosts(sm_hosts: str, current_host: str) -> tuple[list[str], int]:
    """Return the host list and this host's index from ``SM_HOSTS`` / ``SM_CURRENT_HOST``."""
    try:
        hosts = json.loads(sm_hosts)
    except json.JSONDecodeError as err:
        raise ConfigError(f"SM_HOSTS is not JSON: {sm_hosts!r} ({err.msg})") from None
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
        raise ConfigError(f"SM_HOSTS must be a non-empty JSON list of host names, got {sm_hosts!r}")
    if len(set(hosts)) != len(hosts):
        raise ConfigError(f"SM_HOSTS lists a host twice: {sm_hosts!r}")
    if current_host not in hosts:
        raise ConfigError(f"SM_CURRENT_HOST {current_host!r} is not one of SM_HOSTS {hosts}")
    return hosts, hosts.index(current_host)


def resolve_cluster(env: Mapping[str, str], processes_per_host: int) -> ClusterSpec:
    """Work out the cluster from the launcher's environment.

    torchrun sets ``WORLD_SIZE``/``LOCAL_WORLD_SIZE``/``GROUP_RANK`` and starts every process
    itself. Plain SageMaker multi-host starts one process per host and tells each host only
    ``SM_HOSTS`` and ``SM_CURRENT_HOST``; the first host is the rendezvous master. A
    ``MASTER_ADDR`` already in the environment wins, which lets simulated hosts on one machine
    use the loopback address.
    """
    if processes_per_host < 1:
        raise ConfigError(f"processes per host must be at least 1, got {processes_per_host}")
    if "TORCHELASTIC_RUN_ID" in env:
        world = int(env["WORLD_SIZE"])
        local = int(env["LOCAL_WORLD_SIZE"])
        return ClusterSpec(
            launcher="torchrun",
            num_nodes=world // local,
            node_rank=int(env.get("GROUP_RANK", "0")),
            devices_per_node=local,
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=int(env.get("MASTER_PORT", DEFAULT_MASTER_PORT)),
        )
    if "SM_HOSTS" in env:
        hosts, node_rank = parse_sm_hosts(env["SM_HOSTS"], env.get("SM_CURRENT_HOST", ""))
        if len(hosts) > 1:
            return ClusterSpec(
                launcher="sagemaker",
                num_nodes=len(hosts),
                node_rank=node_rank,
                devices_per_node=processes_per_host,
                master_addr=env.get("MASTER_ADDR", hosts[0]),
                master_port=int(env.get("MASTER_PORT", DEFAULT_MASTER_PORT)),
            )
    return ClusterSpec(
        launcher="single",
        num_nodes=1,
        node_rank=0,
        devices_per_node=processes_per_host,
        master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
        master_port=int(env.get("MASTER_PORT", DEFAULT_MASTER_PORT)),
    )


def export_rendezvous(spec: ClusterSpec, environ: MutableMapping[str, str]) -> None:
    """Set the variables Lightning's default cluster environment reads for multi-host runs.

    torchrun has set them already, and on one host Lightning picks a free port itself.
    """
    if spec.launcher != "sagemaker":
        return
    environ["MASTER_ADDR"] = spec.master_addr
    environ["MASTER_PORT"] = str(spec.master_port)
    environ["NODE_RANK"] = str(spec.node_rank)


# The instance types the SageMaker distributed data parallelism library (SMDDP) supports: the
# SageMaker Developer Guide, "Supported frameworks, AWS Regions, and instances types" of the SMDDP
# library. On any other type its process group fails to start.
SMDDP_INSTANCE_TYPES = ("ml.p4d.24xlarge", "ml.p4de.24xlarge", "ml.p5.48xlarge")
BACKENDS = ("auto", "gloo", "nccl", "smddp")


def choose_backend(
    requested: str, has_cuda: bool, has_smddp: bool, instance_type: str | None = None
) -> str:
    """``auto``: nccl on GPU, gloo on CPU. smddp only when asked for, on a type it supports.

    smddp is never chosen by itself: it runs on three instance types only, and Lightning's
    metric sync reduces with an AVG op that it rejects (`DDPStrategy`'s reduction is replaced
    for it, see :mod:`forecasting.steps.train`).
    """
    if requested not in BACKENDS:
        raise ConfigError(f"unknown backend {requested!r}; expected one of {', '.join(BACKENDS)}")
    if requested == "auto":
        return "nccl" if has_cuda else "gloo"
    if requested in {"nccl", "smddp"} and not has_cuda:
        raise ConfigError(f"backend {requested} needs a GPU; use gloo on CPU")
    if requested == "smddp":
        if instance_type not in SMDDP_INSTANCE_TYPES:
            raise ConfigError(
                f"backend smddp runs only on {', '.join(SMDDP_INSTANCE_TYPES)}; this host is "
                f"{instance_type or 'not a SageMaker instance (SM_CURRENT_INSTANCE_TYPE unset)'}"
                "; use --backend auto (nccl)"
            )
        if not has_smddp:
            raise ConfigError(
                "backend smddp needs smdistributed.dataparallel, which is not installed"
            )
    return requested


def smddp_available() -> bool:
    """Whether the data-parallel library imports (the model-parallel one shares its top package)."""
    try:
        return importlib.util.find_spec("smdistributed.dataparallel") is not None
    except ModuleNotFoundError:
        return False


def gpus_on_host(env: Mapping[str, str], visible: int) -> int:
    """The GPUs this host trains on: ``SM_NUM_GPUS`` where the platform sets it (SageMaker, and
    local mode, which gives a simulated host ``"0"`` to keep it on the CPU), else all visible."""
    if "SM_NUM_GPUS" not in env:
        return visible
    told = int(env["SM_NUM_GPUS"])
    if not 0 <= told <= visible:
        raise ConfigError(f"SM_NUM_GPUS is {told}, but this host sees {visible} GPU(s)")
    return told


def num_cpus(env: Mapping[str, str] = os.environ) -> int:
    """The host's CPUs (``SM_NUM_CPUS``, which counts the machine), at most the cores this
    process may run on: local mode pins each simulated host to its own share."""
    told = int(env.get("SM_NUM_CPUS", os.cpu_count() or 1))
    if hasattr(os, "sched_getaffinity"):
        return max(1, min(told, len(os.sched_getaffinity(0))))
    return told
