"""The stable data set manifest: folder prefixes per model version, within QuickSight's limit
of 1,000 files per manifest ("Supported formats for Amazon S3 manifest files")."""

from __future__ import annotations

import pytest

from lambdas.publish.data_set import MANIFEST_FILE_LIMIT, version_folders
from lambdas.publish.publishing import PublishError


def runs(model: str, version: str, count: int, prefix: str = "forecasts") -> list[str]:
    return [
        f"{prefix}/model={model}/version={version}/run=job-{n}/forecasts.csv" for n in range(count)
    ]


def test_one_folder_per_version_and_only_partition_csvs():
    keys = [
        *runs("tft", "1", 2),
        *runs("tft", "10", 1),
        "forecasts/model=tft/version=1/stray.csv",  # not a partition: not counted
        "forecasts/model=tft/version=1/run=job-0/notes.txt",
    ]
    folders = version_folders(keys, "forecasts")
    # "version=1/" ends in a slash: it never also reads version=10's runs
    assert folders.kept == ("forecasts/model=tft/version=1/", "forecasts/model=tft/version=10/")
    assert (folders.left_out, folders.files) == ((), 3)


def test_the_oldest_versions_are_left_out_whole_past_the_limit():
    keys = runs("tft", "1", 600) + runs("tft", "2", 300) + runs("informer", "3", 200)
    assert MANIFEST_FILE_LIMIT == 1000
    folders = version_folders(keys, "forecasts")
    assert folders.kept == ("forecasts/model=informer/version=3/", "forecasts/model=tft/version=2/")
    assert folders.left_out == ("forecasts/model=tft/version=1/",)
    assert folders.files == 500


def test_exactly_the_limit_is_kept():
    folders = version_folders(runs("tft", "1", 1000), "forecasts")
    assert (folders.files, folders.left_out) == (1000, ())


def test_one_version_past_the_limit_is_an_error_naming_it():
    with pytest.raises(PublishError, match=r"version=7/ holds 1001 published runs.*at most 1000"):
        version_folders(runs("tft", "7", 1001), "forecasts")


def test_an_empty_prefix_reads_partitions_at_the_bucket_root():
    folders = version_folders([k.removeprefix("x/") for k in runs("tft", "1", 1, "x")], "")
    assert folders.kept == ("model=tft/version=1/",)
