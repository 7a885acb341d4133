"""The Lambdas' configuration error.

The Lambda asset ships without model_build, so this cannot be ``forecasting.errors.ConfigError``;
it has its name and base (ValueError) so one configuration error reads the same in every layer
(pinned by tests/lambdas/test_protocol_contract.py).
"""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """A required environment variable is missing or malformed; the message names it."""


def required_env(environ: Mapping[str, str], name: str, expected: str | None = None) -> str:
    """The stripped value of environment variable ``name``; a ConfigError naming it (and what
    it should hold, when ``expected`` says) when it is unset or blank."""
    value = environ.get(name, "").strip()
    if not value:
        detail = f"; expected {expected}" if expected else ""
        raise ConfigError(f"environment variable {name} is not set{detail}")
    return value
