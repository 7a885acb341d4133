"""The GPU smoke check (gpu_smoke.json)."""

from __future__ import annotations

import statistics

from benchmarks.page.format import number, table
from benchmarks.page.results import committed, load, source
from benchmarks.page.sections.informer_precision import PRECISION_NAMES

GPU_CHECKS = [
    ("informer 32", "the Informer trains at 32 (TF32 matrix products)"),
    ("informer bf16-mixed", "the Informer trains at bf16-mixed"),
    ("informer 16-mixed", "the Informer trains at 16-mixed (fp16 with loss scaling)"),
    ("resume", "resume from a GPU checkpoint, loaded onto the CPU first"),
    ("torchrun --standalone --nproc-per-node 1", "one process under torchrun"),
    ("evaluate with CUDA hidden", "evaluate a GPU-trained artifact where no GPU is visible"),
    ("tft 32 and bf16-mixed", "the TFT's loss curves at 32 and bf16-mixed (cuDNN LSTM)"),
    ("host syncs per step, informer (EMA on)", "CUDA host syncs per training step, Informer"),
    ("host syncs per step, tft", "CUDA host syncs per training step, TFT"),
    ("host syncs of one EMA update", "the weight average never reads its counter on the GPU"),
]


def section() -> list[str]:
    data = load("gpu_smoke")
    lines = [
        "## GPU: the default cloud training",
        "",
        "The pipeline trains on ml.g5.xlarge (one NVIDIA A10G) by default; every other number "
        "on this page is from a CPU. `PYTHONPATH=model_build python benchmarks/gpu_smoke.py` "
        "runs each check below on a GPU in one call (synthetic demo data, no network) and "
        "records windows/s beside the same configuration on that machine's CPU.",
        "",
    ]
    if data is None:
        rows = [[what, "unmeasured on GPU"] for _, what in GPU_CHECKS]
        return [
            *lines,
            "_Unmeasured on GPU: `gpu_smoke.json` is absent._ What the CPU tests establish "
            "instead: the TFT trains under bf16-mixed with its gradient clipping, its attention "
            "runs under fp16 autocast, a host told `SM_NUM_GPUS=0` trains on the CPU, and the "
            "weight average's update reads no tensor into Python (torch's `AveragedModel` "
            "read its counter twice per update, a blocking sync each on CUDA).",
            "",
            *table(["check", "status"], rows),
        ]
    device = data["machine"].get("cuda") or "unknown"
    outcome = {c["check"]: c for c in data["checks"]}
    rows = []
    for name, what in GPU_CHECKS:
        check = outcome.get(name)
        status = "not run" if check is None else "ok" if check["ok"] else "FAILED"
        detail = "" if check is None or check["ok"] else str(check["detail"])[:120]
        rows.append([what, status, detail])
    lines += [f"Device: {device} ({source('gpu_smoke')}, {committed('gpu_smoke')}).", ""]
    lines += table(["check", "status", "failure"], rows)
    cpu = (data.get("informer_cpu") or {}).get("windows_per_s")
    speed = []
    for precision, result in (data.get("informer") or {}).items():
        if result:
            gpu = result["windows_per_s"]
            ratio = f"{gpu / cpu:.1f}×" if cpu else "–"
            cpu_text = f"{cpu:.1f}" if cpu else "–"
            speed.append([PRECISION_NAMES.get(precision, precision), f"{gpu:.1f}", cpu_text, ratio])
    if speed:
        lines += [
            "Informer (default configuration, demo series), training windows/s, median epoch "
            "after the first; the CPU column is the same machine's CPU with CUDA hidden, at 32:",
            "",
            *table(["precision", f"GPU ({device})", "CPU (32)", "GPU / CPU"], speed),
        ]
    syncs = data.get("syncs") or {}
    sync_rows = [
        [name, statistics.median(r["per_step"]) if r.get("per_step") else "–"]
        for name, r in syncs.items()
        if r and name != "ema_update"
    ]
    if sync_rows:
        lines += table(["family", "host syncs per step (median)"], sync_rows)
    tft = (data.get("tft") or {}).get("final_val_loss")
    if tft:
        lines += [
            "TFT on the demo panel, last validation loss: "
            + ", ".join(f"{p} {number(v, 4)}" for p, v in tft.items())
            + ". bf16-mixed is offered for the TFT on a GPU only once these agree.",
            "",
        ]
    return lines
