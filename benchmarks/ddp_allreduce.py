"""Gradient all-reduce time per DDP step: 2 gloo ranks x 1 thread, as in `ddp_throughput.py`.

For each Informer size (``default``, ``paper``, on ETTh1's 7 channels) the script counts the
trainable parameters, then two processes on 127.0.0.1 all-reduce a flat fp32 tensor of that many
elements (what DDP sends per step, as one bucket instead of its ~25 MB buckets, and without its
overlap with the backward pass) ``--iterations`` times after a warm-up, a barrier before each.
Its peer, timed in the same processes, is a local in-place add of the same tensor: the memory
traffic floor of a sum. A fresh process group per repeat; repeats interleave the sizes.

The per-step share compares the all-reduce with the step time of the 2-rank layout in
`results/ddp_throughput.json` (global batch 32, so a step is 32 / windows-per-second); that
figure comes from a different run, which the share states.

    python benchmarks/ddp_allreduce.py             # 5 repeats x 30 iterations
    python benchmarks/ddp_allreduce.py --quick     # 3 x 10, into ddp_allreduce_quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import print_table, spread, write_result

# The Informer's defaults and the paper's (models/informer/defaults.py), for ETTh1 (7 channels)
SIZES = {
    "default": {"d_model": 64, "n_heads": 4, "d_ff": 128, "attention": "full", "revin": True},
    "paper": {"d_model": 512, "n_heads": 8, "d_ff": 2048, "attention": "prob", "revin": False},
}
RESULTS = Path(__file__).parent / "results"


def n_parameters(size: str) -> int:
    from forecasting.data.time_features import n_time_features
    from forecasting.models.informer.model import Informer

    model = Informer(
        enc_in=7, dec_in=7, c_out=7, seq_len=96, label_len=48, pred_len=24,
        n_time_features=n_time_features("h"), **SIZES[size],
    )  # fmt: skip
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _rank(rank: int, port: int, numel: int, iterations: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    grads = torch.randn(numel)
    other = torch.randn(numel)
    reduce_s, add_s = [], []
    for i in range(iterations + 3):  # 3 warm-up rounds: connections, first touch
        dist.barrier()
        started = time.perf_counter()
        dist.all_reduce(grads)
        reduced = time.perf_counter() - started
        started = time.perf_counter()
        grads.add_(other)
        added = time.perf_counter() - started
        if i >= 3:
            reduce_s.append(reduced)
            add_s.append(added)
    if rank == 0:
        Path(out).write_text(json.dumps({"all_reduce": reduce_s, "local_add": add_s}))
    dist.destroy_process_group()


def measure(numel: int, iterations: int) -> dict[str, float]:
    """Medians over the iterations of one fresh 2-rank group (rank 0's clock)."""
    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        mp.spawn(_rank, args=(port, numel, iterations, out.name), nprocs=2, join=True)
        times = json.loads(Path(out.name).read_text())
    return {name: statistics.median(values) for name, values in times.items()}


def step_seconds(size: str) -> dict[str, Any] | None:
    """Seconds per optimiser step of the 2-rank layout in ddp_throughput.json, if recorded."""
    path = RESULTS / "ddp_throughput.json"
    if not path.exists():
        return None
    recorded = json.loads(path.read_text())
    batch = recorded.get("global_batch", 32)
    for row in recorded["rows"]:
        strong = row.get("scaling", "strong") == "strong"  # the global batch split in two
        if row["size"] == size and row["layout"] == "2 ranks x 1 thread" and strong:
            return {"seconds": batch / row["windows_per_s"], "source": "ddp_throughput.json"}
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats x 10 iterations")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--iterations", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    iterations = args.iterations or (10 if args.quick else 30)
    numels = {size: n_parameters(size) for size in args.sizes}
    runs: dict[str, list[dict[str, float]]] = {size: [] for size in args.sizes}
    for _ in range(repeats):
        for size in args.sizes:
            runs[size].append(measure(numels[size], iterations))
            print(size, runs[size][-1], flush=True)
    rows = []
    for size in args.sizes:
        reduce_ = spread([r["all_reduce"] for r in runs[size]])
        add = spread([r["local_add"] for r in runs[size]])
        step = step_seconds(size)
        rows.append(
            {
                "size": size,
                "parameters": numels[size],
                "megabytes": numels[size] * 4 / 1e6,
                "all_reduce_ms": reduce_["median"] * 1e3,
                "min_ms": reduce_["min"] * 1e3,
                "max_ms": reduce_["max"] * 1e3,
                "local_add_ms": add["median"] * 1e3,
                "all_reduce_vs_local_add": reduce_["median"] / add["median"],
                "step_ms_2_ranks": step["seconds"] * 1e3 if step else None,
                "share_of_step": reduce_["median"] / step["seconds"] if step else None,
                "all_reduce_s": reduce_,
                "local_add_s": add,
            }
        )
    print_table(rows, ["size", "parameters", "megabytes", "all_reduce_ms", "min_ms", "max_ms",
                       "local_add_ms", "all_reduce_vs_local_add", "step_ms_2_ranks",
                       "share_of_step"])  # fmt: skip
    write_result(
        "ddp_allreduce_quick" if args.quick else "ddp_allreduce",
        {
            "setup": __doc__.split("\n\n")[1],
            "ranks": 2,
            "backend": "gloo",
            "threads_per_rank": 1,
            "repeats": repeats,
            "iterations": iterations,
            "step_time_source": "results/ddp_throughput.json, layout '2 ranks x 1 thread' "
            "(a different run)",
            "rows": rows,
            "command": "python benchmarks/ddp_allreduce.py" + (" --quick" if args.quick else ""),
        },
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
