import importlib
from pathlib import Path

import pytest

from forecasting.distributed import (
    SMDDP_INSTANCE_TYPES,
    ClusterSpec,
    choose_backend,
    export_rendezvous,
    gpus_on_host,
    parse_sm_hosts,
    resolve_cluster,
    smddp_available,
)
from forecasting.errors import ConfigError


def test_sm_hosts_is_parsed_as_json_not_measured_as_a_string():
    hosts, rank = parse_sm_hosts('["algo-1","algo-2","algo-3"]', "algo-3")
    assert hosts == ["algo-1", "algo-2", "algo-3"]
    assert rank == 2


@pytest.mark.parametrize(
    ("sm_hosts", "current", "message"),
    [
        ("algo-1,algo-2", "algo-1", "not JSON"),
        ("[]", "algo-1", "non-empty JSON list"),
        ('{"a": 1}', "algo-1", "non-empty JSON list"),
        ('["algo-1","algo-1"]', "algo-1", "twice"),
        ('["algo-1","algo-2"]', "algo-9", "'algo-9' is not one of"),
    ],
)
def test_bad_sm_hosts_are_rejected(sm_hosts, current, message):
    with pytest.raises(ConfigError, match=message):
        parse_sm_hosts(sm_hosts, current)


def test_sagemaker_multi_host_uses_the_first_host_as_master():
    env = {"SM_HOSTS": '["algo-1","algo-2"]', "SM_CURRENT_HOST": "algo-2"}
    spec = resolve_cluster(env, processes_per_host=4)
    assert spec == ClusterSpec("sagemaker", 2, 1, 4, "algo-1", 29500)
    assert spec.world_size == 8


def test_master_addr_in_the_environment_wins_for_simulated_hosts():
    env = {
        "SM_HOSTS": '["algo-1","algo-2"]',
        "SM_CURRENT_HOST": "algo-1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "31234",
    }
    spec = resolve_cluster(env, processes_per_host=1)
    assert (spec.master_addr, spec.master_port, spec.node_rank) == ("127.0.0.1", 31234, 0)
    exported: dict[str, str] = {}
    export_rendezvous(spec, exported)
    assert exported == {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "31234", "NODE_RANK": "0"}


def test_single_sagemaker_host_is_a_single_node():
    env = {"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1"}
    spec = resolve_cluster(env, processes_per_host=2)
    assert (spec.launcher, spec.num_nodes, spec.world_size) == ("single", 1, 2)
    exported: dict[str, str] = {}
    export_rendezvous(spec, exported)
    assert exported == {}  # Lightning picks a free port on one host


def test_torchrun_environment_is_taken_as_given():
    env = {
        "TORCHELASTIC_RUN_ID": "x",
        "WORLD_SIZE": "8",
        "LOCAL_WORLD_SIZE": "4",
        "GROUP_RANK": "1",
        "MASTER_ADDR": "10.0.0.1",
        "MASTER_PORT": "29400",
        "SM_HOSTS": '["algo-1","algo-2"]',
        "SM_CURRENT_HOST": "algo-2",
    }
    spec = resolve_cluster(env, processes_per_host=1)
    assert spec == ClusterSpec("torchrun", 2, 1, 4, "10.0.0.1", 29400)


@pytest.mark.parametrize(
    ("requested", "cuda", "smddp", "instance", "expected"),
    [
        ("auto", False, False, None, "gloo"),
        ("auto", True, False, "ml.g5.xlarge", "nccl"),
        # smddp is never chosen by itself, not even where it is installed and supported
        ("auto", True, True, "ml.p4d.24xlarge", "nccl"),
        ("gloo", True, True, None, "gloo"),
        *[("smddp", True, True, t, "smddp") for t in SMDDP_INSTANCE_TYPES],
    ],
)
def test_backend_choice(requested, cuda, smddp, instance, expected):
    assert choose_backend(requested, cuda, smddp, instance) == expected


@pytest.mark.parametrize(
    ("requested", "cuda", "smddp", "instance", "message"),
    [
        ("nccl", False, False, None, "needs a GPU"),
        ("smddp", True, False, "ml.p4d.24xlarge", "not installed"),
        # the default training instance, and a multi-GPU type it does not support either
        ("smddp", True, True, "ml.g5.xlarge", "runs only on ml.p4d.24xlarge"),
        ("smddp", True, True, "ml.g5.12xlarge", "this host is ml.g5.12xlarge"),
        ("smddp", True, True, None, "SM_CURRENT_INSTANCE_TYPE unset"),
        ("mpi", False, False, None, "unknown backend"),
    ],
)
def test_impossible_backend_is_a_config_error(requested, cuda, smddp, instance, message):
    with pytest.raises(ConfigError, match=message):
        choose_backend(requested, cuda, smddp, instance)


def fake_package(root: Path, *modules: str) -> None:
    for module in modules:
        folder = root.joinpath(*module.split("."))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text("")


def test_smddp_is_available_only_with_the_data_parallel_library(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not smddp_available()
    # The model-parallel library alone installs the same top-level package.
    fake_package(tmp_path, "smdistributed", "smdistributed.modelparallel")
    importlib.invalidate_caches()
    assert not smddp_available()
    fake_package(tmp_path, "smdistributed.dataparallel")
    importlib.invalidate_caches()
    assert smddp_available()


@pytest.mark.parametrize(
    ("env", "visible", "expected"),
    [
        ({}, 0, 0),
        ({}, 4, 4),  # outside SageMaker: every GPU the process sees
        ({"SM_NUM_GPUS": "1"}, 1, 1),  # ml.g5.xlarge
        ({"SM_NUM_GPUS": "0"}, 1, 0),  # a local-mode host kept on the CPU of a GPU machine
        ({"SM_NUM_GPUS": "0"}, 0, 0),  # a CPU instance
    ],
)
def test_gpus_on_host(env, visible, expected):
    assert gpus_on_host(env, visible) == expected


def test_more_gpus_than_the_host_sees_is_a_config_error():
    with pytest.raises(ConfigError, match="SM_NUM_GPUS is 2, but this host sees 1"):
        gpus_on_host({"SM_NUM_GPUS": "2"}, 1)
