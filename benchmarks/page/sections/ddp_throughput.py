"""Informer training throughput and DDP scaling (ddp_throughput.json, ddp_allreduce.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, number, ratio, table
from benchmarks.page.results import load, source
from benchmarks.page.targets import TARGETS

SCALING = TARGETS["ddp_scaling"]


def section() -> list[str]:
    data, reduce_ = load("ddp_throughput"), load("ddp_allreduce")
    lines = [
        "## Informer training throughput and DDP scaling",
        "",
        "Through the real training entry point on the ETTh1 channels, median of 3 runs, the "
        "first epoch of each run not counted "
        "(`python benchmarks/ddp_throughput.py --sizes default paper`). Target: two DDP ranks on "
        f"the two cores at **{SCALING.bound}** one rank. Two scalings, each against one rank "
        "with a batch of 32: *strong* keeps the global batch at 32, split across ranks "
        "(training unchanged, each rank's step half as big); *weak* keeps 32 windows per rank "
        "(global batch 64), the usual convention of DDP scaling studies, where each device's "
        "step is unchanged. The "
        "peer that bounds both, *independent*: two one-rank runs started together that never "
        "communicate, their windows/s summed: what the two cores give two copies of the step. "
        "The peer that bounds strong scaling, *half batch*: one rank with 16 windows per step, "
        "the step each rank of a strong-scaling run takes. Runs are interleaved (each round "
        "runs every layout once).",
        "",
    ]
    if data is None:
        return lines + missing("ddp_throughput", "python benchmarks/ddp_throughput.py")
    sizes = list(dict.fromkeys(r["size"] for r in data["rows"]))
    ceiling = {r["size"]: r for r in data["rows"] if r["scaling"] == "independent"}
    rows = []
    for r in data["rows"]:
        ddp = r["layout"].startswith("2 ") and r["scaling"] != "independent"
        verdict = SCALING.verdict(r["vs_1x1"]) if ddp else ""
        bound = ceiling.get(r["size"])
        share = r["windows_per_s"] / bound["windows_per_s"] if ddp and bound else None
        rows.append(
            [
                r["size"],
                r["layout"],
                r["scaling"],
                str(r["batch_per_rank"]),
                f"{r['windows_per_s']:.1f}",
                f"{r['min']:.1f}–{r['max']:.1f}",
                ratio(r["vs_1x1"], 3),
                f"{share:.0%}" if share else "",
                verdict,
                source("ddp_throughput"),
            ]
        )
    lines += table(
        [
            "size",
            "layout",
            "scaling",
            "batch per rank",
            "windows/s (median)",
            "range",
            "vs 1 rank × 1 thread",
            "of the independent runs' rate",
            f"{SCALING.limit_text} target",
            "source",
        ],
        rows,
    )
    half = {r["size"]: r for r in data["rows"] if r["scaling"] == "half batch"}
    for size, bound in ceiling.items():
        verdict = "above" if SCALING.met(bound["vs_1x1"]) else "below"
        lines += [
            f"**{size} size:** two independent runs reach {bound['vs_1x1']:.2f}× one run, "
            f"{verdict} the {SCALING.limit_text} target: on this machine that is the most any "
            "2-rank layout could show."
        ]
        if size in half:
            h = half[size]["vs_1x1"]
            lines[-1] += (
                f" One rank with half the batch runs at {h:.2f}× the windows/s of one rank with "
                f"all of it, so two ranks that split the batch can reach at most {2 * h:.2f}× "
                f"even with free communication; with the cores' ceiling as well, about "
                f"{h * bound['vs_1x1']:.2f}× (the product of the two losses)."
            )
        lines.append("")
    lines += [
        f"![Training windows/s per layout against the {SCALING.limit_text} target]"
        "(img/ddp_scaling.png)",
        "",
        f"Sizes: {', '.join(sizes)} (default: d_model 64, 4 heads, d_ff 128, full attention, "
        "RevIN; paper: d_model 512, 8 heads, d_ff 2048, ProbSparse). At the paper's size the "
        "step is matrix-multiply bound. The small default model's step is short enough that its "
        "fixed per-step cost (Python, optimizer, kernel launches) weighs, the more so when each "
        "rank's batch is halved (strong scaling). Runs on this shared 2-core machine vary by up "
        "to a fifth: read the ranges.",
        "",
    ]
    if reduce_ is None:
        return lines + missing("ddp_allreduce", "python benchmarks/ddp_allreduce.py")
    lines += [
        "**Gradient all-reduce per step** (`" + reduce_["command"] + "`): two gloo ranks × 1 "
        "thread all-reduce a flat fp32 tensor the size of the model's gradients "
        f"({reduce_['iterations']} iterations after a warm-up, median; median over "
        f"{reduce_['repeats']} fresh process groups, with the range). Peer in the same "
        "processes: an in-place local add of the same tensor. The share of the step divides by "
        "the 2-rank step time from `ddp_throughput.json` (a different run). DDP itself sends "
        "~25 MB buckets and overlaps them with the backward pass, so this is an upper bound on "
        "the exposed communication.",
        "",
    ]
    shares = {r["size"]: r["share_of_step"] for r in reduce_["rows"] if r["share_of_step"]}
    ddp_ratio = {
        r["size"]: r["vs_1x1"]
        for r in data["rows"]
        if r["layout"] == "2 ranks x 1 thread" and r["scaling"] == "strong"
    }
    rows = []
    for r in reduce_["rows"]:
        s = r["all_reduce_s"]
        rows.append(
            [
                r["size"],
                f"{r['parameters']:,}",
                f"{r['megabytes']:.2f}",
                f"{r['all_reduce_ms']:.2f}",
                f"{s['min'] * 1e3:.2f}–{s['max'] * 1e3:.2f}",
                f"{r['local_add_ms']:.3f}",
                ratio(r["all_reduce_vs_local_add"], 1),
                number(r["step_ms_2_ranks"]),
                "–" if r["share_of_step"] is None else f"{100 * r['share_of_step']:.1f}%",
                source("ddp_allreduce"),
            ]
        )
    lines += table(
        [
            "size",
            "parameters",
            "MB",
            "all-reduce ms",
            "range",
            "local add ms",
            "all-reduce / add",
            "2-rank step ms",
            "share of step",
            "source",
        ],
        rows,
    )
    for size, share in shares.items():
        if size in ddp_ratio:
            lines += [
                f"At the {size} size two ranks reach {ddp_ratio[size]:.2f}× one rank (ideal 2×); "
                f"the whole gradient all-reduce is {100 * share:.1f}% of a 2-rank step, against "
                f"the {100 * (2 / ddp_ratio[size] - 1):.0f}% by which that step is longer than "
                "ideal.",
                "",
            ]
    return lines


def target_rows() -> list[list[str]]:
    """Two DDP ranks against one, per size and scaling."""
    ddp = load("ddp_throughput")
    return [
        [
            f"DDP 2 ranks {SCALING.bound} one rank ({r['size']} size, {r['scaling']} scaling)",
            ratio(r["vs_1x1"], 3),
            SCALING.verdict(r["vs_1x1"]),
            "[DDP](#informer-training-throughput-and-ddp-scaling)",
        ]
        for r in (ddp or {}).get("rows", [])
        if r["layout"] == "2 ranks x 1 thread"
    ]
