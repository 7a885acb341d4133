"""Local mode's cost of running the definition and its jobs as SageMaker does
(local_mode_overhead.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, table
from benchmarks.page.results import load, source


def section() -> list[str]:
    data = load("local_mode_overhead")
    lines = [
        "## Local mode: interpreter and training toolkit overhead",
        "",
        "What running the pipeline definition and its training jobs as SageMaker runs them costs "
        "`make run`, against the previous runner, side by side in one run "
        "(`python benchmarks/local_mode_overhead.py --repeats 3`). Both jobs train the same "
        "one-batch Informer on one host and one thread from the same preprocessed demo data, "
        "alternating, after one warm-up each: **toolkit** starts the `train` program of "
        "`sagemaker-training` with `sagemaker-pytorch-training` on its own "
        "`SAGEMAKER_BASE_DIR`, as local mode does now for CPU instance types; "
        "**toolkit-torchrun** the same for GPU instance types (`training.json`'s default), where "
        "the toolkit starts the program under `torchrun`; **direct** starts `entry_train.py` with "
        "the `SM_*` variables set by local mode, as the previous runner did. The first column "
        "is the time from the job's start to its first epoch line (one batch trained and "
        "validated).",
        "",
    ]
    if data is None:
        return lines + missing("local_mode_overhead", "python benchmarks/local_mode_overhead.py")
    results = data["results"]
    rows = []
    for variant in ("toolkit", "toolkit-torchrun", "direct"):
        if variant not in results:
            continue
        first, end = results[variant]["first_epoch_seconds"], results[variant]["job_seconds"]
        rows.append(
            [
                variant,
                f"{first['median']:.2f}",
                f"{first['min']:.2f}–{first['max']:.2f}",
                f"{end['median']:.2f}",
                source("local_mode_overhead"),
            ]
        )
    lines += table(
        ["job", "start to first epoch s (median)", "range", "whole job s (median)", "source"],
        rows,
    )
    interpreter = results["interpreter_seconds"]["median"] * 1000
    whole = results["toolkit"]["job_seconds"]["median"] - results["direct"]["job_seconds"]["median"]
    lines += [
        f"The toolkit adds **{results['toolkit_overhead_seconds']:+.1f} s** before the first "
        + (
            f"step (**{results['toolkit_torchrun_overhead_seconds']:+.1f} s** under torchrun; "
            if "toolkit_torchrun_overhead_seconds" in results
            else "step ("
        )
        + f"its start-up before it runs the program: imports, reading and logging the "
        f"environment) and {whole:+.1f} s over the whole job, once per training job: the "
        "simulated hosts start in parallel. Building, planning and evaluating the "
        f"definition takes {interpreter:.0f} ms.",
        "",
    ]
    return lines
