"""Evidence for the approver: a new version's test metrics against the approved version's.

Pure logic, standard library only: the comparison Lambda (on registration) and local mode's
``approve`` run this same rule on ``evaluation.json`` objects.

The rule:

* No approved version yet (or one that registered no evaluation): nothing to compare with, and
  the comparison says so; it is never an error.
* **Same windows** (the basis wanted): the pipeline's Evaluate step scored the approved version's
  model on the new version's test windows, into the new evaluation's ``approved`` block
  (``forecasting.steps.evaluate``). When that block is for the version approved now, its metrics
  are compared with the new version's. Where the two models' fitted scalers differ (data that
  grew), metrics on a fitted scale are not comparable: when the evaluation reports
  ``original_scale_metrics`` beside them, only those are compared, and a note says so.
* **Registered evaluations** (the fallback, labelled as such): otherwise (an evaluation from
  before this step, an approved model that could not score the windows, another version
  approved since) each version's own registered evaluation is compared. Their test windows must
  be the same for the metrics to mean the same thing: the ``evaluation`` block records the
  split, the number of windows, the horizon, the targets, the scale and the data source. Any
  difference is listed and the verdict says the metrics are not on the same windows.
* Every metric evaluation.json holds is an error (the families' defaults and the pipeline's
  gate say so: lower is better). A metric is *worse* when the new value is higher than the
  approved one; metrics only one side has are listed, not compared.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REPORT_FOLDER = "approvals"  # under the forecasts prefix, beside the published partitions
SECTIONS = (("regression_metrics", ""), ("original_scale_metrics", "original_scale."))
# What identifies the test windows in evaluation.json's "evaluation" block.
WINDOW_FIELDS = ("split", "windows", "horizon", "targets", "scale", "source")
# CustomerMetadataProperties (botocore's SageMaker model, UpdateModelPackage): at most 50
# entries, keys 1-128 and values 1-256 characters of letters, digits, spaces and _.:/=+-@.
METADATA_PREFIX = "comparison."
MAX_METADATA_ENTRIES = 50
MAX_METADATA_KEY = 128
MAX_METADATA_VALUE = 256
_NOT_METADATA = re.compile(r"[^\w\s.:/=+\-@]")
APPROVED_BLOCK = "approved"  # forecasting.steps.evaluate.APPROVED_BLOCK
SAME_WINDOWS = "same test windows"  # the basis: both scored by the new version's Evaluate step
REGISTERED = "registered evaluations"  # the basis: each version's own test windows
ORIGINAL_SCALE = "original_scale."


@dataclass(frozen=True)
class MetricComparison:
    name: str  # "mae", or "original_scale.mae"
    new: float
    approved: float

    @property
    def worse(self) -> bool:
        return self.new > self.approved

    @property
    def relative_change(self) -> float | None:
        """(new - approved) / |approved|; None when the approved value is 0."""
        return None if self.approved == 0 else (self.new - self.approved) / abs(self.approved)


@dataclass(frozen=True)
class Comparison:
    """A new version against the approved one (``approved_version`` None: none approved)."""

    group: str
    new_version: int
    approved_version: int | None
    metrics: tuple[MetricComparison, ...] = ()
    window_differences: tuple[str, ...] = ()
    only_new: tuple[str, ...] = ()  # metrics the approved evaluation lacks
    only_approved: tuple[str, ...] = ()
    report_uri: str | None = None
    notes: tuple[str, ...] = field(default=())
    basis: str = REGISTERED

    @property
    def comparable(self) -> bool:
        return self.approved_version is not None and bool(self.metrics)

    @property
    def same_windows(self) -> bool:
        return not self.window_differences

    @property
    def worse(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics if m.worse)

    def verdict(self) -> str:
        """One sentence for the console, the registry and the report."""
        new = f"version {self.new_version}"
        if self.approved_version is None:
            return f"{new}: no version of {self.group} is approved yet; nothing to compare with"
        approved = f"approved version {self.approved_version}"
        if not self.metrics:
            return f"{new}: no metric to compare with {approved} (" + "; ".join(self.notes) + ")"
        if self.basis == SAME_WINDOWS:
            windows = f"both scored on version {self.new_version}'s test windows"
            if not self.same_windows:
                windows += " (" + "; ".join(self.window_differences) + ")"
        elif self.same_windows:
            windows = "by their registered evaluations, on the same test windows"
        else:
            windows = (
                "by their registered evaluations, NOT on the same test windows ("
                + "; ".join(self.window_differences)
                + ")"
            )
        worse = self.worse
        if worse:
            outcome = f"worse than {approved} on {len(worse)} of {len(self.metrics)}: "
            outcome += ", ".join(worse)
        else:
            outcome = f"as good as or better than {approved} on all {len(self.metrics)} metrics"
        return f"{new} is {outcome}, {windows}"

    def lines(self) -> list[str]:
        """The verdict, then one line per metric: what ``approve`` prints."""
        lines = [self.verdict()]
        for metric in self.metrics:
            lines.append(
                f"  {metric.name:<26} new {_number(metric.new):>12}  approved "
                f"{_number(metric.approved):>12}  {_change(metric)}"
                + ("  WORSE" if metric.worse else "")
            )
        lines += [f"  note: {note}" for note in self.notes if self.metrics]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "new_version": self.new_version,
            "approved_version": self.approved_version,
            "verdict": self.verdict(),
            "basis": self.basis if self.approved_version is not None else None,
            "same_test_windows": self.same_windows if self.approved_version else None,
            "window_differences": list(self.window_differences),
            "worse": list(self.worse),
            "metrics": [
                {
                    "name": m.name,
                    "new": m.new,
                    "approved": m.approved,
                    "relative_change": m.relative_change,
                    "worse": m.worse,
                }
                for m in self.metrics
            ],
            "only_new": list(self.only_new),
            "only_approved": list(self.only_approved),
            "notes": list(self.notes),
            "report_uri": self.report_uri,
        }

    def metadata(self, room: int = MAX_METADATA_ENTRIES) -> dict[str, str]:
        """CustomerMetadataProperties for the new package, within SageMaker's limits.

        ``room`` is how many entries the package may still take (50 less those it has that
        are not ours); the per-metric entries are the first to give way.
        """
        entries = {
            "verdict": self.verdict(),
            "approved_version": str(self.approved_version or "none"),
            "basis": self.basis if self.approved_version is not None else "none",
            "same_test_windows": (
                str(self.same_windows).lower() if self.approved_version is not None else "none"
            ),
            "worse": " ".join(self.worse) or "none",
        }
        if self.report_uri:
            entries["report"] = self.report_uri
        for metric in self.metrics:
            entries[f"metric.{metric.name}"] = (
                f"new {_number(metric.new)} approved {_number(metric.approved)} "
                f"{_change(metric)}" + (" worse" if metric.worse else "")
            )
        kept = list(entries.items())[: max(room, 0)]
        return {metadata_key(key): metadata_value(value) for key, value in kept}


def compare(
    group: str,
    new_version: int,
    new_evaluation: Mapping[str, Any],
    approved_version: int | None,
    approved_evaluation: Mapping[str, Any] | None,
) -> Comparison:
    """Compare two evaluation.json objects by the rule in the module docstring."""
    if approved_version is None:
        return Comparison(group, new_version, None)
    same_windows, why_not = scored_on_same_windows(new_evaluation, approved_version)
    if same_windows is not None:
        return _compared(group, new_version, approved_version, new_evaluation, same_windows,
                         SAME_WINDOWS, ())  # fmt: skip
    if approved_evaluation is None:
        return Comparison(
            group,
            new_version,
            approved_version,
            notes=(why_not, f"approved version {approved_version} registered no evaluation"),
        )
    return _compared(group, new_version, approved_version, new_evaluation, approved_evaluation,
                     REGISTERED, (why_not,))  # fmt: skip


def scored_on_same_windows(
    new_evaluation: Mapping[str, Any], approved_version: int
) -> tuple[Mapping[str, Any] | None, str]:
    """The ``approved`` block of the new evaluation when it scored ``approved_version``; else
    None and why the registered evaluations are compared instead."""
    block = new_evaluation.get(APPROVED_BLOCK)
    if not isinstance(block, Mapping):
        return None, "this version's evaluation did not score the approved model on its windows"
    scored = block.get("model_package_version")
    if not block.get("scored"):
        return None, "the approved model was not scored on this version's windows: " + str(
            block.get("reason", "no reason recorded")
        )
    if scored != approved_version:
        return None, (
            f"this version's evaluation scored version {scored}, but version {approved_version} "
            "is the approved one now"
        )
    return block, ""


def _compared(
    group: str,
    new_version: int,
    approved_version: int,
    new_evaluation: Mapping[str, Any],
    approved_evaluation: Mapping[str, Any],
    basis: str,
    notes: tuple[str, ...],
) -> Comparison:
    new_metrics, approved_metrics = (
        metric_values(new_evaluation),
        metric_values(approved_evaluation),
    )
    rescaled = (
        basis == SAME_WINDOWS and approved_evaluation.get("same_fitted_preprocessing") is False
    )
    if rescaled and any(n.startswith(ORIGINAL_SCALE) for n in new_metrics):
        new_metrics = {k: v for k, v in new_metrics.items() if k.startswith(ORIGINAL_SCALE)}
        approved_metrics = {
            k: v for k, v in approved_metrics.items() if k.startswith(ORIGINAL_SCALE)
        }
        notes += ("the two models' fitted scalers differ: only the original-scale metrics are "
                  "compared",)  # fmt: skip
    common = [name for name in new_metrics if name in approved_metrics]
    notes += () if common else ("the two evaluations share no metric",)
    return Comparison(
        group=group,
        new_version=new_version,
        approved_version=approved_version,
        metrics=tuple(
            MetricComparison(name, new_metrics[name], approved_metrics[name]) for name in common
        ),
        window_differences=window_differences(new_evaluation, approved_evaluation),
        only_new=tuple(name for name in new_metrics if name not in approved_metrics),
        only_approved=tuple(name for name in approved_metrics if name not in new_metrics),
        notes=notes,
        basis=basis,
    )


def metric_values(evaluation: Mapping[str, Any]) -> dict[str, float]:
    """Every finite metric value of evaluation.json, named as in :data:`SECTIONS`."""
    values: dict[str, float] = {}
    for section, prefix in SECTIONS:
        metrics = evaluation.get(section)
        if not isinstance(metrics, Mapping):
            continue
        for name, item in metrics.items():
            value = item.get("value") if isinstance(item, Mapping) else item
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                values[f"{prefix}{name}"] = float(value)
    return values


def window_differences(new: Mapping[str, Any], approved: Mapping[str, Any]) -> tuple[str, ...]:
    """``field: new vs approved`` for each test-window field the two evaluations disagree on."""
    new_about = new.get("evaluation") or {}
    approved_about = approved.get("evaluation") or {}
    differences = []
    for name in WINDOW_FIELDS:
        a, b = new_about.get(name), approved_about.get(name)
        if a != b:
            differences.append(f"{name}: {_text(a)} vs {_text(b)}")
    return tuple(differences)


def report_folder(forecasts_prefix: str, group: str, version: int) -> str:
    """``{prefix}/approvals/{group}/version={N}``: where the comparison's page and JSON go."""
    parts = (forecasts_prefix.strip("/"), REPORT_FOLDER, group, f"version={version}")
    return "/".join(part for part in parts if part)


def metadata_key(key: str) -> str:
    return metadata_value(METADATA_PREFIX + key)[:MAX_METADATA_KEY]


def metadata_value(text: str) -> str:
    """``text`` in the characters SageMaker's metadata pattern allows, within 256."""
    cleaned = re.sub(r"\s+", " ", _NOT_METADATA.sub(" ", text)).strip()
    return (cleaned or "none")[:MAX_METADATA_VALUE]


def _number(value: float) -> str:
    return f"{value:.6g}"


def _change(metric: MetricComparison) -> str:
    change = metric.relative_change
    if change is None:
        return "change n/a"
    return f"{change * 100:+.1f} pct"


def _text(value: Any) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, list | tuple):
        return "/".join(str(v) for v in value)
    return str(value)
