"""Plots results/ddp_throughput.json: windows/s per layout and model size, against the 1.7x target.

python benchmarks/ddp_scaling_plot.py   # writes docs/img/ddp_scaling.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from page.targets import TARGETS

RESULTS = Path(__file__).parent / "results"
PLOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "ddp_scaling.png"
TARGET = TARGETS["ddp_scaling"].limit  # DDP, 2 ranks on 2 cores, against one rank


def plot(source: Path = RESULTS / "ddp_throughput.json", path: Path = PLOT) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recorded = json.loads(source.read_text())
    sizes = list(dict.fromkeys(row["size"] for row in recorded["rows"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.8 * len(sizes), 4.6), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        rows = [row for row in recorded["rows"] if row["size"] == size]
        base = rows[0]["windows_per_s"] / rows[0]["vs_1x1"]  # the 1 rank x 1 thread median
        names = [
            row["layout"].replace(" x ", " × ").replace("thread", "thr")
            + f"\n{row['scaling']}, {row['batch_per_rank']}/rank"
            for row in rows
        ]
        medians = [row["windows_per_s"] for row in rows]
        errors = [
            [row["windows_per_s"] - row["min"] for row in rows],
            [row["max"] - row["windows_per_s"] for row in rows],
        ]
        # the peers (no communication: the machine's ceiling; half the batch: strong scaling's)
        # in blue and orange, apart from the verdicts
        peers = {"independent": "C0", "half batch": "C1"}
        colors = [
            peers.get(row["scaling"], "C7" if row["vs_1x1"] < TARGET else "C2") for row in rows
        ]
        bars = ax.bar(range(len(rows)), medians, yerr=errors, capsize=4, color=colors)
        for bar, row in zip(bars, rows, strict=True):
            ax.annotate(
                f"{row['windows_per_s']:.0f}/s\n{row['vs_1x1']:.2f}×",
                (bar.get_x() + bar.get_width() / 2, bar.get_height() * 0.5),
                ha="center", va="center", fontsize=9, color="white", fontweight="bold",
            )  # fmt: skip
        ax.axhline(base * TARGET, color="C3", ls="--", lw=1, label=f"target {TARGET}× one rank")
        ax.axhline(base * 2, color="grey", ls=":", lw=1, label="ideal 2×")
        ax.set_xticks(range(len(rows)), names, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("training windows/s (median, min-max)")
        ax.set_ylim(0, base * 2.5)
        ax.set_title(f"Informer, {size} size", fontsize=10)
        ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
    runs = recorded["rows"][0].get("runs") or []
    fig.suptitle(
        f"Training throughput by layout, 2-core CPU, one rank with batch {recorded['global_batch']}"
        " against strong (same global batch) and weak (same batch per rank) scaling;\n"
        "blue: two independent one-rank runs, the ceiling of any 2-rank layout here; orange: one "
        "rank with half the batch (strong scaling's step); "
        f"median of {len(runs)} runs (results/ddp_throughput.json)",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=RESULTS / "ddp_throughput.json")
    parser.add_argument("--out", type=Path, default=PLOT)
    args = parser.parse_args()
    plot(args.source, args.out)


if __name__ == "__main__":
    main()
