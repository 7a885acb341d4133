"""TFT on Stallion against the tutorial path (tft_stallion.json, tft_step.json)."""

from __future__ import annotations

from typing import Any

from benchmarks.page.anchors import anchor
from benchmarks.page.format import median_range, missing, ratio, table
from benchmarks.page.results import load, source
from benchmarks.page.targets import TARGETS

SPEED, MAE = TARGETS["tft_speed"], TARGETS["tft_mae"]
# Published validation MAEs the table shows below our runs: (row label, anchor name).
PUBLISHED = [
    ("tutorial, published (jdb78 notebook, 2024)", "stallion_tutorial_mae"),
    ("the seed workshop's CPU run", "stallion_workshop_mae"),
    ("baseline: repeat the last value", "stallion_baseline_mae"),
]


def section() -> list[str]:
    data = load("tft_stallion")
    lines = [
        "## TFT on Stallion",
        "",
        "Our training path against pytorch-forecasting's tutorial usage, in one run on the real "
        "Stallion file, tutorial protocol (encoder 24, min 12, horizon 6, validation = the last "
        "6 months of each of the 350 series) and hyperparameters (hidden 16, 2 heads, dropout "
        "0.1, hidden-continuous 8, Adam lr 0.03, gradient clip 0.1, batch 128, 50 batches per "
        "epoch, early stopping patience 10, reduce-on-plateau 4, seed 42), each variant in its "
        "own process (`python benchmarks/tft_stallion.py`). Epoch time is the median over epochs "
        "after the first; the tutorial and our path on its settings run in interleaved rounds "
        "(median over rounds; the speed-up's range is over rounds, each against the tutorial of "
        "its round), the other variants once, as a seed fixes their MAE. MAE is validation MAE "
        f"on volume. Targets: epoch time **{SPEED.bound}** faster "
        f"than the tutorial path at equal or better MAE, and MAE **{MAE.bound}**.",
        "",
    ]
    if data is None:
        return lines + missing("tft_stallion", "python benchmarks/tft_stallion.py")
    rows = []
    for name, r in data["results"].items():
        speed = r.get("speedup_vs_tutorial")
        per_sample = None
        base = data["results"].get("tutorial")
        if base:
            per_sample = r["samples_per_second"] / base["samples_per_second"]
        rounds = r.get("speedup_by_round") or [speed]
        spread_ = f" ({min(rounds):.2f}–{max(rounds):.2f})" if min(rounds) < max(rounds) else ""
        rows.append(
            [
                name,
                f"{r['epoch_seconds_median']:.2f}",
                r.get("samples_per_epoch", 6400),
                f"{r['samples_per_second']:,.0f}",
                ratio(speed) + spread_,
                ratio(per_sample),
                r["epochs"],
                f"{r['fit_seconds']:.0f}",
                f"{r['peak_rss_mib']:.0f}",
                f"**{r['mae']:.2f}**",
                source("tft_stallion"),
            ]
        )
    rows += [[label, *[""] * 8, f"{anchor(name):.2f}", "anchors"] for label, name in PUBLISHED]
    lines += table(
        [
            "variant",
            "epoch s (median)",
            "samples/epoch",
            "samples/s",
            "epoch-time speed-up",
            "samples/s vs tutorial",
            "epochs",
            "fit s",
            "peak RSS MiB",
            "val MAE",
            "source",
        ],
        rows,
    )
    ours = data["results"].get("ours")
    if ours and "speedup_vs_tutorial" in ours:
        met = SPEED.met(ours["speedup_vs_tutorial"]) and (
            ours["mae"] <= data["results"]["tutorial"]["mae"]
        )
        notes = ""
        two = data["results"].get("ours-2-ranks")
        if two:
            rate = ours["epoch_seconds_median"] / two["epoch_seconds_median"]
            notes += (
                f" Two DDP ranks × 1 thread run at {rate:.2f}× the epoch rate of one process "
                "with both threads."
            )
        default = default_tft_mae(data)
        if default:
            seeds = ", ".join(str(seed) for seed in default["seeds"])
            notes += (
                " `ours-default-s<seed>` is our default TFT configuration (hidden 32, "
                "hidden-continuous 16, lr 0.01, full epochs of "
                f"{default['samples_per_epoch']:,} samples, 2 ranks × 1 thread, each window "
                f"scaled by its own encoder history), once per seed ({seeds}): its validation "
                f"MAE is {_mae_against_target(default)} (the published tutorial "
                f"run reports {anchor('stallion_tutorial_mae')}). Its epoch time is not "
                "comparable with the tutorial's; its samples/s is. `ours` and `ours-2-ranks` "
                "keep the tutorial's per-series target normalizer, so that they see exactly the "
                "tutorial's inputs."
            )
        ensemble = ensemble_tft_mae(data)
        if ensemble:
            seeds = ", ".join(str(seed) for seed in ensemble["seeds"])
            notes += (
                " `ours-ensemble3-s<seed>` is the same configuration trained as a seed ensemble "
                "(`--ensemble-size 3`: members seeded seed, seed + 1 and seed + 2, their quantile "
                f"forecasts averaged), once per base seed ({seeds}): validation MAE "
                f"{_mae_against_target(ensemble)}, for three times the training (its fit s sums "
                "the members)."
            )
        ema = tft_mae_over_seeds(data, "ours-ema-s")
        if ema:
            notes += (
                " `ours-ema-s<seed>` is the default configuration validated, checkpointed and "
                "saved as an exponential moving average of its weights (`--ema-decay 0.99`, not "
                f"the default), once per seed: validation MAE {_mae_against_target(ema)}, at the "
                "training cost of one model."
            )
        lines += [
            f"**Against the targets:** our path's epoch is "
            f"{ours['speedup_vs_tutorial']:.2f}× faster than the tutorial's with the same settings "
            f"(target {SPEED.limit_text}: **{'met' if met else 'not met'}**), at a validation "
            "MAE of "
            f"{ours['mae']:.2f} against the tutorial path's "
            f"{data['results']['tutorial']['mae']:.2f} in the same run." + notes,
            "",
        ]
    return lines + tft_step_lines()


def tft_step_lines() -> list[str]:
    """Why a data path cannot reach the speed target: the network's own step (tft_step.json)."""
    data, epochs = load("tft_step"), load("tft_stallion")
    if data is None:
        return missing("tft_step", "python benchmarks/tft_step.py")
    lines = [
        "**Where a step's time goes** (`python benchmarks/tft_step.py`: the tutorial's data "
        "sets and network, batch 128, median over interleaved rounds, ms per batch; the model "
        "step is forward, loss, backward, clipping and Adam, without Lightning):",
        "",
    ]
    rows = [
        [r["part"], f"{r['median']:.1f}", f"{r['min']:.1f}–{r['max']:.1f}", source("tft_step")]
        for r in data["rows"]
    ]
    lines += table(["part", "ms per batch (median)", "range", "source"], rows)
    step = min(r["median"] for r in data["rows"] if r["part"].startswith("model step"))
    text = f"Loading alone accounts for a speed-up of {data['data_path_ceiling']:.2f}×. "
    if "fused_adam_speedup" in data:
        text += (
            "Our path also runs Adam as one fused kernel over all the network's parameter "
            "tensors instead of a loop over them (the same update up to rounding): a step "
            f"{data['fused_adam_speedup']:.2f}× as fast. "
        )
    text += (
        "It also drops the tutorial's per-batch training metrics and its prediction plots "
        "every 10 batches, which is the rest of the measured gain. "
    )
    tutorial = (epochs or {}).get("results", {}).get("tutorial")
    if tutorial:
        per_batch = tutorial["epoch_seconds_median"] / 50 * 1e3  # the tutorial's 50 batches
        text += (
            f"The tutorial's epoch costs {per_batch:.0f} ms per batch, so {SPEED.limit_text} "
            f"means {per_batch / SPEED.limit:.0f} ms per batch, where the network's own step "
            f"alone takes {step:.0f} ms. "
        )
    text += (
        "That step is pytorch-forecasting's network: one gated residual network per input "
        "variable, on small (hidden 16) tensors whose elementwise kernels are memory-bound. "
        "Batching the per-variable networks into one matrix product per layer (same parameters, "
        "same function) measured 0.98× at 1 thread and 1.04× at 2 threads, and `torch.compile` "
        "1.26× after 199 s of compilation (one-off experiments, not part of this suite), so "
        f"neither is shipped: {SPEED.limit_text} on this CPU would need a different network, "
        "not a different data path."
    )
    return [*lines, text, ""]


def tft_mae_over_seeds(data: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """Validation MAE of the tft_stallion variants ``<prefix><seed>``, one run per seed."""
    runs = {k: r for k, r in data["results"].items() if k.startswith(prefix)}
    if not runs:
        return None
    return {
        "seeds": [int(k.removeprefix(prefix)) for k in runs],
        **median_range([r["mae"] for r in runs.values()]),
        "samples_per_epoch": next(iter(runs.values()))["samples_per_epoch"],
    }


def _mae_against_target(stats: dict[str, Any]) -> str:
    verdict = "met" if MAE.met(stats["median"]) else "not met"
    return (
        f"**{stats['median']:.2f}** (median; {stats['min']:.2f}–{stats['max']:.2f}), "
        f"target {MAE.bound}: **{verdict}**"
    )


def default_tft_mae(data: dict[str, Any]) -> dict[str, Any] | None:
    """Our default TFT configuration, one model per seed."""
    return tft_mae_over_seeds(data, "ours-default-s")


def ensemble_tft_mae(data: dict[str, Any]) -> dict[str, Any] | None:
    """The same configuration as a seed ensemble of three, one ensemble per base seed."""
    return tft_mae_over_seeds(data, "ours-ensemble3-s")


def target_rows() -> list[list[str]]:
    """The TFT's speed against the tutorial path, and its MAE as one model and as an ensemble."""
    tft = load("tft_stallion")
    if tft is None:
        return []
    rows = []
    ours, tutorial = tft["results"].get("ours"), tft["results"]["tutorial"]
    if ours:
        met = SPEED.met(ours["speedup_vs_tutorial"]) and ours["mae"] <= tutorial["mae"]
        rows.append(
            [
                f"TFT epoch {SPEED.bound} faster than the tutorial path, MAE equal or better",
                f"{ours['speedup_vs_tutorial']:.2f}×, MAE {ours['mae']:.2f} vs "
                f"{tutorial['mae']:.2f}",
                "met" if met else "**not met**",
                "[TFT](#tft-on-stallion)",
            ]
        )
    for stats, what in (
        (default_tft_mae(tft), "our default configuration, median of {n} seeds"),
        (
            ensemble_tft_mae(tft),
            "the same configuration as a seed ensemble, `--ensemble-size 3`, median of {n} "
            "ensembles",
        ),
    ):
        if stats:
            rows.append(
                [
                    f"TFT Stallion validation MAE {MAE.bound} ("
                    + what.format(n=len(stats["seeds"]))
                    + ")",
                    f"{stats['median']:.2f} ({stats['min']:.2f}–{stats['max']:.2f})",
                    MAE.verdict(stats["median"]),
                    "[TFT](#tft-on-stallion)",
                ]
            )
    return rows
