"""ProbSparse attention's cost against the input length (probsparse_scaling.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, n_log_n_exponent, number, ratio, table
from benchmarks.page.results import load, source
from benchmarks.page.targets import TARGETS


def section() -> list[str]:
    data = load("probsparse_scaling")
    lines = ["## ProbSparse scaling", ""]
    if data is None:
        return lines + missing("probsparse_scaling", "python benchmarks/probsparse_scaling.py")
    cfg = data["config"]
    lines += [
        f"One training step (forward + backward, fp32, one thread) of the encoder self-attention "
        f"at batch {cfg['batch']}, d_model {cfg['d_model']}, {cfg['heads']} heads, factor "
        f"c = {cfg['factor']}, against the input length L (`{data['command']}`). Each point "
        f"runs in a fresh process; the points are interleaved and the sweep repeated "
        f"{cfg['repeats']} times; times are the median over those processes (range in the "
        "JSON and the plot). Memory is the growth of the process's peak RSS over its RSS just "
        "before the first step, so it counts what the step allocates and not the interpreter "
        "(the CPU build of torch keeps no allocator statistics).",
        "",
        "* `full`: `FullAttention`, torch's fused scaled-dot-product attention;",
        "* `prob`: `ProbAttention` as shipped: it ranks the queries on U = c·⌈ln L⌉ sampled "
        "keys each (the paper's O(L·log L) sampling), their scores computed on CPU as one "
        "sampled matrix product (SDDMM, `torch.sparse.sampled_addmm`), nothing gathered, "
        "except for short inputs, L ≤ 4·U (here L = 96), where reading them from the dense "
        "QKᵀ (without gradients) is faster;",
        "* `prob-gather`: the same with the sampled keys gathered a few queries at a time "
        "(this project's ranking before the SDDMM, for L > 8·U), forced in the benchmark only;",
        "* `prob-dense`: the same with the ranking read from the dense QKᵀ, without gradients "
        "(the ranking before that), forced in the benchmark only;",
        "* unit `layer`: `AttentionLayer` with its four d_model × d_model projections (what an "
        "encoder layer pays); unit `inner`: the inner attention alone on per-head Q, K, V.",
        "",
    ]
    lengths = data["lengths"]
    for unit in data["units"]:
        points = data["points"][unit]
        header = ["variant", *(f"L={n}" for n in lengths)]
        rows = []
        for variant in data["variants"]:
            rows.append(
                [f"{variant}, s", *(f"{p['seconds']['median']:.3g}" for p in points[variant])]
            )
        if "full" in points:
            for variant in data["variants"]:
                if variant == "full":
                    continue
                rows.append(
                    [
                        f"full / {variant} (time)",
                        *(
                            ratio(f["seconds"]["median"] / p["seconds"]["median"])
                            for f, p in zip(points["full"], points[variant], strict=True)
                        ),
                    ]
                )
        for variant in data["variants"]:
            rows.append(
                [f"{variant}, MiB", *(f"{p['peak_mib']['median']:.0f}" for p in points[variant])]
            )
        lines += [f"**Unit `{unit}`** ({source('probsparse_scaling')}):", ""]
        lines += table(header, rows)
    ref = data["reference_exponents"]
    lines += [
        f"**Growth exponents** (least-squares slope of log value on log L over {lengths[0]}–"
        f"{lengths[-1]}, and over the upper three lengths): for comparison, L has slope 1, "
        f"L·log L has {ref['L log L']:.2f} over this range, L² has 2.",
        "",
    ]
    rows = []
    upper = f"{lengths[-3]}–{lengths[-1]}"
    for e in data["exponents"]:
        rows.append(
            [
                e["unit"],
                e["variant"],
                f"{e['time_exponent']:.2f}",
                f"{e['time_exponent_longest3']:.2f}",
                f"{e['memory_exponent']:.2f}",
                f"{e['memory_exponent_longest3']:.2f}",
                source("probsparse_scaling"),
            ]
        )
    lines += table(
        [
            "unit",
            "variant",
            "time exponent",
            f"time exponent {upper}",
            "memory exponent",
            f"memory exponent {upper}",
            "source",
        ],
        rows,
    )
    rows = [
        [key, number(c["length"]) if c["length"] else "–", c["note"]]
        for key, c in data["crossover"].items()
    ]
    lines += [
        "**Crossover** (the length from which the variant's step is faster than full "
        "attention's at every longer length measured):",
        "",
    ]
    lines += table(["unit / variant", "crossover L", "how"], rows)
    longest = {v: data["points"][data["units"][-1]][v][-1] for v in data["variants"]}
    if "full" in longest and "prob" in longest:
        full_mib = longest["full"]["peak_mib"]["median"]
        ratios = ", ".join(
            f"`{v}` {longest[v]['peak_mib']['median'] / full_mib:.1f}×"
            for v in data["variants"]
            if v != "full"
        )
        lines += [
            f"At L = {lengths[-1]} the step's memory against full attention's (unit "
            f"`{data['units'][-1]}`): {ratios}. Full attention here is torch's fused "
            "scaled-dot-product kernel, which on CPU never holds the L × L scores, so its "
            "memory grows about linearly; `prob-dense` holds the dense QKᵀ for the ranking, "
            "L² per head; `prob` holds the u × L scores of its active queries and the U × L "
            "sampled scores, `prob-gather` also a 1 MiB chunk of gathered keys. The time "
            "exponents of the `layer` unit are pulled towards "
            "1 by its projections, which are linear in L.",
            "",
        ]
    lines += [
        "![Step time and memory against input length, log-log](img/probsparse_scaling.png)",
        "",
    ]
    return lines


def target_rows() -> list[list[str]]:
    """ProbSparse time and memory growth against L·log L, attention alone as shipped."""
    ps = load("probsparse_scaling")
    if ps is None:
        return []
    excess = TARGETS["probsparse_excess_exponent"]
    ref = ps["reference_exponents"]["L log L"]
    lengths = ps["lengths"]
    upper = n_log_n_exponent(lengths[-3:])
    rows = []
    for e in ps["exponents"]:  # the claim is about attention itself, not the projections
        if e["variant"] != "prob" or e["unit"] != "inner":
            continue
        for what in ("time", "memory"):
            exponent = e[f"{what}_exponent"]
            rows.append(
                [
                    f"ProbSparse {what} growth ≤ L·log L (attention alone, as shipped)",
                    f"exponent {exponent:.2f} over L = {lengths[0]}–{lengths[-1]} "
                    f"(L·log L: {ref:.2f}, L²: 2); {e[f'{what}_exponent_longest3']:.2f} "
                    f"over {lengths[-3]}–{lengths[-1]} (L·log L: {upper:.2f})",
                    excess.verdict(exponent - ref),
                    "[ProbSparse](#probsparse-scaling)",
                ]
            )
    return rows
