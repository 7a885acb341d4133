"""``s3://bucket/key`` URIs, split in one place for the pipeline runner and local mode."""

from __future__ import annotations

from forecasting.errors import ConfigError


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); the key may be empty (a whole bucket).

    A user gives these URIs (``DataUri``, transform paths), so anything else is a
    :class:`ConfigError` that quotes it, not an ``IndexError`` later.
    """
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme != "s3" or not bucket:
        raise ConfigError(f"{uri!r} is not an S3 URI; expected s3://bucket/key")
    return bucket, key
