"""``s3://`` URIs are split in one place for the pipeline runner and local mode."""

from __future__ import annotations

import pytest

from forecasting.errors import ConfigError
from forecasting.s3_uris import split_s3_uri
from local_mode import layout


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/input/", ("bucket", "input/")),
        ("s3://bucket/a/b.csv", ("bucket", "a/b.csv")),
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
    ],
)
def test_splits_bucket_and_key(uri, expected):
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["bucket/key", "https://bucket/key", "s3:///key", "s3://", ""])
def test_anything_else_is_a_configuration_error_quoting_the_uri(uri):
    with pytest.raises(ConfigError, match="is not an S3 URI"):
        split_s3_uri(uri)


def test_local_mode_splits_the_same_way_and_keeps_keys_inside_their_bucket():
    assert layout.split_s3_uri("s3://bucket/a/b.csv") == split_s3_uri("s3://bucket/a/b.csv")
    with pytest.raises(ConfigError, match="is not an S3 URI"):
        layout.split_s3_uri("file://bucket/key")
    with pytest.raises(ConfigError, match=r"'\.\.' is not allowed"):
        layout.split_s3_uri("s3://bucket/../other/key")


def test_the_runner_refuses_an_input_uri_that_is_not_s3_before_listing():
    """``InputDataUri`` overrides reach the empty-bucket check: a bad one is named, not listed."""
    from forecasting.pipeline.execution import has_input_data

    class NoS3:
        def list_objects_v2(self, **request):
            raise AssertionError(f"listed {request}")

    with pytest.raises(ConfigError, match="'bucket/input/' is not an S3 URI"):
        has_input_data(NoS3(), "bucket/input/")
