"""One accuracy pass over a store: read what is published and what has arrived, score, write the
accuracy table and its QuickSight manifest, decide about the alarm and retraining.

The accuracy Lambda runs it on S3, local mode on folders (:class:`lambdas.publish.stores.Store`).
Acting on the decision (notifying, starting a retrain) is the caller's; the caller then keeps
the new state with :func:`save_state`, so a failed notification is tried again next time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.accuracy.actuals import Arrived, ColumnContract
from lambdas.accuracy.drift import (
    AlarmState,
    Decision,
    DriftPolicy,
    decide,
    reference_smape,
    verdicts,
)
from lambdas.accuracy.scoring import (
    AccuracyError,
    Scores,
    format_accuracy_csv,
    score,
)

# lambdas.publish.keys, not publishing: that needs matplotlib, which only the publish Lambda has
from lambdas.publish.keys import FORECASTS_FILE, quicksight_manifest
from lambdas.publish.rows import partition_problem
from lambdas.publish.stores import Store

# Data bucket: the actuals, one or more *.csv files in the training data's columns or the publish
# Lambda's long format (lambdas.accuracy.actuals); the publish Lambda's own actuals file lies here
# too.
ACTUALS_PREFIX = "actuals/"
ACTUALS_SUFFIX = ".csv"
ACCURACY_FOLDER = "accuracy"  # under the forecasts prefix, beside the model=... partitions
ACCURACY_FILE = "accuracy.csv"
MANIFEST_FILE = "manifest.json"
STATE_FILE = "state.json"


@dataclass(frozen=True)
class Tracked:
    """What one pass read, measured, wrote and decided."""

    scores: Scores
    decision: Decision
    forecast_files: int
    forecasts: int
    actual_files: int
    actuals: int
    ignored_files: tuple[str, ...]  # under the actuals prefix but not *.csv
    notes: tuple[str, ...]  # what was not joined or not read, and why
    accuracy_key: str | None  # None when nothing is published yet
    manifest_key: str | None


def accuracy_folder(forecasts_prefix: str, model: str) -> str:
    check_model(model)
    return "/".join(
        p for p in (forecasts_prefix.strip("/"), ACCURACY_FOLDER, f"model={model}") if p
    )


def published_keys(store: Store, forecasts_prefix: str, model: str) -> list[str]:
    """The published ``forecasts.csv`` of every version and run of ``model``."""
    check_model(model)
    folder = "/".join(p for p in (forecasts_prefix.strip("/"), f"model={model}/") if p)
    return [key for key in store.list(folder) if key.endswith(f"/{FORECASTS_FILE}")]


def partition_version(key: str) -> str:
    """V of a published ``.../model=M/version=V/run=R/forecasts.csv`` key."""
    return next((part[8:] for part in key.split("/") if part.startswith("version=")), "")


def track(
    forecasts_store: Store,
    actuals_store: Store,
    *,
    model: str,
    forecasts_prefix: str,
    actuals_prefix: str = ACTUALS_PREFIX,
    evaluation: Callable[[str], Mapping[str, Any] | None],
    policy: DriftPolicy,
) -> Tracked:
    """Score ``model``'s published forecasts against the actuals and write the accuracy table.

    ``evaluation(version)`` is the ``evaluation.json`` the version registered (None when
    unknown): its sMAPE is the alarm's reference, its training columns say how to read actuals
    in that shape. Everything is read and validated before the first write.
    """
    keys = actuals_store.list(actuals_prefix)
    csv_keys = [key for key in keys if key.endswith(ACTUALS_SUFFIX)]
    ignored = tuple(actuals_store.uri(key) for key in keys if not key.endswith(ACTUALS_SUFFIX))
    arrived = Arrived.read((actuals_store.uri(key), actuals_store.read(key)) for key in csv_keys)
    registered: dict[str, Mapping[str, Any] | None] = {}

    def evaluation_of(version: str) -> Mapping[str, Any] | None:
        if version not in registered:
            registered[version] = evaluation(version)
        return registered[version]

    scores = Scores()
    published = published_keys(forecasts_store, forecasts_prefix, model)
    joined_sizes = [len(arrived.long)]
    for key in published:  # one file at a time: only the measures are kept
        version = partition_version(key)
        contract = ColumnContract.from_evaluation(
            evaluation_of(version), f"{model} version {version}'s evaluation.json"
        )
        actuals = arrived.for_version(contract, version)
        joined_sizes.append(len(actuals))
        score(forecasts_store.read(key), forecasts_store.uri(key), actuals, scores)
    forecasts = sum(measures.forecasts for measures in scores.versions.values())
    references = {(m, v): reference_smape(evaluation_of(v)) for m, v in scores.versions}
    state = load_state(forecasts_store, forecasts_prefix, model)
    decision = decide(verdicts(scores, references, policy), state, policy)
    accuracy_key = manifest_key = None
    if forecasts:
        folder = accuracy_folder(forecasts_prefix, model)
        accuracy_key, manifest_key = f"{folder}/{ACCURACY_FILE}", f"{folder}/{MANIFEST_FILE}"
        forecasts_store.write(accuracy_key, format_accuracy_csv(scores).encode(), "text/csv")
        manifest = quicksight_manifest([forecasts_store.uri(accuracy_key)])
        forecasts_store.write(
            manifest_key, json.dumps(manifest, indent=2).encode(), "application/json"
        )
    return Tracked(
        scores=scores,
        decision=decision,
        forecast_files=len(published),
        forecasts=forecasts,
        actual_files=len(csv_keys),
        actuals=max(joined_sizes),
        ignored_files=ignored,
        notes=tuple(dict.fromkeys(arrived.notes)),
        accuracy_key=accuracy_key,
        manifest_key=manifest_key,
    )


def check_model(model: str) -> None:
    problem = partition_problem(model)
    if problem:
        raise AccuracyError(f"model {model!r} {problem}")


def load_state(store: Store, forecasts_prefix: str, model: str) -> AlarmState:
    key = f"{accuracy_folder(forecasts_prefix, model)}/{STATE_FILE}"
    if key not in store.list(key):
        return AlarmState()
    try:
        data = json.loads(store.read(key))
        return AlarmState.from_json(data, store.uri(key))
    except ValueError as error:
        raise AccuracyError(f"{store.uri(key)}: {error}") from None


def save_state(store: Store, forecasts_prefix: str, model: str, state: AlarmState) -> str:
    key = f"{accuracy_folder(forecasts_prefix, model)}/{STATE_FILE}"
    store.write(key, json.dumps(state.to_json(), indent=2).encode(), "application/json")
    return key
