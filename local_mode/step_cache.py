"""Local step caching: the definition's ``CacheConfig`` honoured as SageMaker honours it.

A Processing or Training step whose ``CacheConfig`` is enabled is reused when a run in this
home finished it successfully, within ``ExpireAfter``, with the same cache key: the SHA-256 of
the attributes SageMaker compares, from the step's resolved arguments
(:func:`forecasting.pipeline.caching.cache_key`). Where local mode reads an input that is not
in those arguments (Preprocess reading ``--data FILE`` in place), the digest of that input's
content joins the key, so changed data misses as a changed snapshot URI does in the cloud.

Entries are ``<home>/step-cache/<step>/<key>.json``: the run that produced the outcome, when
it finished and the outcome itself (the step's properties, as a status marker holds them). A
failed step writes none. An entry whose outputs are gone (the run folder or its objects were
deleted) is a miss, said as such.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forecasting.pipeline.caching import CACHED_STEP_TYPES, cache_key, parse_duration
from local_mode import files

CACHE_DIR = "step-cache"


@dataclass(frozen=True)
class CachedStep:
    """A reusable outcome of an earlier run."""

    run_id: str
    run_dir: str
    finished: datetime
    outcome: dict[str, Any]


def cacheable(step: Mapping[str, Any]) -> bool:
    config = step.get("CacheConfig") or {}
    return step.get("Type") in CACHED_STEP_TYPES and bool(config.get("Enabled"))


def step_key(
    step: Mapping[str, Any], resolved_arguments: Mapping[str, Any], local_input: str
) -> str:
    """The cloud's key, with the digest of what the step reads outside its arguments."""
    key: str = cache_key(str(step["Type"]), resolved_arguments)
    if not local_input:
        return key
    return hashlib.sha256(f"{key}\n{local_input}".encode()).hexdigest()


def content_digest(path: Path) -> str:
    """SHA-256 over a file's bytes, or over every file under a folder (names and bytes)."""
    digest = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for item in paths:
        digest.update(item.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        digest.update(b"\0")
        with item.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


class StepCache:
    """The home's cache of finished steps; ``enabled=False`` (``--no-cache``) reads none but
    still records what runs, so the next run can reuse it."""

    def __init__(
        self,
        root: Path,
        enabled: bool = True,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.root = root / CACHE_DIR
        self.enabled = enabled
        self.now = now

    def entry(self, step_name: str, key: str) -> Path:
        return self.root / step_name / f"{key}.json"

    def lookup(self, step: Mapping[str, Any], key: str) -> CachedStep | None:
        """The newest successful run of this step with this key, if not expired."""
        if not (self.enabled and cacheable(step)):
            return None
        path = self.entry(str(step["Name"]), key)
        if not path.is_file():
            return None
        stored = files.read_json(path)
        finished = datetime.fromisoformat(stored["finished"])
        if self.now() - finished > parse_duration(step["CacheConfig"]["ExpireAfter"]):
            return None
        return CachedStep(stored["run_id"], stored["run_dir"], finished, stored["outcome"])

    def store(
        self, step: Mapping[str, Any], key: str, run_id: str, run_dir: Path, outcome: Any
    ) -> None:
        if not cacheable(step):
            return
        entry = {
            "run_id": run_id,
            "run_dir": str(run_dir),
            "finished": self.now().isoformat(),
            "outcome": outcome,
        }
        files.atomic_write_json(self.entry(str(step["Name"]), key), entry)


def moved(value: Any, old: str, new: str) -> Any:
    """``value`` with every path under the old run folder moved under the new one."""
    if isinstance(value, str) and (value == old or value.startswith(old + "/")):
        return new + value[len(old) :]
    if isinstance(value, dict):
        return {k: moved(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [moved(v, old, new) for v in value]
    return value
