"""Infrastructure timings: `cdk synth` of the stack beside a bare one-bucket CDK app, and the suite.

``synth``: ``python app.py`` as the CDK CLI's ``app`` command runs it (the CLI only adds its
own Node start-up, and is not installed here), in a fresh process with the working directory
set to a temporary folder, so the cloud assembly goes to ``<tmp>/cdk.out`` and the repository's
``cdk.out`` is left alone. Its peer, in the same run, is a bare CDK app with one S3 bucket in one
stack: the floor that importing aws-cdk-lib and starting the jsii Node runtime costs any CDK
app. The two alternate for ``--repeats`` rounds; the ratio of the medians is the stack's own
cost over the floor. ``JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20`` is set for both.

``--suite`` (opt-in, several minutes): the whole test suite once, ``python -m pytest -q -p
no:cacheprovider`` from the repository root, wall time and its summary line. Run it on a quiet
machine; with ``--no-synth`` it is added to the existing result file.

    python benchmarks/infrastructure.py                    # synth, 3 rounds
    python benchmarks/infrastructure.py --suite --no-synth # the suite row, on a quiet machine
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import print_table, spread, write_result
from page.targets import TARGETS

ROOT = Path(__file__).resolve().parents[1]
RESULT = Path(__file__).parent / "results" / "infrastructure.json"
ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
for _name in ("CDK_OUTDIR", "CDK_CONTEXT_JSON"):  # never inherit a CLI's settings
    ENV.pop(_name, None)

BARE_APP = """\
import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

app = cdk.App(outdir="cdk.out")
stack = cdk.Stack(app, "Bare")
s3.Bucket(stack, "Bucket")
app.synth()
"""


def _resources(outdir: Path) -> int:
    return sum(
        len(json.loads(t.read_text()).get("Resources", {})) for t in outdir.glob("*.template.json")
    )


def synth_once(app: Path) -> dict[str, Any]:
    """Wall seconds of one ``python <app>`` in a scratch working directory."""
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(app)], cwd=work, env=ENV, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(f"{app} failed:\n{done.stderr[-3000:]}")
        return {"seconds": seconds, "resources": _resources(Path(work) / "cdk.out")}


def synth(repeats: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"stack": [], "bare": []}
    with tempfile.TemporaryDirectory() as scratch:
        bare = Path(scratch) / "bare_app.py"
        bare.write_text(BARE_APP)
        for round_ in range(repeats):
            # alternate the order, so neither side always runs on a warmer page cache
            order = [("stack", ROOT / "app.py"), ("bare", bare)]
            for name, app in order if round_ % 2 == 0 else order[::-1]:
                runs[name].append(synth_once(app))
                print(f"round {round_} {name}: {runs[name][-1]}", flush=True)
    stack = spread([r["seconds"] for r in runs["stack"]])
    bare_ = spread([r["seconds"] for r in runs["bare"]])
    return {
        "stack": {**stack, "resources": runs["stack"][0]["resources"],
                  "seconds": [r["seconds"] for r in runs["stack"]]},
        "bare": {**bare_, "resources": runs["bare"][0]["resources"],
                 "seconds": [r["seconds"] for r in runs["bare"]]},
        "stack_over_bare": stack["median"] / bare_["median"],
        "stack_minus_bare_seconds": stack["median"] - bare_["median"],
        "target_seconds": TARGETS["synth_seconds"].limit,
    }  # fmt: skip


def suite() -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return {
        "seconds": seconds,
        "returncode": done.returncode,
        "summary": lines[-1] if lines else "",
        "command": " ".join(["python", *command[1:]]),
        "target_seconds": TARGETS["suite_minutes"].limit * 60,
        "load_average_at_start": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="synth rounds (median)")
    parser.add_argument("--suite", action="store_true", help="also time the whole test suite")
    parser.add_argument("--no-synth", action="store_true", help="keep the recorded synth rows")
    args = parser.parse_args()
    previous = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    payload: dict[str, Any] = {k: v for k, v in previous.items() if k != "machine"}
    if not args.no_synth:
        payload["synth"] = synth(args.repeats)
        s = payload["synth"]
        print_table(
            [
                {"app": "this stack (app.py)", "s": s["stack"]["median"], "min": s["stack"]["min"],
                 "max": s["stack"]["max"], "resources": s["stack"]["resources"]},
                {"app": "bare: 1 S3 bucket", "s": s["bare"]["median"], "min": s["bare"]["min"],
                 "max": s["bare"]["max"], "resources": s["bare"]["resources"]},
            ],
            ["app", "s", "min", "max", "resources"],
        )  # fmt: skip
        print(f"stack / bare = {s['stack_over_bare']:.2f}")
    if args.suite:
        payload["suite"] = suite()
        print(json.dumps(payload["suite"], indent=1))
    elif "suite" not in payload:
        payload["suite"] = None  # not measured: needs a quiet machine (--suite)
    payload["setup"] = __doc__.split("\n\n")[1]
    write_result("infrastructure", payload)


if __name__ == "__main__":
    main()
