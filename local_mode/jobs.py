"""What every local job does around its program: S3 transfers as folder copies, and the check that
stands in for the container's ``pip install -r requirements.txt``.

S3 is folders: ``s3://bucket/key`` is ``<home>/s3/bucket/key`` (:mod:`local_mode.layout`). Jobs
read their inputs from the URIs the request names and their outputs are uploaded to the URIs it
names, so a missing object fails the step that reads it, as in AWS.
"""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from local_mode import files, interpreter
from local_mode.layout import Home

REQUIREMENTS = "requirements.txt"
CONSTRAINTS = "constraints.txt"


def download(home: Home, step: str, what: str, uri: str, target: Path) -> None:
    """An S3Prefix input: every object under ``uri`` into ``target``, as SageMaker downloads
    it; nothing there fails the step, as in AWS."""
    source = home.local_path(uri)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if source.is_file():
        shutil.copy2(source, target / source.name)
    elif source.is_dir() and any(p.is_file() for p in source.rglob("*")):
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        raise interpreter.StepError(step, f"{what}: no S3 objects found under {uri}")


def upload(home: Home, local: Path, uri: str) -> None:
    """A folder uploaded to ``uri``, replacing what was there."""
    files.replace_tree(local, home.local_path(uri))


@dataclass(frozen=True)
class Requirements:
    """What the code's ``requirements.txt`` asks of this environment."""

    present: bool  # the code carries a requirements.txt
    unmet_constraints: list[str]  # constraints.txt pins (the container's torch) not met here


def check_requirements(code: Path, step: str) -> Requirements:
    """The job's ``pip install -r requirements.txt``, checked honestly offline: every
    requirement must already be installed here at a matching version, or the step fails naming
    the ones that are not. ``code``: the unpacked code, or a folder holding its tarball (a
    processing job's code input)."""
    from packaging.requirements import Requirement

    archives = list(code.glob("*.gz"))
    if archives:
        with tarfile.open(archives[0]) as tar:
            names = tar.getnames()
            texts = {
                n: tar.extractfile(n).read().decode()  # type: ignore[union-attr]
                for n in (REQUIREMENTS, CONSTRAINTS)
                if n in names
            }
    else:
        texts = {
            n: (code / n).read_text() for n in (REQUIREMENTS, CONSTRAINTS) if (code / n).is_file()
        }

    def unmet(name: str) -> list[str]:
        found = []
        for line in texts.get(name, "").splitlines():
            line = line.split("#")[0].strip()
            if not line or line.startswith("-"):
                continue
            requirement = Requirement(line)
            try:
                installed = version(requirement.name)
            except PackageNotFoundError:
                installed = "none"
            if installed == "none" or not requirement.specifier.contains(installed, True):
                found.append(f"{requirement} ({installed} installed)")
        return found

    wrong = unmet(REQUIREMENTS)
    if wrong:
        raise interpreter.StepError(
            step, f"this environment does not satisfy the code's {REQUIREMENTS}: "
            + ", ".join(wrong) + "; run make setup"
        )  # fmt: skip
    return Requirements(REQUIREMENTS in texts, unmet(CONSTRAINTS))
