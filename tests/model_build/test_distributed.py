import pytest

from forecasting.distributed import (
    ClusterSpec,
    choose_backend,
    export_rendezvous,
    parse_sm_hosts,
    resolve_cluster,
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
    ("requested", "cuda", "smddp", "expected"),
    [
        ("auto", False, False, "gloo"),
        ("auto", True, False, "nccl"),
        ("auto", True, True, "smddp"),
        ("gloo", True, True, "gloo"),
    ],
)
def test_backend_choice(requested, cuda, smddp, expected):
    assert choose_backend(requested, cuda, smddp) == expected


@pytest.mark.parametrize(
    ("requested", "cuda", "smddp", "message"),
    [
        ("nccl", False, False, "needs a GPU"),
        ("smddp", True, False, "not installed"),
        ("mpi", False, False, "unknown backend"),
    ],
)
def test_impossible_backend_is_a_config_error(requested, cuda, smddp, message):
    with pytest.raises(ConfigError, match=message):
        choose_backend(requested, cuda, smddp)
