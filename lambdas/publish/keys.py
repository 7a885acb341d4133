"""Where publishing writes: partition, report and manifest keys, and the QuickSight manifest.

Hive-style partitions ``{prefix}/model=M/version=V/run=R/forecasts.csv``: each run (a Batch
Transform job: an approval, a re-forecast request or a scheduled run with new input) is a
partition of its own, so runs never overwrite each other and a data set over the version folder
keeps them apart by its ``run`` column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lambdas.publish.rows import PublishError, partition_problem

TRANSFORM_SUFFIX = ".out"
FORECASTS_FILE = "forecasts.csv"
SYNTHETIC_MANIFEST = ".SYNTHETIC-DATA"  # before ".json" in a manifest's key


def partition_key(prefix: str, model: str, version: str, run: str) -> str:
    """``{prefix}/model={model}/version={version}/run={run}/forecasts.csv``."""
    return _join(prefix, partition_path(model, version, run), FORECASTS_FILE)


def report_prefix(prefix: str, model: str, version: str, run: str) -> str:
    """Folder of one partition's plots and report, kept apart from the CSV partitions."""
    return _join(prefix, "reports", partition_path(model, version, run))


def manifest_key(prefix: str, model: str, version: str, run: str, synthetic: bool = False) -> str:
    """One manifest per partition: a QuickSight data set per model, version and run.

    The manifest format has no room for a note, so synthetic data is marked in its name.
    """
    parts = partition_path(model, version, run)
    return _join(prefix, "manifests", f"{parts}{SYNTHETIC_MANIFEST if synthetic else ''}.json")


def quicksight_manifest(uri_prefixes: Sequence[str]) -> dict[str, Any]:
    """A QuickSight S3 manifest that reads the published CSV files and nothing else.

    Raw transform outputs (``*.out``) share no columns with the published data (no ``actual``,
    no ``run``) and would break the data set's schema, so pointing at one is refused.
    """
    if not uri_prefixes:
        raise ValueError("no URI prefixes; expected at least one published CSV location")
    for uri in uri_prefixes:
        if not uri:
            raise ValueError("empty URI prefix; expected a published CSV location")
        if uri.endswith(TRANSFORM_SUFFIX):
            raise ValueError(
                f"URI prefix {uri!r} is a raw transform output; expected a published CSV"
            )
    return {
        "fileLocations": [{"URIPrefixes": list(uri_prefixes)}],
        "globalUploadSettings": {
            "format": "CSV",
            "delimiter": ",",
            "textqualifier": '"',
            "containsHeader": "true",
        },
    }


def check_partition_part(name: str, value: str) -> str:
    """A partition value must not be empty nor contain ``/`` or ``=`` (Hive-style keys)."""
    problem = partition_problem(value)
    if problem:
        raise PublishError(f"{name} {value!r} {problem}")
    return value


def partition_path(model: str, version: str, run: str) -> str:
    check_partition_part("model", model)
    check_partition_part("model version", version)
    check_partition_part("run", run)
    return f"model={model}/version={version}/run={run}"


def _join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


def safe_file_name(name: str) -> str:
    """Letters, digits, ``.``, ``_`` and ``-`` only, so a series id is a harmless file name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "series"
