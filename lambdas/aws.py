"""What both Lambdas (one asset) need from AWS: cached clients and ``s3://`` URIs."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Standard retries with a few more attempts than the default 3: a throttled call is retried
# with backoff instead of failing the whole invocation.
RETRY_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"})

_clients: dict[tuple[str, str | None], Any] = {}


def client(service: str, region: str | None = None) -> Any:
    """One client per service and region per container, created on first use and reused by
    later invocations (``region`` None: the Lambda's own)."""
    key = (service, region)
    if key not in _clients:
        _clients[key] = boto3.client(service, region_name=region, config=RETRY_CONFIG)
    return _clients[key]


def reset_clients() -> None:
    """Forget the cached clients (tests create them inside a moto context)."""
    _clients.clear()


def split_s3_uri(
    uri: str,
    what: str,
    *,
    require_key: bool = False,
    error: type[ValueError] = ValueError,
) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); ``what`` names the setting in the message."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme != "s3" or not bucket or (require_key and not key.strip("/")):
        expected = "s3://bucket/key" if require_key else "s3://bucket/prefix"
        raise error(f"{what} is {uri!r}; expected {expected}")
    return bucket, key
