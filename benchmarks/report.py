"""Renders docs/benchmarks.md from benchmarks/results/*.json, so the results page stays current.

    python benchmarks/report.py            # rewrite docs/benchmarks.md (and the DDP plot)
    python benchmarks/report.py --check    # exit 1 if the page is out of date with the JSON

The page itself is built by the package benchmarks/page/: one section per benchmark, the
targets in page/targets.py, the published numbers with their sources in page/anchors.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root holds the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.page.render import render, up_to_date
from benchmarks.page.results import PAGE, RESULTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the page is out of date")
    parser.add_argument("--no-plots", action="store_true", help="do not redraw the DDP plot")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = PAGE.read_text() if PAGE.exists() else ""
        if not up_to_date(current, text):
            sys.exit(f"{PAGE} is out of date: run python benchmarks/report.py")
        return
    if not args.no_plots and (RESULTS / "ddp_throughput.json").exists():
        sys.path.insert(0, str(Path(__file__).parent))
        from ddp_scaling_plot import plot

        plot()
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text)
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()
