"""The model directory (``model.tar.gz`` once SageMaker packs it): everything inference needs.

``model.pt`` holds only tensors and ``config.json`` only JSON, so loading never unpickles code:
the architecture is rebuilt from the recorded hyperparameters and the fitted preprocessing
travels with the weights.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import torch

from forecasting import __version__
from forecasting.contracts import ModelConfig
from forecasting.errors import DataValidationError
from forecasting.families import FAMILIES
from forecasting.files import atomic_path, write_atomically
from forecasting.models.ensemble import Ensemble

WEIGHTS_FILE = "model.pt"
CONFIG_FILE = "config.json"
CODE_DIR = "code"  # what the SageMaker PyTorch inference container imports
FORMAT_VERSION = 1
INFERENCE_ENTRY = """\
# SageMaker PyTorch inference entry point, written by the train step.
from forecasting.inference.handler import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
"""


def write_inference_code(model_dir: Path) -> None:
    """``code/``: the entry point and this package's source, and no ``requirements.txt``.

    Shipping the source makes the artifact self-contained: the registered model package serves
    with the exact code that trained it, and no repack step is needed. Its packages are the
    project inference image's, which the package names; a ``requirements.txt`` here would make
    the container pip-install at start, which a network-isolated transform cannot.
    """
    code = model_dir / CODE_DIR
    staging = model_dir / f".{CODE_DIR}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    package = Path(__file__).resolve().parent
    shutil.copytree(package, staging / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    (staging / "inference.py").write_text(INFERENCE_ENTRY)
    shutil.rmtree(code, ignore_errors=True)
    os.replace(staging, code)


def save(
    model_dir: Path,
    *,
    model: torch.nn.Module,
    model_config: ModelConfig,
    preprocessing: dict[str, Any],
    training: dict[str, Any],
) -> None:
    """Write the weights, then ``config.json``; each file appears whole or not at all.

    ``config.json`` goes last because `load` looks for it: a first save that crashes leaves no
    directory that looks like a model.
    """
    with atomic_path(model_dir / WEIGHTS_FILE) as weights:
        torch.save(model.state_dict(), weights)
    write_inference_code(model_dir)
    config = {
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "model": model_config.to_dict(),
        "preprocessing": preprocessing,
        "training": training,
    }
    write_atomically(model_dir / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")


def unpack(model_dir: Path) -> Path:
    """A SageMaker Processing input holds ``model.tar.gz``; extract it beside itself once."""
    archive = model_dir / "model.tar.gz"
    if archive.is_file() and not (model_dir / CONFIG_FILE).is_file():
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")
    return model_dir


def load(model_dir: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model from ``config.json`` and load its weights, on the CPU, in eval mode."""
    path = unpack(Path(model_dir))
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise DataValidationError(f"{config_path} is missing: {path} is not a model directory")
    config = json.loads(config_path.read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise DataValidationError(
            f"{config_path}: format_version {config.get('format_version')!r} is not supported "
            f"(expected {FORMAT_VERSION})"
        )
    model_config = ModelConfig.of_artifact(config, config_path)
    if model_config.family not in FAMILIES:
        raise DataValidationError(f"{config_path}: unknown model family {model_config.family!r}")
    build = FAMILIES[model_config.family].build_network
    members = [build(model_config) for _ in range(model_config.ensemble_size)]
    model = members[0] if len(members) == 1 else Ensemble(members)
    model.load_state_dict(torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return model.eval(), config
