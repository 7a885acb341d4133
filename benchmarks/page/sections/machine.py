"""The machine and method section: where and how every result was measured."""

from __future__ import annotations

from benchmarks.page.format import table
from benchmarks.page.results import committed, load, names, source


def section() -> list[str]:
    lines = [
        "## Machine and method",
        "",
        "Every script records the machine it ran on beside its numbers. The reference machine is "
        "a 2-core AMD EPYC (AVX-512, AVX512-BF16) with torch 2.13 CPU. It is shared: while these "
        "numbers were taken, other jobs ran on the same two cores, so absolute times are "
        "contended and vary between runs. What is meant to hold is the **ratios**: every "
        "benchmark measures its subject and a peer side by side in the same run (interleaved "
        "rounds or alternating processes) and reports the median over repeats with the "
        "min–max range. Ratios taken from two different runs are marked as such.",
        "",
    ]
    rows = []
    for name in names():
        data = load(name)
        if data is None:
            continue
        m = data.get("machine", {})
        rows.append(
            [
                source(name),
                committed(name),
                m.get("cpu"),
                m.get("cores"),
                m.get("torch"),
                m.get("python"),
                m.get("cuda") or "none",
            ]
        )
    lines += table(["result", "date", "CPU", "cores", "torch", "Python", "GPU"], rows)
    lines += [
        "Regenerate this page from the JSON files with `python benchmarks/report.py` "
        "(`--check` fails when it is out of date). Each section names the command that "
        "produced its JSON.",
        "",
    ]
    return lines
