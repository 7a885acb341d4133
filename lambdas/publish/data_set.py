"""The stable manifest of the QuickSight data set: every published partition, within the limit.

Per-run manifests change key with each run; a data set needs one key that never changes. It
lists one folder prefix per model version (``{prefix}/model=M/version=V/``, ending in ``/`` so
``version=1`` never also reads ``version=10``), which holds that version's runs and nothing else:
reports and per-run manifests live under ``{prefix}/reports/`` and ``{prefix}/manifests/``.

QuickSight imports at most 1,000 files through one manifest ("Supported formats for Amazon S3
manifest files", QuickSight user guide). Each run adds one file per version, so when the
versions' runs together pass the limit, the oldest versions' folders (by version number) are
left out whole and named in the result; a single version with more runs than the limit is an
error, since no folder prefix can then read its newest runs only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from lambdas.publish.keys import FORECASTS_FILE
from lambdas.publish.rows import PublishError

MANIFEST_FILE_LIMIT = 1000  # files QuickSight imports through one manifest
PARTITIONS = "model="


@dataclass(frozen=True)
class DataSetFolders:
    """The version folders the manifest reads and those left out (keys, ending in ``/``)."""

    kept: tuple[str, ...]
    left_out: tuple[str, ...]
    files: int  # published CSVs the kept folders hold


def version_folders(
    keys: Sequence[str], forecasts_prefix: str, limit: int = MANIFEST_FILE_LIMIT
) -> DataSetFolders:
    """Group the published CSVs by version folder and keep the newest versions within ``limit``.

    ``keys`` are the bucket's keys under ``{forecasts_prefix}/model=``; anything but a
    partition's ``forecasts.csv`` is ignored.
    """
    base = f"{forecasts_prefix.strip('/')}/" if forecasts_prefix.strip("/") else ""
    counts: dict[str, int] = defaultdict(int)
    for key in keys:
        parts = key.removeprefix(base).split("/")
        is_partition = (
            key.startswith(base + PARTITIONS)
            and len(parts) == 4
            and parts[1].startswith("version=")
            and parts[2].startswith("run=")
            and parts[3] == FORECASTS_FILE
        )
        if is_partition:
            counts[f"{base}{parts[0]}/{parts[1]}/"] += 1
    kept: list[str] = []
    left_out: list[str] = []
    files = 0
    for folder in sorted(counts, key=_newest_first):
        if files + counts[folder] <= limit and not left_out:
            kept.append(folder)
            files += counts[folder]
        else:
            left_out.append(folder)
    if counts and not kept:
        newest = sorted(counts, key=_newest_first)[0]
        raise PublishError(
            f"{newest} holds {counts[newest]} published runs; QuickSight imports at most "
            f"{limit} files through one manifest. Expected at most {limit} runs of one version: "
            "move older runs out of the folder"
        )
    return DataSetFolders(tuple(sorted(kept)), tuple(sorted(left_out)), files)


def _newest_first(folder: str) -> tuple[int, str]:
    """Higher version numbers first; a version that is not a number sorts last, by name."""
    version = folder.rstrip("/").rsplit("version=", 1)[-1]
    return (-int(version) if version.isdigit() else 1, folder)
