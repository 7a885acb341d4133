"""Informer accuracy on ETTh1 (informer_etth1*.json), beside the paper's."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.page.anchors import anchor, paper_informer
from benchmarks.page.format import missing, pair, table
from benchmarks.page.results import load, load_prefixed, source
from benchmarks.page.targets import TARGETS

MSE = TARGETS["etth1_mse"]


def section() -> list[str]:
    default, paper = load("informer_etth1_default"), load("informer_etth1_paper")
    lines = [
        "## Informer accuracy on ETTh1",
        "",
        "Protocol: Informer's `Dataset_ETT_hour` split of `ETTh1.csv` (train rows [0, 8640), "
        "validation [8640 − 96, 11520), test [11520 − 96, 14400)), a StandardScaler fitted on "
        "the training rows, multivariate `M` (all 7 channels in and out), input 96, start "
        "token 48; MSE / MAE on the standardised test split, from the real preprocess, train "
        "and evaluate steps. The model evaluated is the best-validation checkpoint.",
        "",
        "**Our default configuration** (`python benchmarks/informer_etth1.py --horizons 24 48 "
        "168 --seeds 2021 1`): d_model 64, 4 heads, 2 encoder layers with distilling + 1 "
        "decoder layer (decoder self-attention `mix` on), d_ff 128, full attention, factor 5 "
        "(unused with full attention), GELU, RevIN, dropout 0.1, Adam lr 1e-3 × 0.8 per epoch, "
        "batch 32, at most 10 epochs, weights averaged every step (EMA, decay 0.99: validated, "
        "checkpointed and saved), early stopping patience 3 on validation MSE; one process with "
        "2 threads.",
        "",
    ]
    if default is None:
        return lines + missing("informer_etth1_default", "python benchmarks/informer_etth1.py")
    by_horizon: dict[int, list[dict[str, Any]]] = {}
    for row in default["rows"]:
        by_horizon.setdefault(row["horizon"], []).append(row)
    header = [
        "horizon",
        "ours (seed: MSE / MAE)",
        "ours, mean of seeds",
        "Informer paper",
        "LogTrans",
        "LSTMa",
        "epochs",
        "source",
    ]
    rows = []
    for horizon, runs in sorted(by_horizon.items()):
        ours = "<br>".join(f"{r['seed']}: **{pair(r['mse'], r['mae'])}**" for r in runs)
        mean = pair(
            sum(r["mse"] for r in runs) / len(runs), sum(r["mae"] for r in runs) / len(runs)
        )
        published = anchor("informer_paper_etth1").get(horizon, {})
        rows.append(
            [
                horizon,
                ours,
                mean,
                *(
                    pair(*published[m]) if m in published else "–"
                    for m in ("Informer", "LogTrans", "LSTMa")
                ),
                ", ".join(str(r["epochs"]) for r in runs),
                source("informer_etth1_default"),
            ]
        )
    lines += table(header, rows)
    if paper:
        lines += [
            "**The paper's configuration with this implementation** (`python "
            "benchmarks/informer_etth1.py --config paper`): "
            + f"`{' '.join(paper['rows'][0]['arguments'])}`, input 96, start token 48 (the "
            "paper's own ETTh1 M/24 row used input 48); otherwise as above.",
            "",
        ]
        rows = []
        for r in paper["rows"]:
            rows.append(
                [
                    r["horizon"],
                    f"ours, paper configuration, seed {r['seed']}",
                    pair(r["mse"], r["mae"]),
                    f"{r['epochs']} epochs, "
                    f"{r['fit_seconds'] / 60:.0f} min, {r['windows_per_s']:.0f} windows/s",
                    source("informer_etth1_paper"),
                ]
            )
        official_bf16 = load("informer_etth1_official_bf16")
        for r in official_bf16["rows"] if official_bf16 else []:
            rows.append(
                [
                    r["horizon"],
                    f"ours, the official code's configuration (input {r['seq_len']}, "
                    f"`{' '.join(r['arguments'][len(paper['rows'][0]['arguments']) :])}`), "
                    f"seed {r['seed']}",
                    pair(r["mse"], r["mae"]),
                    f"{r['epochs']} epochs, "
                    f"{r['fit_seconds'] / 60:.0f} min, {r['windows_per_s']:.0f} windows/s",
                    source("informer_etth1_official_bf16"),
                ]
            )
        rows.append(
            [
                24,
                "official code, paper size, input 48, this kind of machine",
                pair(*anchor("official_etth1_here")),
                "stopped early after epoch 4",
                "anchors (not a JSON here)",
            ]
        )
        rows.append([24, "Informer paper", pair(*paper_informer(24)), "", "paper"])
        lines += table(["horizon", "run", "MSE / MAE", "notes", "source"], rows)
    return lines + seed_study_lines()


SEED_STUDY_PREFIX = "informer_etth1_seeds_"


def seed_studies() -> dict[str, dict[str, Any]]:
    """ETTh1 M/24 over the same seeds for the default configuration and variants of it, by name."""
    studies = load_prefixed(SEED_STUDY_PREFIX)
    return dict(sorted(studies.items(), key=lambda item: item[0] != "default"))


def seed_study_lines() -> list[str]:
    studies = seed_studies()
    if not studies:
        return []
    lines = [
        "**Over five seeds at horizon 24**: the default configuration and variants of it, each "
        "trained with the same seeds, two runs side by side with one thread each (`python "
        "benchmarks/informer_etth1.py --horizons 24 --seeds 2021 1 2 3 4 --threads-per-process 1 "
        f"--name {SEED_STUDY_PREFIX}<variant> <flags>`). The validation MSE is what a user can "
        "choose by: the saved model's (an ensemble's mean forecast, the EMA weights) MSE on the "
        "validation split, through the evaluate step (or, for single models run before that "
        "was recorded, the best checkpoint's logged validation loss); the test MSE is what the "
        "table above reports. One thread gives numbers a little different from two (a "
        "different summation order). These runs chose the default: the weight average "
        "(`default`, EMA 0.99) lowered the validation MSE for four seeds of five and tied the "
        "fifth against the same model without it (`ema-off`, the default before). A seed "
        "ensemble validates better still, at three times the training. All ran before that "
        "change; their flags are written as they are given now.",
        "",
    ]
    rows = []
    for name, data in studies.items():
        runs = data["rows"]
        flags = list(runs[0]["arguments"])
        if "--threads-per-process" in flags:  # the same for every variant: in the command above
            at = flags.index("--threads-per-process")
            del flags[at : at + 2]
        val = [r.get("val_mse", r["best_val_loss"]) for r in runs]
        test = [r["mse"] for r in runs]
        rows.append(
            [
                name,
                f"`{' '.join(flags)}`" if flags else "(defaults)",
                ", ".join(str(r["seed"]) for r in runs),
                ", ".join(f"{v:.3f}" for v in val),
                f"**{statistics.median(val):.3f}**",
                ", ".join(f"{v:.3f}" for v in test),
                f"**{statistics.median(test):.3f}**",
                f"{sum(MSE.met(v) for v in test)} of {len(test)}",
                source(SEED_STUDY_PREFIX + name),
            ]
        )
    lines += table(
        [
            "variant",
            "flags",
            "seeds",
            "validation MSE",
            "median",
            "test MSE",
            "median",
            f"test {MSE.bound}",
            "source",
        ],
        rows,
    )
    return lines


def target_rows() -> list[list[str]]:
    """ETTh1 accuracy, and our default size's speed at the paper's accuracy."""
    etth1 = load("informer_etth1_default")
    if etth1 is None:
        return []
    rows = []
    h24 = [r for r in etth1["rows"] if r["horizon"] == 24]
    mses = ", ".join(f"{r['mse']:.3f} (seed {r['seed']})" for r in h24)
    study = seed_studies().get("default")
    if study:  # the target is read on the median over seeds, as the TFT's is
        test = [r["mse"] for r in study["rows"]]
        median = statistics.median(test)
        rows.append(
            [
                f"ETTh1 M/24 MSE {MSE.bound} (our default configuration, median of {len(test)} "
                "seeds)",
                f"{median:.3f} ({min(test):.3f}–{max(test):.3f}; {sum(MSE.met(v) for v in test)}"
                f" of {len(test)} seeds {MSE.bound}; one thread); two threads: {mses}",
                MSE.verdict(median),
                "[ETTh1](#informer-accuracy-on-etth1)",
            ]
        )
    else:
        rows.append(
            [
                f"ETTh1 M/24 MSE {MSE.bound}",
                mses,
                "met" if all(MSE.met(r["mse"]) for r in h24) else "**not met**",
                "[ETTh1](#informer-accuracy-on-etth1)",
            ]
        )
    ddp = load("ddp_throughput")
    two_threads = next(
        (
            r
            for r in (ddp or {}).get("rows", [])
            if r["size"] == "default" and r["layout"] == "1 rank x 2 threads"
        ),
        None,
    )
    if two_threads:
        speed = TARGETS["informer_default_speed"]
        official = anchor("official_windows_per_s")
        paper_mse = paper_informer(24)[0]
        ratio_ = two_threads["windows_per_s"] / official
        accurate = all(r["mse"] <= paper_mse for r in h24)
        rows.append(
            [
                f"Default size: paper accuracy (M/24 MSE ≤ {paper_mse}) at {speed.bound} the "
                "official throughput",
                f"{mses}; {two_threads['windows_per_s']:.0f} "
                f"windows/s = {ratio_:.1f}× the official code's {official:g} (input 48, "
                "anchors; **not side by side**)",
                ("met" if accurate and speed.met(ratio_) else "**not met**")
                + ", ratio across runs",
                "[ETTh1](#informer-accuracy-on-etth1), "
                "[DDP](#informer-training-throughput-and-ddp-scaling)",
            ]
        )
    return rows
