"""Local approval evidence: the comparison rule on the local registry, written where the cloud
writes it (metadata, forecasts/approvals)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_mode.approval import ApprovalError, change_status
from local_mode.evidence import record_comparison
from local_mode.layout import Home
from local_mode.registry import APPROVED, REJECTED, Registry
from tests.local_mode.test_registry import register


def evaluation(mae: float, windows: int = 100) -> dict:
    return {
        "regression_metrics": {"mse": {"value": 0.4}, "mae": {"value": mae}},
        "evaluation": {"split": "test", "windows": windows, "horizon": 4, "targets": ["OT"]},
    }


def test_a_worse_new_version_is_compared_with_the_latest_approved_one(tmp_path: Path):
    home = Home(tmp_path)
    registry = Registry(home.registry)
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"archive")
    old = register(registry, artifact, metrics=evaluation(0.6))
    approved = register(registry, artifact, metrics=evaluation(0.5))
    rejected = register(registry, artifact, metrics=evaluation(0.1))
    new = register(registry, artifact, metrics=evaluation(0.55))
    registry.set_status(old.group, old.version, APPROVED)
    registry.set_status(approved.group, approved.version, APPROVED)
    registry.set_status(rejected.group, rejected.version, REJECTED)

    comparison = record_comparison(home, registry.get(new.group, new.version))

    assert comparison.approved_version == approved.version  # the latest approved, not v1
    assert comparison.worse == ("mae",)
    metadata = registry.get(new.group, new.version).customer_metadata
    assert metadata["comparison.worse"] == "mae"
    assert metadata["comparison.same_test_windows"] == "true"
    folder = home.buckets / home.forecasts_bucket / "forecasts/approvals/ts-forecasting"
    saved = json.loads((folder / f"version={new.version}/comparison.json").read_text())
    assert saved["verdict"] == comparison.verdict()
    assert comparison.report_uri == str(folder / f"version={new.version}/comparison.html")


def test_approve_prints_the_comparison_before_forecasting(tmp_path: Path):
    """The verdict is said even when the transform has nothing to run."""
    home = Home(tmp_path)
    registry = Registry(home.registry)
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"archive")
    first = register(registry, artifact, metrics=evaluation(0.5))
    registry.set_status(first.group, first.version, APPROVED)
    second = register(registry, artifact, metrics=evaluation(0.4, windows=120))
    said: list[str] = []
    # The registry record has no real container: the plan is refused after the evidence.
    with pytest.raises(ApprovalError, match="ModelDataUrl"):
        change_status(home, second.group, second.version, APPROVED, say=said.append)
    evidence = [line for line in said if line.startswith("evidence: ")]
    assert evidence[0] == (
        "evidence: version 2 is as good as or better than approved version 1 on all 2 metrics, "
        "by their registered evaluations, NOT on the same test windows (windows: 120 vs 100)"
    )
    assert any("mae" in line and "approved" in line for line in evidence[1:])
