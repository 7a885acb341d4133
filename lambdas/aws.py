"""The boto3 clients both Lambdas (one asset) use: one per service and region, with retries."""

from __future__ import annotations

from collections.abc import Callable
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
        # boto3's stubs type client() per literal service name; this cache takes any name.
        make: Callable[..., Any] = boto3.client
        _clients[key] = make(service, region_name=region, config=RETRY_CONFIG)
    return _clients[key]


def reset_clients() -> None:
    """Forget the cached clients (tests create them inside a moto context)."""
    _clients.clear()
