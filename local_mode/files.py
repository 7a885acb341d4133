"""Atomic writes and the model archive: an interrupted command never leaves half a file behind."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forecasting.errors import ConfigError
from forecasting.files import write_atomically


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one (:func:`forecasting.files.write_atomically`)."""
    write_atomically(path, data)


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def pack_directory(source: Path, archive: Path) -> None:
    """``model.tar.gz`` as SageMaker packs ``/opt/ml/model``: the folder's contents at the root.

    Entries are sorted and hidden partial files left out; the archive appears only when whole.
    """
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.{os.getpid()}.tmp")
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for path in sorted(source.rglob("*")):
                relative = path.relative_to(source)
                if any(part.startswith(".") for part in relative.parts) or path.is_dir():
                    continue
                tar.add(path, arcname=relative.as_posix(), recursive=False)
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)


def extract_archive(archive: Path, target: Path) -> None:
    """Unpack into ``target`` through a temporary folder, so ``target`` exists only when whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_tree(source: Path, target: Path) -> None:
    """Copy a folder over ``target`` (a channel download): the old copy goes first."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)


@contextlib.contextmanager
def exclusive(folder: Path, what: str) -> Iterator[int]:
    """One process at a time in ``folder`` (a run, a transform job); a second is refused.

    Yields the lock's file descriptor: a child process that inherits it holds the lock too
    (``flock`` belongs to the open file), so the folder stays locked while any such child
    lives, even if this process is killed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{what} is in use by another process ({folder}); wait for it to end"
            ) from None
        yield handle.fileno()  # closing the file at the end releases the lock
