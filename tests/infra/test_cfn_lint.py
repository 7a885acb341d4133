"""cfn-lint on the synthesized templates, at error level."""

from __future__ import annotations

import json
from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.infra.synthesized import SynthesizedApp

# The stack is region-agnostic; lint against a few commercial regions where SageMaker runs.
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def test_template_has_no_cfn_lint_errors(any_app: SynthesizedApp, tmp_path: Path) -> None:
    template_path = tmp_path / "template.json"
    template_path.write_text(json.dumps(any_app.template_json), encoding="utf-8")

    matches = lint_file(template_path, config=ManualArgs(regions=REGIONS))

    errors = [
        f"{match.rule.id} {match.message} (line {match.linenumber})"
        for match in matches
        if match.rule.id.startswith("E")
    ]
    assert errors == []
