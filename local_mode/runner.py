"""Run the pipeline's steps (``forecasting.pipeline.steps.STEPS``) in a local run folder.

Each step reads and writes the SageMaker container paths the cloud definition gives it, mapped
into ``<home>/runs/<run-id>/opt/ml/...``; the data passed between steps is copied the way
SageMaker downloads channels, so every folder can be inspected and any step rerun by hand.

* Processing steps (Preprocess, Evaluate) call their entry point's ``main`` with the cloud's
  arguments. Training starts one real process per simulated host (see :mod:`local_mode.hosts`)
  and packs ``/opt/ml/model`` into ``model.tar.gz`` in the local artifacts bucket, under a key
  unique to the training attempt, so a registered artifact is never overwritten.
* The gate evaluates the cloud definition's own condition (:mod:`local_mode.gate`); a failed
  gate registers nothing and ends with the cloud Fail step's message.
* Register adds a PendingManualApproval version to the local registry with the cloud's
  inference specification, the metrics of ``evaluation.json`` and the artifact's URL.

Resuming: a step that finishes writes ``status/<Step>.json`` atomically; a rerun of the same run
id skips every step that has one, and training resumes from ``last.ckpt`` in the run's
checkpoint folder (the train step's own resume). A step that runs again invalidates the steps
after it. The options of a run are kept in ``run.json`` and reused when it is resumed.
"""

from __future__ import annotations

import importlib
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from forecasting.channels import PREPROCESSING_FILE
from forecasting.errors import ConfigError, ForecastingError
from forecasting.pipeline.definition import MODEL_ARTIFACT, Images, Resources, register_step
from forecasting.pipeline.settings import PipelineSettings
from forecasting.pipeline.steps import EVALUATION_FILE, STEPS, Step, step
from local_mode import files, gate, hosts
from local_mode.layout import PROJECT, REGION, Home, container_path
from local_mode.options import check_step_options
from local_mode.registry import ModelPackage, Registry

# The gate per family when none is given: the Informer's MSE is on the standardised scale (the
# pipeline's default, 0.6); the TFT's errors are in target units, so its default gate is the
# scale-free q-risk at the median (sum |error| / sum |y|).
DEFAULT_GATES: dict[str, tuple[str, float]] = {
    "informer": (PipelineSettings.metric_name, PipelineSettings.metric_threshold),
    "tft": ("q_risk_p50", 0.5),
}
LOCAL_IMAGE = "local"  # the container image of a local package: this machine's Python
TRANSFORM_INPUT = "TransformInput"  # the step after Register that writes the inference input
STATUS_DIR = "status"
RUN_FILE = "run.json"
REFUSED = "Refused"  # status/Refused.json: a step refused the run's options; not resumable


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
    hosts: int = 2
    max_epochs: int | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    preprocess_arguments: dict[str, str] = field(default_factory=dict)
    metric: str | None = None  # None: DEFAULT_GATES[model]
    threshold: float | None = None
    group: str = PROJECT

    def __post_init__(self) -> None:
        if isinstance(self.hosts, bool) or not isinstance(self.hosts, int) or self.hosts < 1:
            raise ConfigError(f"--hosts must be an integer of at least 1, got {self.hosts!r}")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise ConfigError(f"--max-epochs must be at least 1, got {self.max_epochs}")

    def settings(self) -> PipelineSettings:
        """The cloud's pipeline settings for this run (checked as the builder checks them),
        after each -P/-H flag is checked by its step's parser."""
        check_step_options(self.model, self.hosts, self.preprocess_arguments, self.hyperparameters)
        metric, threshold = DEFAULT_GATES.get(self.model, DEFAULT_GATES["informer"])
        hyperparameters = dict(self.hyperparameters)
        if self.max_epochs is not None:
            hyperparameters["max_epochs"] = str(self.max_epochs)
        return PipelineSettings(
            model=self.model,
            hyperparameters=hyperparameters,
            preprocess_arguments=dict(self.preprocess_arguments),
            training_instance_count=self.hosts,
            metric_name=self.metric or metric,
            metric_threshold=threshold if self.threshold is None else self.threshold,
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
    stopped_after: str | None = None


def flags(arguments: Mapping[str, Any]) -> list[str]:
    """``{"max_epochs": 3}`` → ``["--max-epochs", "3"]``, as the cloud passes step arguments."""
    out: list[str] = []
    for name, value in sorted(arguments.items()):
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out += [f"--{name.replace('_', '-')}", text]
    return out


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


def _user_mistake(error: ForecastingError) -> bool:
    """A step refused the run's data or options (exit code 2), rather than crashing."""
    if isinstance(error, GateFailedError):
        return False
    return not isinstance(error, StepFailedError) or error.exit_code == 2


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


class Runner:
    """One run of the pipeline in ``<home>/runs/<run_id>``."""

    def __init__(
        self,
        home: Home,
        run_id: str,
        config: RunConfig,
        say: Callable[[str], None] = lambda text: print(text, flush=True),
    ) -> None:
        self.home = home
        self.run_id = run_id
        self.config = config
        self.settings = config.settings()
        self.dir = home.run_dir(run_id)
        self.say = say
        self.registry = Registry(home.registry)
        self._lock: int | None = None  # the run lock's descriptor, inherited by training hosts

    # --- paths ------------------------------------------------------------------------------

    def path(self, container: str) -> Path:
        return container_path(self.dir, container)

    def output(self, step_name: str, name: str) -> Path:
        return self.path(dict(step(step_name).outputs)[name])

    def input(self, step_name: str, name: str) -> Path:
        return self.path(dict(step(step_name).inputs)[name])

    @property
    def status_dir(self) -> Path:
        return self.dir / STATUS_DIR

    def marker(self, name: str) -> Path:
        return self.status_dir / f"{name}.json"

    # --- the run ------------------------------------------------------------------------------

    def execute(self, stop_after: str | None = None) -> RunResult:
        names = [s.name for s in STEPS] + [TRANSFORM_INPUT]
        if stop_after is not None and stop_after not in names:
            raise ConfigError(f"--stop-after {stop_after!r}: expected one of {', '.join(names)}")
        with files.exclusive(self.dir, f"run {self.run_id}") as lock:
            self._lock = lock
            if self.marker(REFUSED).is_file():
                refused = files.read_json(self.marker(REFUSED))
                raise ConfigError(
                    f"run {self.run_id} cannot be resumed: its {refused['step']} step refused "
                    f"the run's options or data ({refused['error']}); start a new run"
                )
            if not (self.dir / RUN_FILE).is_file():
                files.atomic_write_json(self.dir / RUN_FILE, self.config.to_dict())
            try:
                return self._execute(names, stop_after)
            except BaseException:
                # Failed or interrupted before any step finished (the data failed its checks):
                # nothing in the folder could be resumed, so it is not kept.
                if not any(self.marker(name).is_file() for name in names):
                    shutil.rmtree(self.dir, ignore_errors=True)
                    self.say(f"run {self.run_id} removed: nothing in it could be resumed")
                raise

    def _execute(self, names: list[str], stop_after: str | None) -> RunResult:
        result = RunResult(self.run_id, self.dir, self.config)
        actions: dict[str, Callable[[RunResult], dict[str, Any]]] = {
            "Preprocess": self.preprocess,
            "Train": self.train,
            "Evaluate": self.evaluate,
            "CheckMetric": self.check_metric,
            "Register": self.register,
            "MetricAboveThreshold": self.fail,
            TRANSFORM_INPUT: self.write_transform_input,
        }
        kinds = {s.name: s.kind for s in STEPS} | {TRANSFORM_INPUT: "local"}
        for number, name in enumerate(names, start=1):
            passed = result.gate["passed"] if result.gate else None
            label = f"[{number}/{len(names)}] {name} ({kinds[name]})"
            if (name in ("Register", TRANSFORM_INPUT) and passed is False) or (
                name == "MetricAboveThreshold" and passed
            ):
                self.say(f"{label}: not taken (the gate {'passed' if passed else 'failed'})")
                continue
            marker = self.marker(name)
            if marker.is_file():
                self._restore(name, files.read_json(marker), result)
                self.say(f"{label}: already complete, skipped ({marker})")
            else:
                self._invalidate_after(name, names)
                self.say(f"{label}: started")
                started = time.perf_counter()
                try:
                    outcome = actions[name](result)
                except ForecastingError as error:
                    if _user_mistake(error):  # the same options would fail the same way
                        refused = {"step": name, "error": str(error)}
                        files.atomic_write_json(self.marker(REFUSED), refused)
                    raise
                files.atomic_write_json(marker, outcome)
                self._restore(name, outcome, result)
                self.say(f"{label}: finished in {time.perf_counter() - started:.1f} s")
            result.completed.append(name)
            if name == stop_after:
                result.stopped_after = name
                break
        return result

    def _invalidate_after(self, name: str, names: list[str]) -> None:
        for later in names[names.index(name) + 1 :]:
            self.marker(later).unlink(missing_ok=True)

    def _restore(self, name: str, outcome: dict[str, Any], result: RunResult) -> None:
        if name == "Train":
            result.artifact = outcome
        elif name == "Evaluate":
            result.evaluation = files.read_json(Path(outcome["evaluation"]))
        elif name == "CheckMetric":
            result.gate = outcome
        elif name == "Register":
            result.package = self.registry.get(outcome["group"], outcome["version"])
        elif name == TRANSFORM_INPUT:
            result.transform_input = outcome

    # --- steps --------------------------------------------------------------------------------

    def _call_entry_point(self, spec: Step, argv: list[str]) -> None:
        """A Processing job: the step's module, run with the arguments the cloud passes."""
        importlib.import_module(str(spec.module)).main(argv)

    def preprocess(self, result: RunResult) -> dict[str, Any]:
        spec = step("Preprocess")
        output_dir = self.output("Preprocess", "train").parent
        shutil.rmtree(output_dir, ignore_errors=True)
        shutil.rmtree(self.path("/opt/ml/checkpoints"), ignore_errors=True)  # new data, new fit
        if self.config.data:
            # Read where the user keeps it (SageMaker would download it into the container), so
            # every message and preprocessing.json name the user's file, not a copy.
            source = Path(self.config.data)
            if not source.is_file():
                raise ConfigError(f"--data {source}: no such file")
        self._call_entry_point(spec, self.preprocess_argv())
        preprocessing = files.read_json(self.output("Preprocess", "train") / PREPROCESSING_FILE)
        if "split_rule" in preprocessing:
            self.say(f"    split: {preprocessing['split']} ({preprocessing['split_rule']})")
        else:  # a panel: its protocol's cutoffs
            self.say(f"    split: {preprocessing['cutoffs']['protocol']}")
        return {name: str(self.output("Preprocess", name)) for name, _ in spec.outputs}

    def preprocess_argv(self) -> list[str]:
        """The arguments the cloud passes to the Preprocess step of this run."""
        output_dir = self.output("Preprocess", "train").parent
        argv = ["--model", self.config.model, "--output-dir", str(output_dir)]
        if self.config.dataset:
            argv += ["--dataset", self.config.dataset]
        if self.config.data:
            argv += ["--data", self.config.data]
        return argv + flags(self.settings.preprocess_arguments)

    def train(self, result: RunResult) -> dict[str, Any]:
        spec = step("Train")
        for channel, _ in spec.inputs:  # the channel downloads
            files.replace_tree(self.output("Preprocess", channel), self.input("Train", channel))
        model_dir = self.output("Train", "model")
        output_data = self.path("/opt/ml/output/data")
        checkpoints = self.path("/opt/ml/checkpoints")
        for folder in (model_dir, output_data):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        checkpoints.mkdir(parents=True, exist_ok=True)
        hyperparameters = {"model": self.config.model, **self.settings.hyperparameters}
        command = [
            *hosts.python_module(str(spec.module)),
            *flags(hyperparameters),
            "--checkpoint-dir", str(checkpoints),
        ]  # fmt: skip
        paths = hosts.TrainingPaths(
            train=self.input("Train", "train"),
            validation=self.input("Train", "validation"),
            model_dir=model_dir,
            output_data_dir=output_data,
        )
        names = hosts.host_names(self.config.hosts)
        port = hosts.free_port()
        machine_gpus = hosts.visible_gpus()
        gpus = hosts.gpus_per_host(len(names), machine_gpus)
        environments = [
            hosts.host_environment(
                host,
                names,
                paths,
                cpus=os.cpu_count() or 1,
                master_port=port,
                hyperparameters={k: str(v) for k, v in hyperparameters.items()},
                gpus=own,
            )
            for host, own in zip(names, gpus, strict=True)
        ]
        devices = f"{len(gpus[0])} GPU(s)" if gpus[0] else "the CPU"
        if machine_gpus and not gpus[0]:
            devices += (
                f": {len(machine_gpus)} GPU(s) cannot be shared by {len(names)} hosts "
                f"(--hosts {len(machine_gpus)} trains on them)"
            )
        self.say(
            f"    {len(names)} host(s) {', '.join(names)}, {environments[0]['OMP_NUM_THREADS']} "
            f"thread(s) and {devices} each; checkpoints in {checkpoints}"
        )
        code, where = hosts.run_hosts(
            command, environments, cwd=self.dir, log_dir=self.dir / "logs", keep_open=self._lock
        )
        if code == 2:  # a user mistake, named above: resumed with the same options, it recurs
            raise StepFailedError(
                f"Train stopped on {where} with the error above; start a new run with other "
                "options",
                exit_code=2,
            )
        if code:
            raise StepFailedError(
                f"Train failed on {where} with exit code {code}; once the cause is fixed, "
                f"resume from the last checkpoint with --run-id {self.run_id}",
                exit_code=1,
            )
        job = f"train-{datetime.now().strftime('%Y%m%d-%H%M%S')}"  # one key per attempt
        uri = (
            f"s3://{self.home.artifacts_bucket}/{self.home.project}/{self.run_id}/train/"
            f"{job}/output/model.tar.gz"
        )
        archive = self.home.local_path(uri)
        files.pack_directory(model_dir, archive)  # what SageMaker uploads from /opt/ml/model
        return {"model_data_url": uri, "artifact": str(archive), "training_job": job}

    def evaluate(self, result: RunResult) -> dict[str, Any]:
        assert result.artifact is not None
        model_input = self.input("Evaluate", "model")
        test_input = self.input("Evaluate", "test")
        evaluation = self.output("Evaluate", "evaluation")
        for folder in (model_input, evaluation):
            shutil.rmtree(folder, ignore_errors=True)
        model_input.mkdir(parents=True)
        shutil.copy2(result.artifact["artifact"], model_input / "model.tar.gz")
        files.replace_tree(self.output("Preprocess", "test"), test_input)
        argv = ["--model-dir", str(model_input), "--test", str(test_input)]
        self._call_entry_point(step("Evaluate"), [*argv, "--output-dir", str(evaluation)])
        return {"evaluation": str(evaluation / EVALUATION_FILE)}

    def check_metric(self, result: RunResult) -> dict[str, Any]:
        assert result.evaluation is not None
        outcome = gate.check(self.settings, result.evaluation)
        self.say(f"    {gate_text(asdict(outcome))}: {'passed' if outcome.passed else 'failed'}")
        return asdict(outcome)

    def fail(self, result: RunResult) -> dict[str, Any]:
        assert result.gate is not None
        raise GateFailedError(result.gate["message"])

    def register(self, result: RunResult) -> dict[str, Any]:
        assert result.artifact is not None and result.evaluation is not None
        arguments = self.register_arguments(result.artifact["model_data_url"])
        package = self.registry.register(
            group=arguments["ModelPackageGroupName"],
            model_family=self.config.model,
            metrics=result.evaluation,
            model_data_url=result.artifact["model_data_url"],
            artifact_path=Path(result.artifact["artifact"]),
            image=LOCAL_IMAGE,
            inference_specification=arguments["InferenceSpecification"],
            description=arguments["ModelPackageDescription"],
            customer_metadata=arguments["CustomerMetadataProperties"],
            run_id=self.run_id,
            approval_status=arguments["ModelApprovalStatus"],
        )
        return {"group": package.group, "version": package.version, "arn": package.arn}

    def register_arguments(self, model_data_url: str) -> dict[str, Any]:
        """The cloud's RegisterModel arguments, with the local artifact URL and image."""
        resources = Resources(
            pipeline_name=self.home.project,
            role_arn="local",
            artifacts_bucket=self.home.artifacts_bucket,
            code_uri="local",
            kms_key_id="local",
            region=REGION,
            model_package_group=self.config.group,
            data_uri="local",
            images=Images(training=LOCAL_IMAGE, processing=LOCAL_IMAGE, inference=LOCAL_IMAGE),
        )
        assert resources.images is not None
        arguments = register_step(self.settings, resources, resources.images)["Arguments"]
        return _substitute(arguments, MODEL_ARTIFACT, model_data_url)

    def write_transform_input(self, result: RunResult) -> dict[str, Any]:
        """Two requests into the local data bucket: a backtest of the test split's last
        horizon (its actuals beside it) and, where the model can, the future after the data's
        end."""
        from forecasting.channels import read_channel
        from local_mode.inputs import FUTURE_FILE, HISTORY_FILE, future_input, inference_input

        config = files.read_json(self.output("Train", "model") / "config.json")
        test = read_channel(self.output("Preprocess", "test"))
        made = inference_input(test.frame, config)
        folder = self.home.local_path(self.home.input_uri(self.config.model))
        request = folder / HISTORY_FILE
        actuals = self.home.local_path(self.home.actuals_uri(self.config.model))
        files.atomic_write_bytes(request, made.request.to_csv(index=False).encode())
        self.say(
            f"    backtest: {made.series} series, {made.encoder_length} steps of history each "
            f"-> {request}; the next {made.horizon} steps' actuals -> {actuals}"
        )
        written = {"request": str(request), "actuals": str(actuals)}
        future = future_input(self.preprocess_argv(), config, made)
        (folder / FUTURE_FILE).unlink(missing_ok=True)
        if isinstance(future, str):
            self.say(f"    future: not forecast ({future})")
            files.atomic_write_bytes(actuals, made.actuals.to_csv(index=False).encode())
            return written
        files.atomic_write_bytes(folder / FUTURE_FILE, future.request.to_csv(index=False).encode())
        files.atomic_write_bytes(actuals, future.actuals.to_csv(index=False).encode())
        self.say(
            f"    future: the last {future.encoder_length} steps of the data -> "
            f"{folder / FUTURE_FILE}; the model forecasts the {future.horizon} after them"
        )
        return {**written, "future": str(folder / FUTURE_FILE)}


def _substitute(value: Any, expression: Any, replacement: Any) -> Any:
    if value == expression:
        return replacement
    if isinstance(value, dict):
        return {k: _substitute(v, expression, replacement) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, expression, replacement) for v in value]
    return value


def gate_text(outcome: Mapping[str, Any]) -> str:
    """``test mse 0.437 <= 0.6 (LessThanOrEqualTo)``: the comparison as the cloud names it."""
    symbol = gate.SYMBOLS.get(outcome["comparison"], outcome["comparison"])
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
