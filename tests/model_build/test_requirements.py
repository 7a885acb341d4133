"""What pip installs on top of the AWS PyTorch container: pinned, and never torch itself."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from forecasting.pipeline.images import FRAMEWORK_VERSION

MODEL_BUILD = Path(__file__).resolve().parents[2] / "model_build"


def requirement_lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_job_requirements_pin_every_package_at_the_tested_version():
    lines = requirement_lines(MODEL_BUILD / "requirements.txt")
    assert lines[0] == "-c constraints.txt"
    pins = dict(line.split("==") for line in lines[1:])
    # Lightning pulls these two unpinned: a new release would reach the next job unannounced.
    assert {"lightning", "pytorch-lightning", "torchmetrics", "pytorch-forecasting"} <= set(pins)
    assert "torch" not in pins
    assert pins == {name: metadata.version(name) for name in pins}


def test_the_job_constraints_hold_torch_at_the_container_version():
    # A PEP 440 `==` without a local label matches the container's 2.6.0+cu126 and 2.6.0+cpu.
    assert requirement_lines(MODEL_BUILD / "constraints.txt") == [f"torch=={FRAMEWORK_VERSION}"]
