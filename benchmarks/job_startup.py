"""Job start-up: process start to the first training step, with the packages baked into the
environment (the project image) against installing them when the job starts (the old jobs).

Both sides run the train step (the default Informer on the synthetic demo set, one thread) in a
fresh process and stop it at its first training batch: a Lightning callback, added by
``job_startup_child.py``, records the wall clock there and exits. Alternating, ``--repeats``
rounds of:

* ``baked``: the child in this environment, where model_build/image/requirements.txt is
  satisfied, as in the project image;
* ``install at start``: in a second virtual environment that holds only torch (the AWS image's
  part), ``pip install -r model_build/image/requirements.txt`` and then the child, timed
  together. pip installs from a local wheelhouse (``--no-index``), filled once before timing:
  no download is timed, so this side is a lower bound on what a job paid with PyPI across a
  network. Between rounds the installed packages are removed again (not timed).

    nice -n 10 python benchmarks/job_startup.py --repeats 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import print_table, spread, write_result

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "model_build" / "image" / "requirements.txt"
CHILD = Path(__file__).parent / "job_startup_child.py"
TORCH = "torch"  # already in the AWS image: installed in the fresh environment before timing


def run(command: list[str], **kwargs: Any) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")


def first_step_seconds(python: Path, channels: Path, work: Path, before: list[str]) -> float:
    """Seconds from the start of ``before`` (if any) and the child to its first training step."""
    stamp = work / "first_step"
    stamp.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "model_build"), "FIRST_STEP_FILE": str(stamp),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    started = time.time()
    if before:
        run(before, env=env)
    run([str(python), str(CHILD), "--train", str(channels / "train"),
         "--validation", str(channels / "validation"), "--model-dir", str(work / "model"),
         "--output-data-dir", str(work / "output"), "--max-epochs", "1",
         "--progress-bar", "false"], env=env, cwd=work)  # fmt: skip
    return float(stamp.read_text()) - started


def pins() -> list[str]:
    return [
        line.split("#")[0].strip()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.split("#")[0].strip()
    ]


def prepare(work: Path) -> tuple[Path, Path, Path, list[str]]:
    """The channels, the wheelhouse and a fresh environment holding torch only."""
    channels = work / "channels"
    run([sys.executable, "-m", "forecasting.steps.preprocess", "--model", "informer",
         "--dataset", "demo", "--output-dir", str(channels)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "model_build")})  # fmt: skip
    wheelhouse = work / "wheelhouse"
    torch_pin = next(p for p in pins() if p.startswith(f"{TORCH}=="))
    # this machine's torch is the CPU build from its local wheel folder
    local_torch = f"{torch_pin}+cpu"
    run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheelhouse),
         "-r", str(REQUIREMENTS), local_torch])  # fmt: skip
    fresh = work / "fresh"
    run([sys.executable, "-m", "venv", str(fresh)])
    python = fresh / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
         str(wheelhouse), local_torch])  # fmt: skip
    baseline = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True,
                              text=True, check=True).stdout.split()  # fmt: skip
    return channels, wheelhouse, python, baseline


def reset(python: Path, baseline: list[str]) -> None:
    """Uninstall what the timed pip added: the environment holds torch only again."""
    now = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    added = [line.split("==")[0] for line in now if line not in baseline]
    if added:
        run([str(python), "-m", "pip", "uninstall", "--quiet", "-y", *added])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"baked": [], "install": []}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        channels, wheelhouse, python, baseline = prepare(work)
        wheels = sorted(p for p in wheelhouse.iterdir() if not p.name.startswith(f"{TORCH}-"))
        wheel_mib = sum(p.stat().st_size for p in wheels) / 2**20
        install = [str(python), "-m", "pip", "install", "--quiet", "--no-index",
                   "--find-links", str(wheelhouse), "-r", str(REQUIREMENTS)]  # fmt: skip
        for round_ in range(args.repeats):
            order = ["baked", "install"] if round_ % 2 == 0 else ["install", "baked"]
            for side in order:
                if side == "baked":
                    seconds = first_step_seconds(Path(sys.executable), channels, work, [])
                else:
                    reset(python, baseline)
                    seconds = first_step_seconds(python, channels, work, install)
                runs[side].append(seconds)
                print(f"round {round_} {side}: {seconds:.1f} s", flush=True)
        shutil.rmtree(work / "fresh", ignore_errors=True)
    baked, installed = spread(runs["baked"]), spread(runs["install"])
    rows = [
        {"start-up": "baked (project image)", **baked},
        {"start-up": "pip install at start (local wheels)", **installed},
    ]
    print_table(rows, ["start-up", "median", "min", "max", "runs"])
    write_result(
        "job_startup",
        {
            "baked": {**baked, "seconds": runs["baked"]},
            "install_at_start": {**installed, "seconds": runs["install"]},
            "install_minus_baked_seconds": installed["median"] - baked["median"],
            "wheels_installed": len(wheels),
            "wheels_mib": wheel_mib,
            "job": "train step, default Informer, synthetic demo set, one thread, "
            "stopped at the first training batch",
        },
    )


if __name__ == "__main__":
    main()
