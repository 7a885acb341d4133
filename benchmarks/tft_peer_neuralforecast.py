"""The neuralforecast side of tft_peer.py: its TFT trained in the peer's own Python, one run.

``tft_peer.py`` writes Stallion as neuralforecast's frames (``peer_frames``, in our Python) and
starts this program in the peer's Python (``--peer-python``: neuralforecast and torch, not this
project) once per run (``run_peer``).

    PEER_PYTHON tft_peer_neuralforecast.py --worker compact|onehot --frames DIR --steps N ...
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from child import run_measured

ENCODER, HORIZON, HIDDEN, HEADS, DROPOUT, LR, CLIP = 24, 6, 16, 2, 0.1, 0.03, 0.1
QUANTILES = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)  # pytorch-forecasting's, as ours uses
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# neuralforecast's TFT takes real-valued covariates only (no categorical embeddings), so each of
# our inputs maps to the closest real-valued column. Known-future: 6 variables, as ours; history:
# those 6, the 6 past-only and the target, 13, as ours; static: 4 against our 7.
PEER_COVARIATES: dict[str, dict[str, str]] = {
    "stat_exog": {
        "avg_population_2017": "as is, standardised across series (ours: static real)",
        "avg_yearly_household_income_2017": "as is, standardised across series (ours: static real)",
        "volume_center": "the series' mean training volume, standardised across series (ours: "
        "the target normaliser's center, add_target_scales)",
        "volume_scale": "the series' training volume standard deviation, standardised across "
        "series (ours: the target normaliser's scale)",
    },
    "futr_exog": {
        "price_regular": "as is (ours: known real)",
        "discount_in_percent": "as is (ours: known real)",
        "time_idx": "months since 2013-01 (ours: known real time_idx; scaled per window by "
        "neuralforecast, so it acts like ours' relative_time_idx)",
        "month_sin": "sin(2 pi month / 12) (ours: month as a known categorical)",
        "month_cos": "cos(2 pi month / 12) (ours: month as a known categorical)",
        "special_days": "number of the 12 special-day flags set that month (ours: the 12 flags "
        "as one embedded categorical group)",
    },
    "hist_exog": {
        name: "as is (ours: unknown real)"
        for name in (
            "log_volume",
            "industry_volume",
            "soda_volume",
            "avg_max_temp",
            "avg_volume_by_agency",
            "avg_volume_by_sku",
        )
    },
}
# ``neuralforecast-onehot`` adds the series' identity: our agency and sku embeddings become 58 +
# 25 one-hot static columns, i.e. 87 static variables (each with its own GRN) against our 7.
ONE_HOT = ("agency", "sku")
PEER_STATIC = {"neuralforecast": "compact", "neuralforecast-onehot": "onehot"}


def peer_frames(data: Path, target: Path) -> None:
    """Stallion with our (the tutorial's) features, as neuralforecast's long and static frames."""
    import numpy as np
    import pandas as pd

    from forecasting.data.stallion import STALLION_SPECIAL_DAYS, stallion

    frame = stallion(data).frame
    cutoff = int(frame["time_idx"].max()) - HORIZON
    month = frame["date"].dt.month
    long = pd.DataFrame(
        {
            "unique_id": frame["agency"].astype(str) + "/" + frame["sku"].astype(str),
            "ds": frame["date"],
            "y": frame["volume"].astype(float),
            "price_regular": frame["price_regular"],
            "discount_in_percent": frame["discount_in_percent"],
            "time_idx": frame["time_idx"].astype(float),
            "month_sin": np.sin(2 * np.pi * month / 12),
            "month_cos": np.cos(2 * np.pi * month / 12),
            "special_days": (frame[list(STALLION_SPECIAL_DAYS)] != "-").sum(axis=1).astype(float),
            **{name: frame[name].astype(float) for name in PEER_COVARIATES["hist_exog"]},
        }
    )
    train = long[frame["time_idx"] <= cutoff]
    static = frame.assign(unique_id=long["unique_id"])[frame["time_idx"] <= cutoff]
    static = static.groupby("unique_id").agg(
        avg_population_2017=("avg_population_2017", "first"),
        avg_yearly_household_income_2017=("avg_yearly_household_income_2017", "first"),
        volume_center=("volume", "mean"),
        volume_scale=("volume", "std"),
    )
    static = ((static - static.mean()) / static.std()).reset_index()
    assert list(static.columns[1:]) == list(PEER_COVARIATES["stat_exog"])
    for column in ONE_HOT:
        codes = static["unique_id"].str.split("/").str[ONE_HOT.index(column)]
        static = static.join(pd.get_dummies(codes, prefix=column, dtype=float))
    future = long[frame["time_idx"] > cutoff]
    target.mkdir(parents=True, exist_ok=True)
    train.to_parquet(target / "train.parquet", index=False)
    static.to_parquet(target / "static.parquet", index=False)
    future[["unique_id", "ds", *PEER_COVARIATES["futr_exog"]]].to_parquet(
        target / "future.parquet", index=False
    )
    future[["unique_id", "ds", "y"]].to_parquet(target / "truth.parquet", index=False)


def run_peer(
    python: str, frames: Path, static: str, steps: int, warmup: int, batch: int, seed: int
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [python, __file__, "--worker", static, "--frames", str(frames),
                   "--steps", str(steps), "--warmup", str(warmup), "--batch", str(batch),
                   "--seed", str(seed), "--out", out.name]  # fmt: skip
        with tempfile.TemporaryDirectory() as work:  # Lightning writes lightning_logs/ there
            seconds, rss = run_measured(command, {**os.environ, **ONE_THREAD}, cwd=work)
        result = json.loads(Path(out.name).read_text())
    return {**result, "peak_rss_mib": rss, "process_seconds": seconds}


def peer_worker(
    frames: Path, static_kind: str, steps: int, warmup: int, batch: int, seed: int, out: Path
) -> None:
    """In the peer's Python: neuralforecast's TFT, timed between consecutive step starts."""
    import pandas as pd
    import pytorch_lightning as pl
    import torch
    from neuralforecast import NeuralForecast
    from neuralforecast.losses.pytorch import MQLoss
    from neuralforecast.models import TFT

    torch.set_num_threads(1)
    starts: list[float] = []  # not on the callback: neuralforecast fits a deep copy of it

    class StepTimer(pl.Callback):
        def on_train_batch_start(self, *args: Any) -> None:
            starts.append(time.perf_counter())

        def on_train_end(self, *args: Any) -> None:
            starts.append(time.perf_counter())

    train = pd.read_parquet(frames / "train.parquet")
    static = pd.read_parquet(frames / "static.parquet")
    if static_kind == "compact":
        static = static[["unique_id", *PEER_COVARIATES["stat_exog"]]]
    model = TFT(
        h=HORIZON, input_size=ENCODER, hidden_size=HIDDEN, n_head=HEADS, dropout=DROPOUT,
        stat_exog_list=list(static.columns[1:]),
        futr_exog_list=list(PEER_COVARIATES["futr_exog"]),
        hist_exog_list=list(PEER_COVARIATES["hist_exog"]),
        loss=MQLoss(quantiles=list(QUANTILES)), learning_rate=LR, max_steps=steps,
        val_check_steps=steps, batch_size=train["unique_id"].nunique(), windows_batch_size=batch,
        random_seed=seed, gradient_clip_val=CLIP, accelerator="cpu", devices=1, logger=False,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        callbacks=[StepTimer()],
    )  # fmt: skip
    nf = NeuralForecast(models=[model], freq="MS")
    nf.fit(train, static_df=static)
    forecast = nf.predict(futr_df=pd.read_parquet(frames / "future.parquet"))
    truth = pd.read_parquet(frames / "truth.parquet")
    scored = truth.merge(forecast, on=["unique_id", "ds"], how="left", validate="one_to_one")
    timed = starts[warmup:]
    out.write_text(
        json.dumps(
            {
                "windows_per_s": (len(timed) - 1) * batch / (timed[-1] - timed[0]),
                "steps": len(starts) - 1,
                "train_windows": int(
                    (train.groupby("unique_id").size() - ENCODER - HORIZON + 1).clip(lower=0).sum()
                ),
                "mae": float((scored["TFT-median"] - scored["y"]).abs().mean()),
                "forecast_points": int(scored["TFT-median"].notna().sum()),
                "parameters": sum(p.numel() for p in model.parameters()),
                "static_variables": len(static.columns) - 1,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", required=True, choices=sorted(set(PEER_STATIC.values())))
    parser.add_argument("--frames", type=Path, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    peer_worker(args.frames, args.worker, args.steps, args.warmup, args.batch, args.seed, args.out)


if __name__ == "__main__":
    main()
