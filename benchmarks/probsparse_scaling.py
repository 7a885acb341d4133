"""ProbSparse against full self-attention: step time and peak memory as the input length grows.

One training step (forward + backward, fp32, one thread) of the encoder's self-attention at the
paper's width (d_model 512, 8 heads, factor c = 5), batch 8, for input lengths 96 ... 1536, in
two units:

* ``layer``: `AttentionLayer` (the Q/K/V/output projections around the inner attention), the
  cost an encoder layer pays for attention;
* ``inner``: the inner attention alone on per-head Q, K, V that require gradients, which isolates
  the part whose cost the paper claims grows as L·log L instead of L².

Variants: ``full`` (`FullAttention`: torch's fused scaled-dot-product attention), ``prob``
(`ProbAttention` as shipped: it ranks the queries on U = c·⌈ln L⌉ sampled keys each, the paper's
O(L·log L) sampling, computed on CPU as one sampled matrix product, SDDMM, except for short
inputs, L ≤ 4·U, where reading them from the dense QKᵀ is faster), and two peers with
the ranking's scores computed otherwise, forced by choosing `sampled_scores`'s method:
``prob-gather`` (the sampled keys gathered in chunks, O(L·log L) too; this project's ranking
before the SDDMM, above L = 8·U) and ``prob-dense`` (read from the dense QKᵀ, computed without
gradients, O(L²); the ranking before that).

Every (variant, unit, length) point runs in its own fresh process, one warm-up step then
at least ``--steps`` timed steps, more (up to 20) until they add up to ``--min-seconds``; their
median is the process's time; the points are interleaved and the
whole sweep repeated ``--repeats`` times, so each reported time is the median over that many
processes, with the min-max range. Memory is the growth of the process's peak resident set
(VmHWM, from /proc/self/status) over its resident set just before the first step: it counts
what torch allocates for the step (activations, saved tensors, gradients, kernel workspaces),
not the interpreter or torch itself. The CPU build has no allocator statistics to read instead.

    python benchmarks/probsparse_scaling.py            # the documented sweep
    python benchmarks/probsparse_scaling.py --quick    # 96 ... 768 into *_quick.json, no plot
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from machine import print_table, spread, write_result

VARIANTS = ("full", "prob", "prob-gather", "prob-dense")
UNITS = ("layer", "inner")
LENGTHS = (96, 192, 384, 768, 1536)
PLOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "probsparse_scaling.png"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _attention_module() -> Any:
    """forecasting/models/informer/attention.py, loaded on its own: it needs only torch, while the
    package's __init__ imports Lightning (seconds of start-up in every one of the processes)."""
    import importlib.util

    package = importlib.util.find_spec("forecasting")
    if package is None or not package.submodule_search_locations:
        raise SystemExit("the forecasting package is not installed (pip install -e model_build)")
    path = Path(package.submodule_search_locations[0]) / "models" / "informer" / "attention.py"
    spec = importlib.util.spec_from_file_location("informer_attention", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def worker(variant: str, unit: str, length: int, cfg: dict[str, int]) -> dict[str, Any]:
    """One point, in this (fresh) process: median step seconds and peak memory growth (MiB)."""
    import torch

    attention = _attention_module()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if variant in ("prob-gather", "prob-dense"):
        forced = variant.removeprefix("prob-")
        attention.ranking_method = lambda *_: forced
        attention._GATHER_CHUNK = 1 << 18  # 1 MiB of fp32 keys: what the CPU path used
    inner = (
        attention.FullAttention(causal=False, dropout=0.0)
        if variant == "full"
        else attention.ProbAttention(causal=False, factor=cfg["factor"])
    )
    batch, d_model, heads = cfg["batch"], cfg["d_model"], cfg["heads"]
    if unit == "layer":
        module = attention.AttentionLayer(inner, d_model, heads).train()
        x = torch.randn(batch, length, d_model, requires_grad=True)
        inputs: tuple[torch.Tensor, ...] = (x, x, x)
    else:
        module = inner.train()
        shape = (batch, heads, length, d_model // heads)
        inputs = tuple(torch.randn(shape, requires_grad=True) for _ in range(3))

    def step() -> None:
        module.zero_grad(set_to_none=True)
        for t in inputs:
            t.grad = None
        module(*inputs).square().mean().backward()

    before = _status_kib("VmRSS")
    step()  # warm-up: first-touch of buffers, kernel selection
    seconds: list[float] = []
    while len(seconds) < cfg["steps"] or (sum(seconds) < cfg["min_seconds"] and len(seconds) < 20):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    peak = _status_kib("VmHWM")
    return {"seconds": statistics.median(seconds), "peak_mib": (peak - before) / 1024}


def run_point(variant: str, unit: str, length: int, cfg: dict[str, int]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", variant, unit, str(length),
               "--config", json.dumps(cfg)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def slope(lengths: list[int], values: list[float]) -> float:
    """Least-squares slope of log(value) on log(L): the growth exponent over the range."""
    xs = [math.log(n) for n in lengths]
    ys = [math.log(max(v, 1e-12)) for v in values]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def reference_exponents(lengths: list[int]) -> dict[str, float]:
    """The log-log slopes that L, L·log L and L² themselves have over these lengths."""
    return {
        "L": 1.0,
        "L log L": slope(lengths, [n * math.log(n) for n in lengths]),
        "L^2": 2.0,
    }


def crossover(lengths: list[int], fast: list[float], slow: list[float]) -> dict[str, Any]:
    """The length from which ``fast`` beats ``slow`` at every longer measured length too,
    interpolated log-log between the two measured points around it."""
    ratio = [math.log(f / s) for f, s in zip(fast, slow, strict=True)]  # < 0: fast is faster
    if ratio[-1] >= 0:
        return {"length": None, "note": f"not faster at the longest length ({lengths[-1]})"}
    last_slower = max((i for i, r in enumerate(ratio) if r >= 0), default=None)
    if last_slower is None:
        return {"length": None, "note": f"faster at every length measured (from {lengths[0]})"}
    i = last_slower + 1
    a, b = math.log(lengths[i - 1]), math.log(lengths[i])
    at = a + (b - a) * ratio[i - 1] / (ratio[i - 1] - ratio[i])
    note = f"between {lengths[i - 1]} and {lengths[i]}, log-log interpolation"
    if any(r < 0 for r in ratio[:last_slower]):
        note += "; also faster at some shorter lengths (within the noise there)"
    return {"length": round(math.exp(at)), "note": note}


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = result["lengths"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {
        "full": ("C3", "o"),
        "prob": ("C0", "s"),
        "prob-gather": ("C1", "v"),
        "prob-dense": ("C2", "^"),
    }
    for ax, (metric, label) in zip(
        axes,
        (("seconds", "step time, s (median)"), ("peak_mib", "peak memory growth, MiB")),
        strict=True,
    ):
        for unit in result["units"]:
            line = "-" if unit == "layer" else ":"
            for variant in result["variants"]:
                points = result["points"][unit][variant]
                values = [p[metric]["median"] for p in points]
                color, marker = styles[variant]
                ax.plot(lengths, values, line, color=color, marker=marker,
                        label=f"{variant}, {unit}")  # fmt: skip
                if metric == "seconds":
                    low = [p[metric]["min"] for p in points]
                    high = [p[metric]["max"] for p in points]
                    ax.fill_between(lengths, low, high, color=color, alpha=0.12)
        # reference slopes through the full-attention layer's first point
        first = result["points"]["layer"]["full"][0][metric]["median"]
        base = lengths[0] * math.log(lengths[0])
        square = [first * (n / lengths[0]) ** 2 for n in lengths]
        n_log_n = [first * n * math.log(n) / base for n in lengths]
        ax.plot(lengths, square, color="grey", lw=0.8, ls="--", label="∝ L²")
        ax.plot(lengths, n_log_n, color="grey", lw=0.8, ls="-.", label="∝ L·log L")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(lengths, [str(n) for n in lengths])
        ax.set_xlabel("input length L")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    cfg = result["config"]
    fig.suptitle(
        f"Encoder self-attention, forward+backward, batch {cfg['batch']}, d_model "
        f"{cfg['d_model']}, {cfg['heads']} heads, c={cfg['factor']}, 1 thread "
        f"(median of {cfg['repeats']} processes)",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def analyse(
    raw: dict[tuple[str, str, int], list[dict[str, Any]]],
    lengths: list[int],
    units: list[str],
    variants: list[str],
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """Per-point medians and ranges, growth exponents, crossovers and the printed rows."""
    points: dict[str, dict[str, list[dict[str, Any]]]] = {}
    rows, exponents, crossovers = [], [], {}
    for unit in units:
        points[unit] = {}
        for variant in variants:
            series = []
            for length in lengths:
                runs = raw[(unit, variant, length)]
                series.append(
                    {
                        "length": length,
                        "seconds": spread([r["seconds"] for r in runs]),
                        "peak_mib": spread([r["peak_mib"] for r in runs]),
                        "runs": runs,
                    }
                )
            points[unit][variant] = series
            times = [p["seconds"]["median"] for p in series]
            memory = [p["peak_mib"]["median"] for p in series]
            exponents.append(
                {
                    "unit": unit,
                    "variant": variant,
                    "time_exponent": slope(lengths, times),
                    "time_exponent_longest3": slope(lengths[-3:], times[-3:]),
                    "memory_exponent": slope(lengths, memory),
                    "memory_exponent_longest3": slope(lengths[-3:], memory[-3:]),
                }
            )
        full = points[unit].get("full")
        for variant in VARIANTS[1:]:
            if full and variant in points[unit]:
                mine = [p["seconds"]["median"] for p in points[unit][variant]]
                crossovers[f"{unit}/{variant}"] = crossover(
                    lengths, mine, [p["seconds"]["median"] for p in full]
                )
                for p, f in zip(points[unit][variant], full, strict=True):
                    rows.append(
                        {
                            "unit": unit,
                            "variant": variant,
                            "L": p["length"],
                            "s": p["seconds"]["median"],
                            "min": p["seconds"]["min"],
                            "max": p["seconds"]["max"],
                            "full s": f["seconds"]["median"],
                            "full/this": f["seconds"]["median"] / p["seconds"]["median"],
                            "MiB": p["peak_mib"]["median"],
                            "full MiB": f["peak_mib"]["median"],
                        }
                    )
    return points, exponents, crossovers, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lengths up to 768 (CI-sized)")
    parser.add_argument("--lengths", type=int, nargs="+", default=None)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--units", nargs="+", choices=UNITS, default=list(UNITS))
    parser.add_argument("--repeats", type=int, default=None, help="processes per point (≥ 3)")
    parser.add_argument("--steps", type=int, default=2, help="least timed steps per process")
    parser.add_argument(
        "--min-seconds", type=float, default=1.0, help="more steps (up to 20) until this long"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--d-model", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--factor", type=int, default=5)
    parser.add_argument("--name", help="result file name (default: probsparse_scaling[_quick])")
    parser.add_argument(
        "--plot", type=Path, help=f"default: {PLOT.name} in docs/img, not in --quick"
    )
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        variant, unit, length = args.worker
        print(json.dumps(worker(variant, unit, int(length), json.loads(args.config))))
        return

    lengths = args.lengths or (list(LENGTHS[:4]) if args.quick else list(LENGTHS))
    repeats = args.repeats or 3
    cfg = {
        "batch": args.batch,
        "d_model": args.d_model,
        "heads": args.heads,
        "factor": args.factor,
        "steps": args.steps,
        "min_seconds": args.min_seconds,
        "repeats": repeats,
        "threads": 1,
    }
    raw: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    started = time.perf_counter()
    for round_ in range(repeats):  # interleaved: every point once per round
        for length in lengths:
            for unit in args.units:
                for variant in args.variants:
                    point = run_point(variant, unit, length, cfg)
                    raw.setdefault((unit, variant, length), []).append(point)
                    print(f"round {round_} L={length} {unit} {variant}: {point}", flush=True)

    points, exponents, crossovers, rows = analyse(raw, lengths, args.units, args.variants)
    print_table(rows, ["unit", "variant", "L", "s", "min", "max", "full s", "full/this", "MiB",
                       "full MiB"])  # fmt: skip
    print()
    print_table(exponents, list(exponents[0]))
    print(json.dumps(crossovers, indent=1))
    result = {
        "setup": __doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0],
        "config": cfg,
        "lengths": lengths,
        "variants": args.variants,
        "units": args.units,
        "reference_exponents": reference_exponents(lengths),
        "exponents": exponents,
        "crossover": crossovers,
        "points": points,
        "sweep_seconds": time.perf_counter() - started,
        "command": "python benchmarks/probsparse_scaling.py" + (" --quick" if args.quick else ""),
    }
    write_result(args.name or "probsparse_scaling" + ("_quick" if args.quick else ""), result)
    plot_path = args.plot or (None if args.quick else PLOT)
    if plot_path and "layer" in points and "full" in args.variants:
        plot(result, plot_path)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
