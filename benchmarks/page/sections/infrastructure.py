"""cdk synth and the test suite (infrastructure.json)."""

from __future__ import annotations

from benchmarks.page.format import missing, ratio, table
from benchmarks.page.results import load, source
from benchmarks.page.targets import TARGETS

SYNTH, SUITE = TARGETS["synth_seconds"], TARGETS["suite_minutes"]


def section() -> list[str]:
    data = load("infrastructure")
    lines = [
        "## Infrastructure",
        "",
        "`cdk synth` is `python app.py` as the CDK CLI's `app` command runs it (the CLI adds "
        "only its own Node start-up and is not installed on the reference machine), in a fresh "
        "process writing to a temporary `cdk.out`; its peer, alternating with it in the same "
        "run, is a bare CDK app with one S3 bucket, the start-up floor of any CDK app "
        "(importing aws-cdk-lib, starting the jsii Node runtime) "
        "(`python benchmarks/infrastructure.py`). "
        f"Targets: synth **{SYNTH.bound}**, the full test suite **{SUITE.bound}** on 2 cores.",
        "",
    ]
    if data is None:
        return lines + missing("infrastructure", "python benchmarks/infrastructure.py")
    rows = []
    synth = data.get("synth")
    if synth:
        for key, label in (("stack", "this stack (`app.py`)"), ("bare", "bare app, one S3 bucket")):
            s = synth[key]
            rows.append(
                [
                    label,
                    f"{s['median']:.2f}",
                    f"{s['min']:.2f}–{s['max']:.2f}",
                    s["resources"],
                    source("infrastructure"),
                ]
            )
        verdict = SYNTH.verdict(synth["stack"]["median"])
        rows.append(
            [
                "stack / bare",
                ratio(synth["stack_over_bare"]),
                "",
                f"stack − bare = {synth['stack_minus_bare_seconds']:.2f} s; "
                f"{SYNTH.bound} target: {verdict}",
                source("infrastructure"),
            ]
        )
    suite = data.get("suite")
    if suite:
        verdict = SUITE.verdict(suite["seconds"] / 60)
        rows.append(
            [
                f"test suite (`{suite['command']}`)",
                f"{suite['seconds']:.0f}",
                "once",
                f"{suite['summary']}; {SUITE.bound} target: {verdict}",
                source("infrastructure"),
            ]
        )
    else:
        rows.append(
            [
                "test suite",
                "not measured",
                "",
                "needs a quiet machine: `python benchmarks/infrastructure.py --suite --no-synth`",
                "–",
            ]
        )
    lines += table(["what", "seconds (median)", "range", "resources / notes", "source"], rows)
    lines += [
        "The stack synthesized is the working tree's at the time of the run (its resource "
        "count is in the table).",
        "",
    ]
    return lines


def target_rows() -> list[list[str]]:
    """`cdk synth` time, and the full test suite's."""
    data = load("infrastructure") or {}
    rows = []
    if data.get("synth"):
        s = data["synth"]["stack"]["median"]
        rows.append(
            [
                f"`cdk synth` {SYNTH.bound}",
                f"{s:.1f} s",
                SYNTH.verdict(s),
                "[infrastructure](#infrastructure)",
            ]
        )
    suite = data.get("suite")
    minutes = suite["seconds"] / 60 if suite else None
    rows.append(
        [
            f"Full test suite {SUITE.bound} on 2 cores",
            f"{minutes:.1f} min" if minutes is not None else "not measured yet",
            SUITE.verdict(minutes) if minutes is not None else "–",
            "[infrastructure](#infrastructure)",
        ]
    )
    return rows
