"""Real multi-process training: gloo DDP on one host, simulated SageMaker hosts, kill and resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from .conftest import TINY_MODEL, finish, finish_all, free_port, train_paths, train_process

pytestmark = pytest.mark.ddp


def assert_ranks_agree(summary: dict, world_size: int) -> None:
    ranks = summary["ranks"]
    assert sorted(r["rank"] for r in ranks) == list(range(world_size))
    assert all(r["param_fingerprint"] == ranks[0]["param_fingerprint"] for r in ranks)
    assert all(r["val_loss"] == ranks[0]["val_loss"] for r in ranks)


def test_two_processes_on_one_host_end_in_sync(tmp_path, channels):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "2"]
    finish(train_process([*args, "--processes-per-host", "2"]))
    summary = json.loads((tmp_path / "output" / "training_summary.json").read_text())
    assert summary["world_size"] == 2
    assert_ranks_agree(summary, 2)
    # each rank trains on its own half of the windows (DistributedSampler), not on all of them
    half = -(-summary["train_windows"] // 2)
    assert [r["train_windows_seen_per_epoch"] for r in summary["ranks"]] == [half, half]


def test_torchrun_launches_the_ranks(tmp_path, channels):
    """SageMaker's torch_distributed option starts the entry point under torchrun."""
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "1"]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "forecasting.steps.train", *args,
    ]  # fmt: skip
    process = subprocess.run(
        command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-4000:]
    summary = json.loads((tmp_path / "output" / "training_summary.json").read_text())
    assert (summary["launcher"], summary["world_size"]) == ("torchrun", 2)
    assert_ranks_agree(summary, 2)


def test_two_separately_started_hosts_train_together(tmp_path, channels):
    """Each "host" is its own process tree, told only SM_HOSTS and SM_CURRENT_HOST."""
    env = {"SM_HOSTS": '["algo-1","algo-2"]', "MASTER_ADDR": "127.0.0.1"}
    env["MASTER_PORT"] = str(free_port())
    hosts = [
        train_process(
            [*TINY_MODEL, *train_paths(tmp_path / name, channels), "--max-epochs", "2"],
            SM_CURRENT_HOST=name,
            **env,
        )
        for name in ("algo-1", "algo-2")
    ]
    outputs = finish_all(hosts)
    summary = json.loads((tmp_path / "algo-1" / "output" / "training_summary.json").read_text())
    assert (summary["launcher"], summary["num_nodes"], summary["world_size"]) == ("sagemaker", 2, 2)
    assert_ranks_agree(summary, 2)
    # only global rank 0 writes the model
    assert (tmp_path / "algo-1" / "model" / "model.pt").is_file()
    assert not (tmp_path / "algo-2" / "model").exists()
    assert "epoch=1" in outputs[0] and "epoch=1" not in outputs[1]


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path, channels):
    args = [*TINY_MODEL, *train_paths(tmp_path, channels), "--max-epochs", "30"]
    args += ["--patience", "100"]
    last = tmp_path / "checkpoints" / "last.ckpt"
    first = train_process(args)
    deadline = time.monotonic() + 120
    while not last.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert last.is_file()

    output = finish(train_process(args))
    summary = json.loads((tmp_path / "output" / "training_summary.json").read_text())
    assert summary["resumed_from"] == str(last)
    assert summary["epochs_completed"] == 30
    epochs_run = [int(m) for m in re.findall(r"^epoch=(\d+) ", output, flags=re.MULTILINE)]
    assert epochs_run and min(epochs_run) > 0, "the second run started again from epoch 0"
    assert max(epochs_run) == 29
