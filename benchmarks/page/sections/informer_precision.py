"""Informer precision and FLOP utilisation (informer_precision.json)."""

from __future__ import annotations

from benchmarks.page.anchors import anchor, paper_informer
from benchmarks.page.format import missing, ratio, table
from benchmarks.page.results import load, source
from benchmarks.page.targets import TARGETS

SPEED, MFU = TARGETS["informer_paper_speed"], TARGETS["informer_mfu"]

PRECISION_NAMES = {
    "32": "fp32 (`32`)",
    "bf16-mixed": "bf16 autocast (`bf16-mixed`)",
    "16-mixed": "fp16 autocast (`16-mixed`)",
}


def section() -> list[str]:
    data = load("informer_precision")
    lines = ["## Informer precision and FLOP utilisation", ""]
    if data is None:
        return lines + missing("informer_precision", "python benchmarks/informer_precision.py")
    lines += [
        f"The official code's configuration for ETTh1 M/24 (`{' '.join(data['arguments'])}`) "
        f"through our training entry point, one rank × {data['threads']} threads, "
        f"{data['batches_per_epoch']} batches per epoch, the first epoch not counted, "
        f"`--precision 32` against `--precision bf16-mixed` (Lightning's autocast), "
        f"{data['repeats']} interleaved rounds (`{data['command']}`). Model FLOP utilisation "
        f"(MFU): the training FLOPs per window, {data['gflop_per_window']:.2f} GFLOP by "
        "PyTorch's FLOP counter (forward + backward; the anchors count "
        f"{anchor('official_gflop_per_window')} for the official "
        "code), times windows/s, over the matrix-multiply peak of the same precision and "
        "threads measured in the same rounds (median of 10 products of 2048 × 2048 matrices, "
        "in a fresh process). The official code's "
        f"{data['official_windows_per_s']:.0f} windows/s (fp32, same configuration and "
        "threads, this kind of machine) is from the anchors, not this run.",
        "",
    ]
    rows = [
        [
            PRECISION_NAMES.get(r["precision"], r["precision"]),
            f"{r['windows_per_s']:.1f}",
            f"{r['min']:.1f}–{r['max']:.1f}",
            f"{r['gflop_per_s']:.0f}",
            f"{r['peak_gflop_per_s']:.0f} ({r['peak_min']:.0f}–{r['peak_max']:.0f})",
            f"{r['mfu']:.0%}",
            ratio(r["vs_fp32"]),
            ratio(r["vs_official_fp32"]),
            source("informer_precision"),
        ]
        for r in data["rows"]
    ]
    lines += table(
        [
            "precision",
            "windows/s (median)",
            "range",
            "achieved GFLOP/s",
            "matmul peak GFLOP/s (range)",
            "MFU",
            "vs fp32 (same run)",
            "vs the official code's fp32 (across runs)",
            "source",
        ],
        rows,
    )
    peaks = anchor("matmul_peak_gflop_per_s_2_threads")
    lines += [
        "On this CPU bf16 matrix multiplies run at about four times the fp32 rate (AVX512-BF16), "
        "so under autocast the step's other work weighs more: dropout masks, layer norms, "
        "softmax, the casts of the weights, the optimizer. The dropout mask is drawn four "
        "elements per 64-bit random number for that reason (`informer/dropout.py`). The "
        f"anchors measured lower peaks on this kind of machine (fp32 {peaks['fp32']}, bf16 "
        f"{peaks['bf16']} GFLOP/s on 2 threads); the MFU here divides by the peaks measured in "
        "the same rounds.",
        "",
    ]
    return lines


def target_rows() -> list[list[str]]:
    """The two paper-size Informer targets: speed against the official code, and MFU."""
    precision, peer = load("informer_precision"), load("informer_peer")
    speed = f"Informer at paper size: {SPEED.bound} the official code's windows/s, equal accuracy"
    mfu_target = (
        f"Informer model FLOP utilisation {MFU.bound} of the matmul peak of the precision used"
    )
    if precision is None:
        return [[speed, "not measured yet", "–", ""], [mfu_target, "not measured yet", "–", ""]]
    short = {"32": "fp32", "bf16-mixed": "bf16"}
    by = {short.get(r["precision"], r["precision"]): r for r in precision["rows"]}
    best_name, best = max(by.items(), key=lambda item: item[1]["windows_per_s"])
    official_bf16 = load("informer_etth1_official_bf16")
    accuracy, accurate = "accuracy under bf16 not measured", False
    if official_bf16:
        mse = official_bf16["rows"][0]["mse"]
        paper_mse = paper_informer(24)[0]
        accurate = mse <= paper_mse
        accuracy = (
            f"ETTh1 M/24 test MSE in this configuration under bf16: {mse:.3f} (the official "
            f"code fp32 on this kind of machine {anchor('official_etth1_here')[0]:.3f}, the paper "
            f"{paper_mse:.3f})"
        )
    measured = (
        f"{best_name}: {best['windows_per_s']:.1f} windows/s = "
        f"{best['vs_official_fp32']:.2f}× the official code's "
        f"{precision['official_windows_per_s']:.0f} "
        "(same configuration and threads; anchors, **across runs**); fp32 "
        f"{by['fp32']['vs_official_fp32']:.2f}×; {accuracy}"
    )
    row = next((r for r in (peer or {}).get("rows", []) if r["size"] == "paper"
                and r["variant"] == "ours-prob"), None)  # fmt: skip
    if row:
        measured += (
            f"; side by side, fp32, 1 thread: {row['vs_neuralforecast']:.2f}× "
            "neuralforecast's Informer"
        )
    met = [p for p in by if MFU.met(by[p]["mfu"])]
    missed = [p for p in by if p not in met]
    mfu_status = "met" if not missed else "**not met**"
    if met and missed:
        mfu_status = f"met for {', '.join(met)}; **not met** for {', '.join(missed)}"
    section = "[precision](#informer-precision-and-flop-utilisation)"
    return [
        [
            speed,
            measured,
            ("met" if SPEED.met(best["vs_official_fp32"]) and accurate else "**not met**")
            + ", speed across runs",
            section + ", [peer](#informer-against-neuralforecast)",
        ],
        [
            mfu_target,
            "; ".join(
                f"{p}: {r['mfu']:.0%} of {r['peak_gflop_per_s']:.0f} GFLOP/s" for p, r in by.items()
            ),
            mfu_status,
            section,
        ],
    ]
