"""``python -m local_mode accuracy``: the accuracy Lambda's pass, on the local buckets.

The same :func:`lambdas.accuracy.tracking.track` scores the published forecasts
(``<home>/s3/<project>-forecasts/forecasts/model=<group>/...``) against every ``*.csv`` under the
local actuals prefix (``<home>/s3/<project>-data/actuals/``) and writes the same accuracy table
and manifest. Where the Lambda notifies SNS, an alarm here is printed and kept as an event file
in ``<home>/events``; where it starts the SageMaker pipeline, ``--retrain`` starts a local run
with the options of the run that trained the alarmed version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forecasting.errors import ConfigError
from lambdas.accuracy.drift import Decision, DriftPolicy, Verdict
from lambdas.accuracy.tracking import ACTUALS_PREFIX, Tracked, save_state, track
from lambdas.publish.rows import PublishError
from lambdas.publish.stores import LocalStore
from local_mode import files
from local_mode.layout import FORECASTS_PREFIX, Home
from local_mode.registry import Registry

ALARM_EVENT = "Forecast Accuracy Alarm"


@dataclass
class AccuracyOutcome:
    tracked: Tracked
    store: LocalStore
    alarm_events: list[str]
    retrain_run: str | None = None
    retrained_version: int | None = None


def run_accuracy(
    home: Home,
    group: str,
    policy: DriftPolicy,
    say: Callable[[str], None] = print,
) -> AccuracyOutcome:
    """Score, report, and (with ``policy.retrain``) retrain; then keep the alarm state."""
    registry = Registry(home.registry)
    known = {str(p.version): p for p in registry.list(group)}

    def registered(version: str) -> dict[str, Any] | None:
        package = known.get(version)
        return package.metrics if package else None  # its evaluation.json

    store = LocalStore(home.buckets / home.forecasts_bucket)
    try:
        tracked = track(
            store,
            LocalStore(home.buckets / home.data_bucket),
            model=group,
            forecasts_prefix=FORECASTS_PREFIX,
            actuals_prefix=ACTUALS_PREFIX,
            evaluation=registered,
            policy=policy,
        )
    except PublishError as error:  # a bad actuals or published file: one line, exit code 2
        raise ConfigError(str(error)) from None
    actuals_uri = f"s3://{home.data_bucket}/{ACTUALS_PREFIX}"
    for ignored in tracked.ignored_files:
        say(f"not read as actuals (not .csv): {ignored}")
    for note in tracked.notes:
        say(note)
    say(
        f"{tracked.forecasts} published forecasts of {group} in {tracked.forecast_files} file(s); "
        f"{tracked.actuals} actuals from {tracked.actual_files} file(s) under {actuals_uri} "
        f"({home.local_path(actuals_uri)})"
    )
    if not tracked.forecasts:
        say(f"nothing published for {group} yet; approve a version first")
    else:
        say(version_table(tracked, policy))
        assert tracked.accuracy_key is not None and tracked.manifest_key is not None
        say(f"accuracy table: {store.root / tracked.accuracy_key}")
        say(f"manifest:       {store.root / tracked.manifest_key}")
    decision = tracked.decision
    outcome = AccuracyOutcome(tracked, store, [alarm_event(home, v, say) for v in decision.notify])
    say(decision.retrain_note)
    # Kept before the retrain runs, as the Lambda keeps it once the execution has started: a
    # retrain that fails its gate still starts the cool-down.
    save_state(store, FORECASTS_PREFIX, group, decision.state)
    if decision.retrain is not None:
        outcome.retrain_run, outcome.retrained_version = retrain(home, group, decision, say)
    return outcome


def version_table(tracked: Tracked, policy: DriftPolicy) -> str:
    """One line per version: the points it rests on, its measures and the alarm rule's verdict."""
    rolling = f"ROLLING SMAPE% ({policy.window_days}d)"
    header = ["VERSION", "MATCHED", "PENDING", "MAE", "BIAS", "SMAPE%", "COVERAGE", rolling,
              "REGISTERED SMAPE%", "RATIO", "STATUS"]  # fmt: skip
    rows = [header]
    for verdict in tracked.decision.verdicts:  # in version order
        measures = tracked.scores.versions[verdict.model, verdict.version]
        rows.append(
            [
                verdict.version,
                str(measures.matched),
                str(measures.pending),
                _number(measures.mae),
                _number(measures.bias),
                _number(measures.smape),
                _number(measures.coverage),
                _number(verdict.rolling_smape),
                _number(verdict.reference_smape),
                _number(verdict.error_ratio),
                verdict.status,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def alarm_event(home: Home, verdict: Verdict, say: Callable[[str], None]) -> str:
    """What the Lambda sends to SNS, printed and kept in ``<home>/events``."""
    message = (
        f"ALARM: {verdict.model} version {verdict.version}: rolling sMAPE "
        f"{verdict.rolling_smape:.4g} % over {verdict.rolling_points} points up to "
        f"{verdict.as_of} is {verdict.error_ratio:.3g} x the sMAPE it registered "
        f"({verdict.reference_smape:.4g} %); the alarm ratio is {verdict.threshold_ratio:g}"
    )
    say(message)
    now = datetime.now(UTC)
    path = home.events / f"{now:%Y-%m-%dT%H%M%SZ}-accuracy-alarm-{uuid.uuid4().hex[:8]}.json"
    files.atomic_write_json(
        path,
        {"detail-type": ALARM_EVENT, "time": now.isoformat(), "message": message},
    )
    return str(path)


def retrain(
    home: Home, group: str, decision: Decision, say: Callable[[str], None]
) -> tuple[str, int | None]:
    """A new local run with the options of the run that trained the alarmed version (its data
    file is read again, so new rows appended to it are trained on)."""
    from local_mode.runner import Runner
    from local_mode.runs import new_run_id, stored_config

    verdict = decision.retrain
    assert verdict is not None
    package = Registry(home.registry).get(group, int(verdict.version))
    config = stored_config(home, package.run_id) if package.run_id else None
    if config is None:
        raise ConfigError(
            f"{group} version {package.version} has no local run to repeat (run "
            f"{package.run_id!r}); retrain with: python -m local_mode run"
        )
    run_id = new_run_id(home)
    say(f"retraining: run {run_id} with the options of run {package.run_id}")
    registered = Runner(home, run_id, config, say=say).execute().package
    if registered is None:
        return run_id, None
    say(f"retrained: {group} version {registered.version} ({registered.approval_status})")
    return run_id, registered.version


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
