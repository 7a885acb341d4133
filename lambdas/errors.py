"""The Lambdas' configuration error.

The Lambda asset ships without model_build, so this cannot be ``forecasting.errors.ConfigError``;
it has its name and base (ValueError) so one configuration error reads the same in every layer
(pinned by tests/lambdas/test_protocol_contract.py).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A required environment variable is missing or malformed; the message names it."""
