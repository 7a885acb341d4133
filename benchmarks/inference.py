"""Batch inference: series forecast per second and peak memory, per model family, in one run.

Each variant runs in its own process (peak RSS is its own) on one thread, so the rates are per
core, and times ``--repeats`` requests after one warm-up:

* ``informer``: the handler end to end (CSV text in, CSV text out) on ``--series`` histories of
  the default Informer (seq_len 96, horizon 24, d_model 512);
* ``tft``: the handler end to end on a Stallion-shaped panel of ``--series`` series (encoder 24,
  horizon 6, the default TFT);
* ``tft-predict``: pytorch-forecasting's own ``predict(mode="quantiles")`` on the same model and
  rows, from the already validated frame (so it is spared parsing and checks that ours pays).

Weights come from a one-batch training run: speed does not depend on what they learned.

    python benchmarks/inference.py --series 350
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from child import run_measured
from machine import print_table, spread, write_result

VARIANTS = ("informer", "tft", "tft-predict")
TFT_HORIZON = 6
TFT_DATA = [
    "--seq-len", "24", "--pred-len", str(TFT_HORIZON), "--group-columns", "agency,sku",
    "--targets", "volume", "--time-column", "date", "--static-categoricals", "agency,sku",
    "--static-reals", "avg_population_2017", "--known-categoricals", "month",
    "--known-reals", "time_idx,price_regular", "--unknown-reals", "avg_max_temp", "--data",
]  # fmt: skip


def _steps(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", *argv], check=True, stdout=subprocess.DEVNULL)


def build(work: Path, n_series: int) -> None:
    """Tiny-trained artifacts and the request files every variant reads."""
    import pandas as pd

    from forecasting.data.panel import TIME_IDX
    from forecasting.data.sources import demo_ett
    from forecasting.data.stallion import demo_panel

    # Stallion-shaped: the demo panel's generator, n_series series of 60 months
    panel = work / "panel.csv"
    demo_panel(n_series=n_series, n_steps=60, seed=0).frame.drop(columns=[TIME_IDX]).to_csv(
        panel, index=False
    )
    quick = ["--max-epochs", "1", "--limit-train-batches", "1", "--progress-bar", "false"]
    for family, extra in (("informer", ["--dataset", "demo"]), ("tft", [*TFT_DATA, str(panel)])):
        data, run = work / f"{family}.data", work / family
        _steps("forecasting.steps.preprocess", "--model", family, *extra,
               "--output-dir", str(data))  # fmt: skip
        _steps("forecasting.steps.train", "--model", family, *quick,
               "--train", str(data / "train"), "--validation", str(data / "validation"),
               "--model-dir", str(run / "model"), "--output-data-dir", str(run / "output"),
               "--checkpoint-dir", str(run / "checkpoints"))  # fmt: skip

    ett = demo_ett().frame.reset_index()
    histories = [ett.iloc[i * 10 : i * 10 + 96].assign(series_id=f"s{i}") for i in range(n_series)]
    pd.concat(histories).to_csv(work / "informer.csv", index=False)

    frame = pd.read_csv(panel)
    request = frame.groupby(["agency", "sku"]).tail(30).astype(str)
    future = request.groupby(["agency", "sku"]).cumcount(ascending=False) < TFT_HORIZON
    request.loc[future, ["volume", "avg_max_temp"]] = ""
    request.to_csv(work / "tft.csv", index=False)


def worker(variant: str, work: Path, repeats: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from forecasting.inference import handler

    family = "informer" if variant == "informer" else "tft"
    started = time.perf_counter()
    model = handler.model_fn(str(work / family / "model"))
    load_seconds = time.perf_counter() - started
    body = (work / f"{family}.csv").read_text()

    if variant == "tft-predict":
        import pandas as pd

        from forecasting.models.tft import serving as tft
        from forecasting.models.tft.dataset import from_parameters
        from forecasting.models.tft.preprocessing import read_config

        raw, where = handler.input_fn(body, "text/csv")
        captured: dict[str, pd.DataFrame] = {}
        original = tft.from_parameters

        def capture(parameters, frame, **kw):
            captured["frame"] = frame
            return original(parameters, frame, **kw)

        tft.from_parameters = capture  # the validated frame our path builds, reused as is
        tft.forecast(model.network, model.config, raw, where)
        frame, parameters = captured["frame"], read_config(model.config).dataset_parameters

        def once() -> int:
            dataset = from_parameters(parameters, frame, predict=True)
            loader = dataset.to_dataloader(train=False, batch_size=128, num_workers=0)
            out = model.network.predict(
                loader, mode="quantiles", trainer_kwargs={"logger": False, "accelerator": "cpu",
                                                          "enable_progress_bar": False}
            )  # fmt: skip
            return int(out.shape[0])
    else:

        def once() -> int:
            text = handler.transform(body, model)
            return len({line.split(",", 1)[0] for line in text.splitlines()[1:]})

    series = once()  # warm-up
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        once()
        seconds.append(time.perf_counter() - started)
    return {"series": series, "seconds": seconds, "load_seconds": load_seconds}


def run_variant(variant: str, work: Path, repeats: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--worker", variant, "--work", str(work),
                   "--repeats", str(repeats), "--out", out.name]  # fmt: skip
        _, rss = run_measured(command)
        result = json.loads(Path(out.name).read_text())
    return {**result, "peak_rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=350, help="series per request")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.out.write_text(json.dumps(worker(args.worker, args.work, args.repeats)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build(work, args.series)
        results = {v: run_variant(v, work, args.repeats) for v in args.variants}
    rows = []
    for variant, result in results.items():
        result["seconds_spread"] = spread(result["seconds"])
        median = result["seconds_spread"]["median"]
        result["series_per_second"] = result["series"] / median
        rows.append(
            {
                "variant": variant,
                "series": result["series"],
                "request s (median)": median,
                "min": result["seconds_spread"]["min"],
                "max": result["seconds_spread"]["max"],
                "series/s/core": result["series_per_second"],
                "model load s": result["load_seconds"],
                "peak RSS MiB": result["peak_rss_mib"],
            }
        )
    if "tft" in results and "tft-predict" in results:
        ratio = results["tft"]["series_per_second"] / results["tft-predict"]["series_per_second"]
        results["tft"]["speedup_vs_pytorch_forecasting_predict"] = ratio
        for row in rows:
            if row["variant"] == "tft":
                row["vs predict()"] = ratio
    print_table(rows, [*rows[0], "vs predict()"])
    write_result(
        "inference",
        {"setup": __doc__.split("\n\n")[1], "series": args.series, "results": results},
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
