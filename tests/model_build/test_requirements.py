"""The project image's packages are pinned, and pinned at the versions the tests run."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGE_REQUIREMENTS = ROOT / "model_build" / "image" / "requirements.txt"


def requirement_lines(path: Path) -> list[str]:
    return [
        line.split("#")[0].strip()
        for line in path.read_text().splitlines()
        if line.split("#")[0].strip()
    ]


def test_the_image_pins_every_package_at_the_tested_version():
    pins = dict(line.split("==") for line in requirement_lines(IMAGE_REQUIREMENTS))
    # torch and the numeric stack replace the AWS container's; Lightning pulls these unpinned
    assert {"torch", "numpy", "lightning", "pytorch-lightning", "torchmetrics",
            "pytorch-forecasting"} <= set(pins)  # fmt: skip
    # the public version: the tests' CPU build (2.13.0+cpu) is the image's torch==2.13.0
    installed = {name: metadata.version(name).split("+")[0] for name in pins}
    assert pins == installed


def test_the_test_environment_installs_the_image_requirements():
    """One list: `make setup` installs what the image bakes in."""
    assert "-r model_build/image/requirements.txt" in requirement_lines(
        ROOT / "requirements-dev.txt"
    )
