"""The README's main command, run the way the Makefile runs it: ``make run`` with a relative
``LOCAL`` home. The training hosts work in the run folder, not in the directory ``make`` was
started from, so every path handed to them must survive that change of directory.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local_mode.test_end_to_end import TINY

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.ddp
def test_make_run_works_with_a_relative_home(tmp_path):
    venv = Path(sys.executable).parent.parent
    home = Path(os.path.relpath(tmp_path / "local", REPO))
    assert not home.is_absolute()
    tiny = [a for a in TINY if a not in ("--dataset", "demo")]
    command = [
        "make", "--no-print-directory", "-C", str(REPO), "run",
        f"VENV={venv}", "-o", f"{venv}/.installed",  # this interpreter, no setup
        f"LOCAL={home}", "DATASET=demo", "ARGS=" + shlex.join(["--threshold", "100", *tiny]),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "registered:     ts-forecasting version 1 (PendingManualApproval)" in done.stdout
    assert "PendingManualApproval -> Approved" in done.stdout
    assert next((tmp_path / "local/s3").rglob("report.html")).is_file()
