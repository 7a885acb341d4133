"""The project image's requirements resolve for the image: its Python, its platform and the
packages it keeps from the AWS base image (tests/model_build/dlc_packages.json, from the images'
published Dockerfiles and package lists).

``pip install --dry-run --only-binary=:all:`` against PyPI for CPython 3.12 on x86-64 Linux
with glibc 2.35 (Ubuntu 22.04, the images' OS): a pin that has no wheel there, or that conflicts
with what the image keeps, fails here instead of in CodeBuild. It needs PyPI, so it is skipped,
saying so, where the index cannot be reached; the three images resolve in parallel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from forecasting.pipeline.images import FRAMEWORK_VERSION, PY_VERSION
from forecasting.pipeline.project_image import IMAGE_DIR

INDEX = "https://pypi.org/simple"
PACKAGES = json.loads((Path(__file__).parent / "dlc_packages.json").read_text())


def index_reachable() -> bool:
    try:
        with urllib.request.urlopen(f"{INDEX}/pip/", timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not index_reachable(), reason=f"{INDEX} is not reachable")


def dry_run(kept: list[str], report: Path) -> subprocess.Popen[str]:
    minor = int(PACKAGES["glibc"].split(".")[1])
    platforms = [f"manylinux_2_{m}_x86_64" for m in range(17, minor + 1)] + ["manylinux2014_x86_64"]
    extra = report.with_suffix(".kept.txt")
    extra.write_text("\n".join(kept) + "\n")
    command = [
        sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed",
        "--quiet", "--disable-pip-version-check", "--report", str(report),
        "--index-url", INDEX, "--only-binary=:all:", "--implementation", "cp",
        "--python-version", PACKAGES["python"],
        *(arg for p in platforms for arg in ("--platform", p)),
        "-r", str(IMAGE_DIR / "requirements.txt"), "-r", str(extra),
    ]  # fmt: skip
    # no local configuration: this machine's wheel folders and caps are not the image's
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)


def test_the_table_describes_the_pinned_base_images():
    py = f"{PACKAGES['python'].replace('.', '')}"
    assert f"py{py}" == PY_VERSION
    for name in PACKAGES["images"]:
        assert name.split(":")[1].startswith(f"{FRAMEWORK_VERSION}-")
        assert name.endswith(f"-{PY_VERSION}")


def test_the_requirements_resolve_beside_what_each_base_image_keeps(tmp_path):
    runs = {
        name: dry_run(image["kept"], tmp_path / f"{name.replace(':', '_')}.json")
        for name, image in PACKAGES["images"].items()
    }
    pins = dict(
        line.split("#")[0].strip().split("==")
        for line in (IMAGE_DIR / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    )
    for name, run in runs.items():
        _, err = run.communicate(timeout=240)
        assert run.returncode == 0, f"{name}: {err}"
        report = json.loads((tmp_path / f"{name.replace(':', '_')}.json").read_text())
        resolved = {
            i["metadata"]["name"].lower(): i["metadata"]["version"] for i in report["install"]
        }
        assert {p: resolved[p] for p in pins} == pins, name
