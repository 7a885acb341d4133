"""A local run's options, results and folder conventions: what ``run`` starts with, what it
keeps in the run folder so a rerun resumes it, and how its outcome is told."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import forecasting
from forecasting.errors import ConfigError, ForecastingError
from forecasting.pipeline.settings import DEFAULT_GATES, TRAINING_FILE, PipelineSettings
from local_mode import files, interpreter
from local_mode.layout import DEFAULT_HOSTS, PROJECT, Home
from local_mode.options import check_step_options
from local_mode.registry import ModelPackage

TRANSFORM_INPUT = "TransformInput"  # the step after Register that writes the inference input
STATUS_DIR = "status"
DEFINITION_FILE = "definition.json"  # the pipeline definition this run executed
RUN_FILE = "run.json"
REFUSED = "Refused"  # status/Refused.json: a step refused the run's options; not resumable
USER_MISTAKE = 2  # forecasting.steps.arguments.run_step's exit code for refused options or data
SOURCE_DIR = Path(forecasting.__file__).resolve().parents[1]  # model_build/: the code packed
TRAINING_SOURCE = (
    SOURCE_DIR / TRAINING_FILE
)  # the training configuration the CodeBuild runner reads


def training_file() -> PipelineSettings:
    """``model_build/training.json``, checked by the one validator the CodeBuild runner uses."""
    return PipelineSettings.from_file(TRAINING_SOURCE)


class StepFailedError(ForecastingError):
    """A step's process failed; its own message is above. Carries the exit code to end with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class GateFailedError(ForecastingError):
    """The model did not pass the quality gate; the message is the cloud Fail step's."""


@dataclass(frozen=True)
class RunConfig:
    """What a run was started with; kept in ``run.json`` so a resumed run uses the same."""

    model: str = "informer"
    dataset: str | None = None
    data: str | None = None  # an absolute path, copied into the Preprocess input folder
    hosts: int = DEFAULT_HOSTS
    max_epochs: int | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    preprocess_arguments: dict[str, str] = field(default_factory=dict)
    metric: str | None = None  # None: the family's default gate
    threshold: float | None = None
    group: str = PROJECT
    parameters: dict[str, str] = field(default_factory=dict)  # --parameter Name=Value

    def __post_init__(self) -> None:
        if isinstance(self.hosts, bool) or not isinstance(self.hosts, int) or self.hosts < 1:
            raise ConfigError(f"--hosts must be an integer of at least 1, got {self.hosts!r}")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise ConfigError(f"--max-epochs must be at least 1, got {self.max_epochs}")

    def settings(self) -> PipelineSettings:
        """The cloud's pipeline settings for this run: ``model_build/training.json`` (what the
        CodeBuild runner builds from) with this run's options on top, checked as the builder
        checks them, after each -P/-H flag is checked by its step's parser. The file's
        hyperparameters, preprocess arguments and gate belong to its model: another
        ``--model`` takes its family's defaults instead."""
        trained = training_file()
        same = trained.model == self.model
        hyperparameters = {
            **({k: str(v) for k, v in trained.hyperparameters.items()} if same else {}),
            **self.hyperparameters,
        }
        if self.max_epochs is not None:
            hyperparameters["max_epochs"] = str(self.max_epochs)
        preprocess = {
            **({k: str(v) for k, v in trained.preprocess_arguments.items()} if same else {}),
            **self.preprocess_arguments,
        }
        check_step_options(self.model, self.hosts, preprocess, hyperparameters)
        gate = DEFAULT_GATES.get(self.model, DEFAULT_GATES["informer"])
        metric, threshold = (trained.metric_name, trained.metric_threshold) if same else gate
        return replace(
            trained,
            model=self.model,
            hyperparameters=hyperparameters,
            preprocess_arguments=preprocess,
            training_instance_count=self.hosts,
            metric_name=self.metric or metric,
            metric_threshold=threshold if self.threshold is None else self.threshold,
        )

    def settings_sources(self) -> str:
        """Where this run's training settings come from, in one line."""
        trained = training_file()
        options = [f"--model {self.model}"] if self.model != trained.model else []
        options.append(
            f"--hosts {self.hosts} (TrainingInstanceCount; the file has "
            f"{trained.training_instance_count})"
        )
        if self.max_epochs is not None:
            options.append(f"--max-epochs {self.max_epochs}")
        if self.metric is not None:
            options.append(f"--metric {self.metric}")
        if self.threshold is not None:
            options.append(f"--threshold {self.threshold:g}")
        options += [f"-H {k}={v}" for k, v in self.hyperparameters.items()]
        options += [f"-P {k}={v}" for k, v in self.preprocess_arguments.items()]
        other_model = (
            ""
            if self.model == trained.model
            else f"; its hyperparameters, preprocess arguments and gate are {trained.model}'s, "
            f"so {self.model} takes its family's defaults"
        )
        return (
            f"settings: {TRAINING_SOURCE} (training on {trained.training_instance_type}, "
            f"processing on {trained.processing_instance_type}{other_model}); "
            f"this run's options on top: {', '.join(options)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        return cls(**data)


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    config: RunConfig
    completed: list[str] = field(default_factory=list)  # steps run or skipped, in order
    evaluation: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    package: ModelPackage | None = None
    artifact: dict[str, str] | None = None
    transform_input: dict[str, str] | None = None
    conditions: dict[str, bool] = field(default_factory=dict)  # Condition step → outcome
    stopped_after: str | None = None


def new_run_id(home: Home, now: datetime | None = None) -> str:
    """A timestamp, with a suffix when a run of the same second exists."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    run_id, n = stamp, 1
    while home.run_dir(run_id).exists():
        n += 1
        run_id = f"{stamp}-{n}"
    return run_id


def stored_config(home: Home, run_id: str) -> RunConfig | None:
    path = home.run_dir(run_id) / RUN_FILE
    return RunConfig.from_dict(files.read_json(path)) if path.is_file() else None


def resolve_config(
    home: Home, run_id: str, given: Mapping[str, Any], defaults: RunConfig
) -> RunConfig:
    """A new run: defaults updated with what was given. An existing run: its stored options;
    an option given now that differs from the stored one is refused, by name."""
    stored = stored_config(home, run_id)
    if stored is None:
        return replace(defaults, **given)
    stored_values = stored.to_dict()
    differs = {k: (stored_values[k], v) for k, v in given.items() if stored_values[k] != v}
    if differs:
        details = "; ".join(f"{k} was {old!r}, now {new!r}" for k, (old, new) in differs.items())
        raise ConfigError(
            f"run {run_id} was started with other options ({details}); resume it without them, "
            "or start a new run (leave out --run-id)"
        )
    return stored


def user_mistake(error: ForecastingError) -> bool:
    """A step refused the run's data or options (exit code 2), rather than crashing."""
    if isinstance(error, GateFailedError):
        return False
    return not isinstance(error, StepFailedError) or error.exit_code == USER_MISTAKE


def latest_unfinished(home: Home) -> str:
    """The newest run that can be resumed: preprocessed, not registered, its gate not failed,
    and not stopped by a mistake in its options or data."""
    candidates = []
    for run_json in home.runs.glob(f"*/{RUN_FILE}") if home.runs.is_dir() else []:
        status = run_json.parent / STATUS_DIR
        gate_marker = status / "CheckMetric.json"
        failed = gate_marker.is_file() and not files.read_json(gate_marker)["passed"]
        finished = (status / f"{TRANSFORM_INPUT}.json").is_file()
        refused = (status / f"{REFUSED}.json").is_file()
        if (status / "Preprocess.json").is_file() and not (finished or failed or refused):
            candidates.append((run_json.stat().st_mtime, run_json.parent.name))
    if not candidates:
        raise ConfigError(
            f"no run in {home.runs} can be resumed (one whose data was preprocessed and that "
            "neither registered a model, failed its gate nor stopped on a mistake in its "
            "options); start one with: run"
        )
    return max(candidates)[1]


def gate_text(outcome: Mapping[str, Any]) -> str:
    """``test mse 0.437 <= 0.6 (LessThanOrEqualTo)``: the comparison as the cloud names it."""
    symbol = interpreter.SYMBOLS.get(outcome["comparison"], outcome["comparison"])
    return (
        f"test {outcome['metric_name']} {outcome['value']:.6g} {symbol} "
        f"{outcome['threshold']:g} ({outcome['comparison']})"
    )


def evaluation_summary(evaluation: Mapping[str, Any]) -> str:
    metrics = evaluation.get("regression_metrics", {})
    text = ", ".join(f"{name} {item['value']:.4g}" for name, item in metrics.items())
    scored = evaluation.get("evaluation", {})
    if "forecast_points" in scored:  # the TFT: how much the gate's number rests on
        text += (
            f" (over {scored['forecast_points']} points: {scored['series']} series x "
            f"{scored.get('origins', 1)} origins x up to {scored['horizon']} steps)"
        )
    return text
