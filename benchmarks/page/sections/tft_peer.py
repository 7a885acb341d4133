"""TFT against neuralforecast (tft_peer.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, ratio, table
from benchmarks.page.results import load, source

TFT_PEER_DIFFERENCES = [
    "**Inputs.** neuralforecast's TFT takes real-valued covariates only, so our categorical "
    "inputs become numbers (month → sin/cos, the 12 special-day flags → their count per month, "
    "agency and sku → nothing in `neuralforecast`, 83 one-hot static columns in "
    "`neuralforecast-onehot`); ours also has `encoder_length` and `relative_time_idx`. Each "
    "real input is embedded as x·w + b at the hidden size (16) there, through a hidden-"
    "continuous layer of 8 then a GRN here; every variable has its own GRN on both sides, so "
    "87 static one-hot variables cost real time.",
    "**Windows.** Ours samples encoder lengths 12–24 (the tutorial's minimum 12) and "
    "prediction lengths up to 6: {ours_windows} training windows, shuffled, each seen once per "
    "epoch. neuralforecast trains on full 24 + 6 windows only ({peer_windows}) and draws 128 at "
    "random each step, unfolding all 350 series every step (`batch_size=350`); with one batch "
    "of series per epoch, each of its steps is a Lightning epoch, so loader restarts and epoch "
    "hooks are in its rate, while ours leaves its 5 epoch boundaries out. A smaller "
    "`batch_size` would cut that cost but draw each step's windows from fewer series.",
    "**Scaling and loss.** Ours normalises the target per series (softplus group normaliser "
    "fitted on the training rows, its centre and scale fed back as static inputs) and takes "
    "the quantile loss on the original scale; neuralforecast scales each window's target and "
    "covariates by their own median and mean absolute deviation (`robust`) and takes the loss "
    "on that scale.",
    "**Attention.** pytorch-forecasting queries only the 6 decoder positions, one head at a "
    "time, with dropout on each head's output; neuralforecast queries all 30 positions at once "
    "and keeps the last 6, with no attention-probability dropout (its default `attn_dropout=0`, "
    "as pytorch-forecasting has none either).",
    "**Training loop.** Ours validates after every epoch (not in its rate) and has "
    "reduce-on-plateau (patience 4, which cannot act within 6 epochs); neuralforecast has no "
    "validation and a constant learning rate. Ours is scored on the weights after step 300 "
    "like the peer; the best-epoch column is what our train step ships, picked on the same 6 "
    "months it is scored on.",
    "**Memory.** Each peak RSS is the whole training process: ours reads the channels written "
    "by preprocess and materialises its windows; neuralforecast's also predicts, and both "
    "carry their libraries' import footprint (pytorch-forecasting, Lightning and pandas here; "
    "neuralforecast and pytorch_lightning there).",
    "**Noise.** At lr 0.03 the validation loss still swings from epoch to epoch, so one run's "
    "MAE after a fixed 300 steps moves by tens; each round has its own seed so the range shows "
    "it. The setups differ in inputs, windows and scaling (above), so an MAE gap says which "
    "setup learns faster in 300 steps here, not which implementation is better.",
]


def section() -> list[str]:
    data = load("tft_peer")
    lines = [
        "### TFT against neuralforecast",
        "",
        "Training windows/s, peak RSS and validation MAE of our TFT path (the train entry point "
        "with the tutorial flags above, 1 process) against neuralforecast's `TFT` (through "
        "`NeuralForecast.fit`, in its own virtual environment with the same torch), on the real "
        "Stallion file's 350 series: input 24, horizon 6, hidden 16, 2 heads, dropout 0.1, Adam "
        "lr 0.03, gradient clip 0.1, 128 windows per step, the same 7 quantiles, a fixed 300 "
        "steps (6 × 50; no early stopping), one thread each, each run its own process, variants "
        "interleaved (`python benchmarks/tft_peer.py --peer-python /tmp/nf/bin/python`). Rates "
        "leave out the first 50 steps; an epoch-equivalent is 50 steps = 6,400 windows. MAE is "
        "the p50 forecast of the last 6 months of every series (2,100 points, the tutorial's "
        "validation) on the weights after step 300.",
        "",
    ]
    if data is None:
        return lines + missing("tft_peer", "python benchmarks/tft_peer.py --peer-python ...")
    peer = data.get("peer") or {}
    lines += [
        f"Peer: neuralforecast / torch `{peer.get('neuralforecast_torch')}`; "
        f"{data['repeats']} rounds, seeds {', '.join(str(s) for s in data['config']['seeds'])}.",
        "",
    ]
    peer_runs = {p["seed"]: p for r in data["rows"] if r["variant"] == "neuralforecast"
                 for p in r["runs"]}  # fmt: skip
    rows = []
    for r in data["rows"]:
        paired = sorted(
            p["windows_per_s"] / peer_runs[p["seed"]]["windows_per_s"]
            for p in r["runs"]
            if p["seed"] in peer_runs
        )
        rows.append(
            [
                r["variant"],
                f"{r['windows_per_s']:,.0f}",
                f"{r['min']:,.0f}–{r['max']:,.0f}",
                f"{r['epoch_s']:.2f}",
                ratio(r["vs_neuralforecast"]),
                f"{ratio(paired[len(paired) // 2])} ({paired[0]:.2f}–{paired[-1]:.2f})"
                if paired
                else "–",
                f"{r['peak_rss_mib']:.0f} ({r['rss_min']:.0f}–{r['rss_max']:.0f})",
                ratio(r["rss_vs_neuralforecast"]),
                f"**{r['mae']:.2f}** ({r['mae_min']:.2f}–{r['mae_max']:.2f})",
                "–" if r["mae_best_epoch"] is None else f"{r['mae_best_epoch']:.2f}",
                f"{r['runs'][0]['parameters']:,}" if "parameters" in r["runs"][0] else "–",
                f"{r['process_s']:.0f}",
                source("tft_peer"),
            ]
        )
    lines += table(
        [
            "variant",
            "windows/s (median)",
            "range",
            "epoch-equivalent s",
            "vs neuralforecast (windows/s)",
            "same-round ratio (range)",
            "peak RSS MiB (range)",
            "RSS vs neuralforecast",
            "val MAE after 300 steps (range)",
            "best-epoch MAE",
            "parameters",
            "process s",
            "source",
        ],
        rows,
    )
    by_name = {r["variant"]: r for r in data["rows"]}
    ours, peer = by_name.get("ours"), by_name.get("neuralforecast")
    if ours and peer:
        onehot = by_name.get("neuralforecast-onehot")
        against_onehot = (
            f" ({ours['windows_per_s'] / onehot['windows_per_s']:.2f}× the one-hot variant's)"
            if onehot
            else ""
        )
        overlap = ours["mae_min"] <= peer["mae_max"] and peer["mae_min"] <= ours["mae_max"]
        stallion = (load("tft_stallion") or {}).get("results", {}).get("ours")
        early = (
            f" For scale, our early-stopped run under the tutorial protocol "
            f"([above](#tft-on-stallion), {stallion['epochs']} epochs, 2 threads) reaches "
            f"{stallion['mae']:.2f}."
            if stallion
            else ""
        )
        lines += [
            f"**Reading:** our path trains at {ratio(ours['vs_neuralforecast'])} neuralforecast's "
            f"windows/s{against_onehot} with {ratio(ours['rss_vs_neuralforecast'])} its peak RSS. "
            f"After the same 300 steps its validation MAE is {ours['mae']:.2f} against "
            f"neuralforecast's {peer['mae']:.2f}"
            + (f" ({onehot['mae']:.2f} with one-hot identities)" if onehot else "")
            + f"; the ranges over seeds {'overlap' if overlap else 'do not overlap'}. Our best "
            f"epoch (picked on the scored months) scores {ours['mae_best_epoch']:.2f}."
            + early
            + " `process s` is each training process's wall time, start to exit (imports, data "
            "setup and ours' per-epoch validation included).",
            "",
        ]
    covariates = data.get("peer_covariates") or {}
    if covariates:
        cov_rows = [
            [f"`{role}`", f"`{name}`", what]
            for role, columns in covariates.items()
            for name, what in columns.items()
        ]
        cov_rows.append(
            ["`stat_exog` (onehot only)", "`agency_*`, `sku_*`", "58 + 25 one-hot columns"]
        )
        lines += [
            "Covariates given to neuralforecast (computed from our Stallion features, statics "
            "from the training rows only):",
            "",
            *table(["role", "column", "from / ours"], cov_rows),
        ]
    windows = {r["variant"]: r["runs"][0].get("train_windows") for r in data["rows"]}
    peer_windows = windows.get("neuralforecast") or windows.get("neuralforecast-onehot")
    counts = {
        k: "–" if v is None else f"{v:,}"
        for k, v in (("ours_windows", windows.get("ours")), ("peer_windows", peer_windows))
    }
    lines += [
        "Where the two TFTs differ (beyond speed):",
        "",
        *[f"- {d.format(**counts)}" for d in TFT_PEER_DIFFERENCES],
        "",
    ]
    return lines
