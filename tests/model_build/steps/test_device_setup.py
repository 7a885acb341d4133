"""Where training runs and how ranks talk, on a GPU machine simulated by mocked device counts."""

from __future__ import annotations

import pytest
import torch
from lightning.fabric.plugins.environments import LightningEnvironment
from lightning.pytorch.strategies import ddp

from forecasting import trainer as trainer_module
from forecasting.channels import read_channel
from forecasting.distributed import ClusterSpec
from forecasting.families import family
from forecasting.steps import train

from .conftest import TINY_MODEL, TINY_TFT, train_paths


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
    strategy = trainer_module.SumThenDivideDDPStrategy(
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


@pytest.mark.parametrize(
    ("env", "flag", "expected"),
    [({}, [], True), ({"TRAINING_JOB_NAME": "train-1"}, [], False),
     ({"TRAINING_JOB_NAME": "train-1"}, ["--progress-bar", "true"], True)],
)  # fmt: skip
def test_progress_bars_are_off_in_sagemaker_jobs(monkeypatch, env, flag, expected):
    monkeypatch.delenv("TRAINING_JOB_NAME", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert train.parse_args(flag).progress_bar is expected


def test_tensor_cores_take_fp32_products_in_tf32():
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        train.use_tensor_cores()
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)


def test_loaders_pin_their_batches_for_a_gpu(channels, tft_channels):
    informer = family("informer").training_setup(
        train.training_options(train.parse_args(TINY_MODEL)), read_channel(channels / "train"),
        read_channel(channels / "validation"), 16, pin_memory=True,
    )  # fmt: skip
    tft = family("tft").training_setup(
        train.training_options(train.parse_args(TINY_TFT)), read_channel(tft_channels / "train"),
        read_channel(tft_channels / "validation"), 32, pin_memory=True,
    )  # fmt: skip
    for setup in (informer, tft):
        assert setup.train_loader.pin_memory and setup.val_loader.pin_memory


def test_resume_loads_checkpoints_onto_the_cpu_first(tmp_path, monkeypatch):
    trainer = train.build_trainer(
        train.parse_args(TINY_MODEL), ClusterSpec("single", 1, 0, 1), False, 4, tmp_path
    )
    assert isinstance(trainer.strategy.checkpoint_io, trainer_module.CPUCheckpointIO)
    path = tmp_path / "saved.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, path)
    asked = []
    load = torch.load
    monkeypatch.setattr(
        torch, "load", lambda *a, **k: asked.append(k.get("map_location")) or load(*a, **k)
    )
    # what Lightning's own checkpoint IO is asked on resume (no map_location: the saved device)
    trainer.strategy.checkpoint_io.load_checkpoint(path)
    assert asked == ["cpu"]


def test_the_tft_logs_its_training_loss_per_epoch_only(tmp_path, tft_channels):
    # A per-step value logged with sync_dist is an all-reduce on every step under DDP.
    train.main([*TINY_TFT, *train_paths(tmp_path, tft_channels), "--max-epochs", "1"])
    (metrics,) = (tmp_path / "output").rglob("metrics.csv")
    columns = metrics.read_text().splitlines()[0].split(",")
    assert "train_loss" in columns
    assert not [c for c in columns if c.endswith("_step")]
