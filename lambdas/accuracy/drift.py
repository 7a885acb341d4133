"""When accuracy has drifted: the alarm rule and the retrain decision, pure logic, no I/O.

A version's *rolling* sMAPE is the mean over its matched points in the last ``window_days``
before its latest matched actual (data time, so scoring the same data again decides the same).
It is compared with the sMAPE the version registered (``evaluation.json``,
``regression_metrics.smape``, computed on the test split in the same units): above
``ratio`` times that, the version is in alarm.

* **Notify once.** A version that enters alarm is reported once; while it stays in alarm it is
  not reported again; once it recovers, a later relapse is reported again.
* **Retrain once per cool-down.** With retraining on, the newest judged version in alarm starts
  one pipeline execution, and no other starts until ``cooldown_days`` of data time have passed
  since it: one bad week retrains once.

The state that makes both hold (:class:`AlarmState`) is kept between runs by the caller: an S3
object in the cloud, a file in local mode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from lambdas.accuracy.scoring import Scores, as_utc

REFERENCE_METRIC = "smape"  # in evaluation.json's regression_metrics, for every family
DEFAULT_ALARM_RATIO = 1.5
DEFAULT_WINDOW_DAYS = 7
DEFAULT_COOLDOWN_DAYS = 7

ALARM, OK, NO_REFERENCE, NO_ACTUALS = "ALARM", "OK", "NO_REFERENCE", "NO_ACTUALS"


@dataclass(frozen=True)
class DriftPolicy:
    """The alarm and retrain settings (cdk.json in the cloud, flags locally)."""

    ratio: float = DEFAULT_ALARM_RATIO
    window_days: int = DEFAULT_WINDOW_DAYS
    retrain: bool = False
    cooldown_days: int = DEFAULT_COOLDOWN_DAYS

    def __post_init__(self) -> None:
        if not self.ratio > 0:
            raise ValueError(f"alarm ratio {self.ratio!r}; expected a number above 0")
        if self.window_days < 1:
            raise ValueError(f"window of {self.window_days} days; expected at least 1")
        if self.cooldown_days < 0:
            raise ValueError(f"cool-down of {self.cooldown_days} days; expected 0 or more")


@dataclass(frozen=True)
class Verdict:
    """One version's rolling accuracy against its registered one."""

    model: str
    version: str
    as_of: datetime | None  # latest matched forecast time (UTC wall clock for offset data)
    rolling_smape: float | None
    rolling_points: int
    reference_smape: float | None
    threshold_ratio: float

    @property
    def error_ratio(self) -> float | None:
        """Rolling sMAPE over the registered sMAPE (the alarm fires above the policy's ratio)."""
        if self.rolling_smape is None or not self.reference_smape:
            return None
        return self.rolling_smape / self.reference_smape

    @property
    def status(self) -> str:
        if self.rolling_smape is None:
            return NO_ACTUALS
        ratio = self.error_ratio
        if ratio is None:
            return NO_REFERENCE
        return ALARM if ratio > self.threshold_ratio else OK


@dataclass(frozen=True)
class AlarmState:
    """What earlier runs decided: the versions in alarm, and the last retrain (data time)."""

    alarmed: tuple[str, ...] = ()
    last_retrain_at: datetime | None = None
    last_retrain_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "alarmed": list(self.alarmed),
            "last_retrain_at": self.last_retrain_at.isoformat() if self.last_retrain_at else None,
            "last_retrain_version": self.last_retrain_version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str) -> AlarmState:
        try:
            at = data.get("last_retrain_at")
            return cls(
                alarmed=tuple(str(version) for version in data.get("alarmed", ())),
                last_retrain_at=datetime.fromisoformat(at) if at else None,
                last_retrain_version=data.get("last_retrain_version"),
            )
        except (AttributeError, TypeError, ValueError) as error:
            raise ValueError(
                f"{source}: {error}; expected the accuracy state (alarmed, last_retrain_at)"
            ) from None


@dataclass(frozen=True)
class Decision:
    """What to do now: the versions to report, the retrain to start, the state to keep."""

    notify: tuple[Verdict, ...]
    retrain: Verdict | None
    retrain_note: str  # why a retrain starts, or why none does
    state: AlarmState
    verdicts: tuple[Verdict, ...] = field(default=())


def reference_smape(evaluation: Mapping[str, Any] | None) -> float | None:
    """``regression_metrics.smape.value`` of a registered ``evaluation.json``, if it has one."""
    if not evaluation:
        return None
    metric = evaluation.get("regression_metrics", {}).get(REFERENCE_METRIC, {})
    value = metric.get("value") if isinstance(metric, Mapping) else None
    return float(value) if isinstance(value, int | float) else None


def verdicts(
    scores: Scores,
    references: Mapping[tuple[str, str], float | None],
    policy: DriftPolicy,
) -> list[Verdict]:
    """Each version's rolling sMAPE against its reference, newest version last."""
    found = []
    for model, version in sorted(scores.versions, key=version_order):
        by_time = scores.smape_by_time.get((model, version), {})
        as_of = max((as_utc(stamp) for stamp in by_time), default=None)
        total, points = 0.0, 0
        if as_of is not None:
            start = as_of - timedelta(days=policy.window_days)
            for stamp, (term_sum, count) in by_time.items():
                if as_utc(stamp) > start:
                    total, points = total + term_sum, points + int(count)
        found.append(
            Verdict(
                model=model,
                version=version,
                as_of=as_of,
                rolling_smape=total / points if points else None,
                rolling_points=points,
                reference_smape=references.get((model, version)),
                threshold_ratio=policy.ratio,
            )
        )
    return found


def decide(found: Sequence[Verdict], state: AlarmState, policy: DriftPolicy) -> Decision:
    """Apply the notify-once and retrain-once-per-cool-down rules (module docstring)."""
    alarmed = tuple(v.version for v in found if v.status == ALARM)
    notify = tuple(v for v in found if v.status == ALARM and v.version not in state.alarmed)
    judged = [v for v in found if v.status in (ALARM, OK)]
    newest = judged[-1] if judged else None
    new_state = replace(state, alarmed=alarmed)
    retrain: Verdict | None = None
    if newest is None or newest.status != ALARM:
        note = "no retrain: the newest judged version is not in alarm"
    elif not policy.retrain:
        note = "no retrain: retraining on drift is off"
    else:
        assert newest.as_of is not None  # judged versions have matched points
        last = state.last_retrain_at
        until = last + timedelta(days=policy.cooldown_days) if last else None
        if until is not None and newest.as_of < until:
            note = (
                f"no retrain: cool-down after the retrain of {last:%Y-%m-%d %H:%M} "
                f"(version {state.last_retrain_version}) lasts until {until:%Y-%m-%d %H:%M}"
            )
        else:
            retrain = newest
            note = (
                f"retrain: version {newest.version}'s rolling sMAPE {newest.rolling_smape:.4g} "
                f"is above {policy.ratio:g} x its registered {newest.reference_smape:.4g}"
            )
            new_state = replace(
                new_state, last_retrain_at=newest.as_of, last_retrain_version=newest.version
            )
    return Decision(notify, retrain, note, new_state, tuple(found))


def retrain_token(verdict: Verdict) -> str:
    """One retrain per version and data time: an idempotency token (StartPipelineExecution's
    ClientRequestToken, 32-128 characters), so two concurrent runs start one execution."""
    basis = f"{verdict.model}|{verdict.version}|{verdict.as_of}"
    return "accuracy-" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def version_order(key: tuple[str, str]) -> tuple[str, int, str]:
    """Numeric versions in number order (10 after 9), others after them by name."""
    model, version = key
    return (model, int(version) if version.isdigit() else 1 << 62, version)
