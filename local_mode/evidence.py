"""Local mode's approval evidence: the comparison Lambda's rule on the local registry.

The same :func:`lambdas.comparison.comparison.compare` and page as the cloud, on the version's
registered evaluation.json: on the same test windows where the run's Evaluate step scored the
approved version (its ``approved`` block), else the two registered evaluations, labelled. The
comparison goes into the version's customer metadata (as UpdateModelPackage puts it there) and
beside the published forecasts, under ``forecasts/approvals/{group}/version={N}/``.
"""

from __future__ import annotations

import dataclasses
import json

from lambdas.batch_transform.schedule import latest_approved
from lambdas.comparison.comparison import (
    MAX_METADATA_ENTRIES,
    METADATA_PREFIX,
    Comparison,
    compare,
    report_folder,
)
from lambdas.comparison.page import comparison_page
from lambdas.publish.stores import LocalStore
from local_mode.layout import FORECASTS_PREFIX, Home
from local_mode.registry import ModelPackage, Registry


def approved_reference(registry: Registry, package: ModelPackage) -> ModelPackage | None:
    """The latest Approved version of the group other than ``package`` itself."""
    others = {p.version: p for p in registry.list(package.group) if p.version != package.version}
    chosen = latest_approved(
        {"ModelPackageVersion": p.version, "ModelApprovalStatus": p.approval_status}
        for p in others.values()
    )
    return others[int(chosen["ModelPackageVersion"])] if chosen else None


def record_comparison(home: Home, package: ModelPackage) -> Comparison:
    """Compare, write the page and JSON into the local forecasts bucket, and put the
    comparison into the version's customer metadata."""
    registry = Registry(home.registry)
    approved = approved_reference(registry, package)
    comparison = compare(
        package.group,
        package.version,
        package.metrics,
        approved.version if approved else None,
        (approved.metrics or None) if approved else None,
    )
    store = LocalStore(home.buckets / home.forecasts_bucket)
    folder = report_folder(FORECASTS_PREFIX, package.group, package.version)
    comparison = dataclasses.replace(
        comparison, report_uri=str(store.root / folder / "comparison.html")
    )
    store.write(f"{folder}/comparison.html", comparison_page(comparison).encode(), "text/html")
    body = json.dumps(comparison.to_dict(), indent=2).encode()
    store.write(f"{folder}/comparison.json", body, "application/json")
    current = package.customer_metadata
    others = {k for k in current if not k.startswith(METADATA_PREFIX)}
    wanted = comparison.metadata(room=MAX_METADATA_ENTRIES - len(others))
    stale = tuple(k for k in current if k.startswith(METADATA_PREFIX) and k not in wanted)
    registry.update_metadata(package.group, package.version, wanted, remove=stale)
    return comparison
