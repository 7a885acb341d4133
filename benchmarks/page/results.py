"""Reading benchmarks/results/*.json and naming where a number comes from."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "benchmarks.md"


def load(name: str) -> dict[str, Any] | None:
    """The result ``name`` (its file's stem), or None when it was not measured."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def load_prefixed(prefix: str) -> dict[str, dict[str, Any]]:
    """Every result whose name starts with ``prefix``, by the rest of its name, sorted."""
    return {
        p.stem.removeprefix(prefix): json.loads(p.read_text())
        for p in sorted(RESULTS.glob(f"{prefix}*.json"))
    }


def names() -> list[str]:
    """The names of all results present."""
    return sorted(p.stem for p in RESULTS.glob("*.json"))


def source(name: str) -> str:
    """A link from the page to the JSON a number comes from."""
    return f"[`{name}.json`](../benchmarks/results/{name}.json)"


def committed(name: str) -> str:
    """The day the result was last committed, else the file's modification day."""
    path = RESULTS / f"{name}.json"
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        out = ""
    if out and not _dirty(path):
        return out
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d") + " (uncommitted)"


def _dirty(path: Path) -> bool:
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:
        return False
    return bool(status.strip())
