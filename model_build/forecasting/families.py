"""The model families, by the name ``--model`` takes. Adding a family: one folder under
``forecasting/models/`` with a ``family.py`` (see `forecasting.models.family.Family`) and one
line here. Light: the pipeline builder reads the families' defaults without torch."""

from __future__ import annotations

from forecasting.errors import ConfigError
from forecasting.models.family import Family
from forecasting.models.informer.family import INFORMER
from forecasting.models.tft.family import TFT

FAMILIES: dict[str, Family] = {"informer": INFORMER, "tft": TFT}


def family(name: str) -> Family:
    """The family called ``name``; an unknown name is a ConfigError that lists the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown model family {name!r}; expected one of {', '.join(FAMILIES)}"
        ) from None
