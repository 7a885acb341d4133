"""Tiny data and a tiny model, so each step runs in seconds on 2 cores."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.steps import evaluate, preprocess
from forecasting.steps.arguments import run_step

TINY_MODEL = [
    "--seq-len", "16", "--label-len", "8", "--pred-len", "4",
    "--d-model", "16", "--n-heads", "2", "--d-ff", "32", "--factor", "3",
    "--batch-size", "16", "--progress-bar", "false", "--threads-per-process", "1",
]  # fmt: skip


SEQ_LEN, PRED_LEN = 8, 3
TINY_TFT = [
    "--model", "tft", "--hidden-size", "8", "--attention-head-size", "2",
    "--hidden-continuous-size", "4", "--batch-size", "32", "--threads-per-process", "1",
    "--progress-bar", "false",
]  # fmt: skip


def write_tiny_csv(path: Path, rows: int = 400) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(rows)
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "load": np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(rows),
            "temp": np.cos(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(rows),
            "price": 10 + np.sin(2 * np.pi * t / 168) + 0.1 * rng.standard_normal(rows),
        }
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def channels(tmp_path: Path) -> Path:
    """Train/validation/test channels written by the real preprocess step."""
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    out = tmp_path / "channels"
    preprocess.main(
        ["--data", str(csv), "--seq-len", "16", "--pred-len", "4", "--output-dir", str(out)]
    )
    return out


def train_paths(tmp_path: Path, channels: Path) -> list[str]:
    return [
        "--train", str(channels / "train"),
        "--validation", str(channels / "validation"),
        "--model-dir", str(tmp_path / "model"),
        "--output-data-dir", str(tmp_path / "output"),
        "--checkpoint-dir", str(tmp_path / "checkpoints"),
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_process(args: list[str], **env: str) -> subprocess.Popen[str]:
    """The training step as SageMaker starts it: a fresh interpreter running the module."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "forecasting.steps.train", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish_all(processes: Sequence[subprocess.Popen[str]], timeout: float = 240) -> list[str]:
    """Outputs of processes that must all succeed, their pipes read at the same time: reading
    one host to its end first would stall a run in which another host fills its pipe."""
    with ThreadPoolExecutor(len(processes)) as pool:
        outputs = list(pool.map(lambda p: p.communicate(timeout=timeout)[0], processes))
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]
    return outputs


def finish(process: subprocess.Popen[str], timeout: float = 240) -> str:
    return finish_all([process], timeout)[0]


def preprocess_demo(output: Path, *extra: str) -> Path:
    preprocess.main(
        ["--model", "tft", "--dataset", "demo", "--seq-len", str(SEQ_LEN),
         "--pred-len", str(PRED_LEN), "--output-dir", str(output), *extra]
    )  # fmt: skip
    return output


def read_summary(run: Path) -> dict:
    return json.loads((run / "output" / "training_summary.json").read_text())


def evaluate_run(run: Path, test: Path) -> dict:
    return evaluate.main(
        ["--model-dir", str(run / "model"), "--test", str(test),
         "--output-dir", str(run / "evaluation")]
    )  # fmt: skip


def step_error(capsys, main, argv: list[str]) -> str:
    """A step run as its entry point runs it: exit code 2 and one line on stderr."""
    with pytest.raises(SystemExit) as exit_info:
        run_step(main, argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error: " in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def tft_channels(tmp_path_factory) -> Path:
    return preprocess_demo(tmp_path_factory.mktemp("tft") / "channels")
