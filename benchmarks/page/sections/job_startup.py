"""Job start-up with the packages baked in against installing them at start (job_startup.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, table
from benchmarks.page.results import load, source


def section() -> list[str]:
    data = load("job_startup")
    lines = [
        "## Job start-up",
        "",
        "Seconds from a training job's process start to its first training step: the train "
        "step (default Informer, synthetic demo set, one thread) in a fresh process, stopped by "
        "a callback at its first batch. **Baked**: in an environment that already holds "
        "`model_build/image/requirements.txt`, as the project image does. **Install at start**: "
        "in an environment that holds only torch (the AWS image's part), `pip install -r "
        "model_build/image/requirements.txt` and then the same process, as the jobs did before "
        "the project image. pip installs from a local wheelhouse, so no download is timed: that "
        "side is a lower bound on what a job paid fetching from PyPI. The sides alternate in one "
        "run (`nice -n 10 python benchmarks/job_startup.py`).",
        "",
    ]
    if data is None:
        return lines + missing("job_startup", "python benchmarks/job_startup.py")
    rows = [
        [label, f"{d['median']:.1f}", f"{d['min']:.1f}–{d['max']:.1f}", d["runs"],
         source("job_startup")]
        for label, d in (
            ("baked (project image)", data["baked"]),
            ("pip install at start, local wheels", data["install_at_start"]),
        )
    ]  # fmt: skip
    lines += table(["start-up", "seconds (median)", "range", "runs", "source"], rows)
    lines += [
        f"Installing at start added {data['install_minus_baked_seconds']:.1f} s (medians) for "
        f"{data['wheels_installed']} wheels ({data['wheels_mib']:.0f} MiB) already on disk; a "
        "job also downloaded them, and resolved them without hashes.",
        "",
    ]
    return lines
