"""A benchmark's child process, run to completion and measured: wall time and peak memory.

Standard library only: the peer benchmarks import it in the peer's own virtual environment too.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_measured(
    command: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | str | None = None
) -> tuple[float, float]:
    """Wall seconds and peak RSS in MiB of ``command``; stdout is dropped, stderr shown on failure.

    Peak RSS is ``ru_maxrss`` from ``wait4``: the largest single process of the child's tree
    (Linux reports KiB), so a child that starts DDP ranks reports its largest rank.
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: a chatty child never blocks
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        if status:
            err.seek(0)
            raise SystemExit(f"failed (status {status}): {' '.join(command)}\n{err.read()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024
