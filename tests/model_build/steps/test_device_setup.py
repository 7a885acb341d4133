"""Where training runs and how ranks talk, on a GPU machine simulated by mocked device counts."""

from __future__ import annotations

import pytest
import torch
from lightning.fabric.plugins.environments import LightningEnvironment
from lightning.pytorch.strategies import ddp

from forecasting.steps import train

from .conftest import TINY_MODEL, train_paths


@pytest.fixture
def one_gpu_machine(monkeypatch):
    """torch sees one CUDA device (nothing runs on it: every test here stays on the CPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_a_host_told_it_has_no_gpu_trains_on_the_cpu_of_a_gpu_machine(
    tmp_path, channels, monkeypatch, one_gpu_machine
):
    # Local mode's simulated hosts get SM_NUM_GPUS="0"; `"0" or device_count()` made that
    # 0 processes per host and the step refused to start.
    monkeypatch.setenv("SM_NUM_GPUS", "0")
    summary = train.main(
        [*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "1",
         "--limit-train-batches", "2"]
    )  # fmt: skip
    assert (summary["world_size"], summary["global_steps"]) == (1, 2)


def test_smddp_on_an_unsupported_instance_fails_before_training(
    tmp_path, channels, monkeypatch, one_gpu_machine, capsys
):
    monkeypatch.setenv("SM_CURRENT_INSTANCE_TYPE", "ml.g5.xlarge")
    with pytest.raises(SystemExit) as ended:
        train.run_step(train.main, [*TINY_MODEL, *train_paths(tmp_path, channels),
                                    "--backend", "smddp"])  # fmt: skip
    assert ended.value.code == 2
    assert "smddp runs only on ml.p4d.24xlarge" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints").exists()


def test_smddp_strategy_averages_with_a_sum_it_supports(monkeypatch):
    seen = []

    def two_ranks_summing(tensor, group=None, reduce_op=None):
        seen.append(reduce_op)
        return tensor * 2 if reduce_op == "sum" else tensor

    monkeypatch.setattr(ddp, "_sync_ddp_if_available", two_ranks_summing)
    strategy = train.SumThenDivideDDPStrategy(
        parallel_devices=[torch.device("cpu")] * 2,
        cluster_environment=LightningEnvironment(),
        process_group_backend="gloo",
    )
    strategy.set_world_ranks()
    assert strategy.world_size == 2
    for op in ("mean", "avg", torch.distributed.ReduceOp.AVG):
        assert float(strategy.reduce(torch.tensor(3.0), reduce_op=op)) == 3.0
    assert float(strategy.reduce(torch.tensor(3.0), reduce_op="sum")) == 6.0
    assert seen == ["sum"] * 4
