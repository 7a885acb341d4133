"""Informer against neuralforecast (informer_peer.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, ratio, table
from benchmarks.page.results import load, source


def section() -> list[str]:
    data = load("informer_peer")
    lines = [
        "## Informer against neuralforecast",
        "",
        "Training windows/s of our Informer (the training entry point) against "
        "neuralforecast's `Informer` (through `NeuralForecast.fit`), at matched sizes, same "
        "input 96 / start token 48 / horizon 24, 32 windows per step, MSE, Adam, one thread "
        "each, each run in its own process (peak RSS is its own), variants interleaved "
        "(`python benchmarks/informer_peer.py --peer-python /tmp/nf/bin/python`; "
        "neuralforecast goes in its own virtual environment with the same torch). "
        "neuralforecast's Informer is channel-independent: a window carries one channel, ours "
        "seven, at nearly the same network cost, so channel-windows/s is also given.",
        "",
    ]
    if data is None:
        return lines + missing("informer_peer", "python benchmarks/informer_peer.py ...")
    peer = data.get("peer") or {}
    lines += [
        f"Peer: neuralforecast / torch `{peer.get('neuralforecast_torch')}`; timed steps per "
        f"run: {', '.join(f'{k} {v}' for k, v in data['steps_per_run'].items())}; "
        f"{data['repeats']} rounds. Ours times the training part of each epoch after the first "
        "(the epoch's steps, data loading included); neuralforecast's rate is over the steps "
        "after its first three, from one step start to the next. The ranges are wide: on the "
        "shared machine other jobs took the cores in some rounds, so read each median with "
        "its range.",
        "",
    ]
    rows = []
    for r in data["rows"]:
        rows.append(
            [
                r["size"],
                r["variant"],
                f"{r['windows_per_s']:.1f}",
                f"{r['min']:.1f}–{r['max']:.1f}",
                f"{r['channel_windows_per_s']:.0f}",
                ratio(r["vs_neuralforecast"]),
                f"{r['peak_rss_mib']:.0f}",
                source("informer_peer"),
            ]
        )
    lines += table(
        [
            "size",
            "variant",
            "windows/s (median)",
            "range",
            "channel-windows/s",
            "vs neuralforecast (windows/s)",
            "peak RSS MiB",
            "source",
        ],
        rows,
    )
    return lines
