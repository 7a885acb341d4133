"""The synthesized-app record shared by the infra tests (kept out of conftest so test
modules can import it as a plain module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Template

from infra.stack import ForecastingStack


@dataclass(frozen=True)
class SynthesizedApp:
    """An app after `synth()`, with its one stack and that stack's template."""

    app: App
    stack: ForecastingStack
    template: Template

    @property
    def template_json(self) -> dict[str, Any]:
        template: dict[str, Any] = self.template.to_json()
        return template
