"""Views of the families' defaults for modules that predate the registry (the pipeline builder,
local mode's option checks); each family's ``defaults.py`` is their one home.

Light, as the families' attributes are: the pipeline builder imports it at synth time.
"""

from __future__ import annotations

from typing import Any

from forecasting.families import FAMILIES
from forecasting.models.informer.defaults import LABEL_LEN

FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {n: f.fit_defaults for n, f in FAMILIES.items()}
WINDOW_DEFAULTS: dict[str, dict[str, int]] = {n: f.windows for n, f in FAMILIES.items()}

__all__ = ["FAMILY_DEFAULTS", "LABEL_LEN", "WINDOW_DEFAULTS"]
