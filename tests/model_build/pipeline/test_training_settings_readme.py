"""The README's training-configuration table states what model_build/training.json ships.

The table is what users read; the file is what a push trains with; ``PipelineSettings`` fills in
a key the file leaves out. These tests keep the three from drifting apart in silence.
"""

from __future__ import annotations

import json
from pathlib import Path

from forecasting.pipeline.settings import TRAINING_FILE, PipelineSettings

ROOT = Path(__file__).resolve().parents[3]
SECTION = "### Training configuration (`model_build/training.json`)"
CODE = "`"


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split(SECTION, 1)[1].split("\n### ", 1)[0]


def _value(cell: str) -> object:
    """A table cell as JSON where it is JSON (numbers, booleans, objects), else the text."""
    try:
        return json.loads(cell)
    except ValueError:
        return cell


def _table() -> dict[str, object]:
    """``key`` → default of each row; a row may name several keys and their values in order."""
    rows: dict[str, object] = {}
    for line in _section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith(CODE):
            continue
        keys = cells[0].split(CODE)[1::2]
        values = cells[1].split(CODE)[1::2]
        rows.update(zip(keys, map(_value, values), strict=True))
    return rows


def test_the_readme_table_shows_every_setting_with_the_value_training_json_ships():
    shipped = json.loads((ROOT / "model_build" / TRAINING_FILE).read_text(encoding="utf-8"))
    assert _table() == shipped


def test_a_key_left_out_of_training_json_differs_only_in_the_training_instance_type():
    """Without ``training_instance_type`` a file trains on ``PipelineSettings``' CPU default
    (which local mode and the tests use); the README says so below the table."""
    shipped = PipelineSettings.from_file(ROOT / "model_build" / TRAINING_FILE).to_dict()
    defaults = PipelineSettings().to_dict()
    assert {k for k in defaults if defaults[k] != shipped[k]} == {"training_instance_type"}
    assert f"`{defaults['training_instance_type']}`" in _section()
