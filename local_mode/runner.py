"""Execute the pipeline definition itself in a local run folder.

``python -m local_mode run`` builds the definition with the same builder and settings as the
CodeBuild runner (``forecasting.pipeline.definition``), with local values for the deployment's
resources, and executes that JSON (:mod:`local_mode.interpreter`): parameters, expressions,
step properties, dependencies, the gate's condition, the Fail message and the registration.
The JSON executed is kept as ``definition.json`` in the run folder.

Each job runs as SageMaker runs it, with two local mappings:

* S3 is folders: ``s3://bucket/key`` is ``<home>/s3/bucket/key`` (:mod:`local_mode.layout`).
  Jobs read their inputs from the URIs the request names and their outputs are uploaded to the
  URIs it names, so a missing object fails the step that reads it, as in AWS.
* Container paths are folders: ``/opt/ml/...`` is ``<run>/opt/ml/...`` in every argument,
  channel and ``SM_*`` variable.

Processing jobs run their container arguments (``python -m <module> ...``) in this process,
after checking that this environment satisfies the code's ``requirements.txt`` (the cloud
script's ``pip install -r``). Training runs the request's ``sagemaker_program`` from the
unpacked ``sagemaker_submit_directory`` on one process per host, with the hyperparameters
decoded and passed as the training toolkit passes them (:mod:`local_mode.hosts`); checkpoints
are synced from and to the request's checkpoint URI.

One local choice, announced when it applies: unless ``--parameter InputDataUri=...`` is given,
the Preprocess step reads the data where the user keeps it (``--data FILE``) or by name
(``--dataset NAME``) instead of from the ``InputDataUri`` prefix, so its messages name the
user's file.

Resuming: a step that finishes writes ``status/<Step>.json`` (with its properties) atomically;
a rerun of the same run id skips every step that has one, and training resumes from the
checkpoint. A step that runs again invalidates the steps after it.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import forecasting
from forecasting.channels import PREPROCESSING_FILE
from forecasting.errors import ConfigError, ForecastingError
from forecasting.pipeline.definition import (
    CODE_DIR,
    EVALUATION_FILE,
    PROCESSING_SCRIPT,
    Images,
    Resources,
    build_definition,
)
from forecasting.pipeline.settings import DEFAULT_GATES, PipelineSettings
from forecasting.pipeline.source import package_source, source_key
from local_mode import files, hosts, interpreter, step_cache
from local_mode.layout import (
    ACCOUNT,
    CONTAINER_ROOT,
    DEFAULT_HOSTS,
    PROJECT,
    REGION,
    Home,
    container_path,
)
from local_mode.options import check_step_options
from local_mode.registry import ModelPackage, Registry

LOCAL_IMAGE = "local"  # the container image of a local package: this machine's Python
TRANSFORM_INPUT = "TransformInput"  # the step after Register that writes the inference input
STATUS_DIR = "status"
DEFINITION_FILE = "definition.json"  # the pipeline definition this run executed
SOURCE_DIR = Path(forecasting.__file__).resolve().parents[1]  # model_build/: the code packed
MODEL_DIR = "/opt/ml/model"
INPUT_DATA_DIR = "/opt/ml/input/data"
TRAINING_CODE_DIR = "/opt/ml/code"
CHECKPOINT_DIR = "/opt/ml/checkpoints"
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
    """One execution of the pipeline definition in ``<home>/runs/<run_id>``."""

    def __init__(
        self,
        home: Home,
        run_id: str,
        config: RunConfig,
        say: Callable[[str], None] = lambda text: print(text, flush=True),
        definition: Mapping[str, Any] | None = None,
        use_cache: bool = True,
    ) -> None:
        """``definition``: the JSON to execute; by default the builder's for this run's
        settings and the local resources (what the CodeBuild runner upserts, tokens aside)."""
        self.home = home
        self.run_id = run_id
        self.config = config
        self.settings = config.settings()
        self.dir = home.run_dir(run_id)
        self.say = say
        self.registry = Registry(home.registry)
        self.step_cache = step_cache.StepCache(home.root, enabled=use_cache)  # --no-cache: off
        self._lock: int | None = None  # the run lock's descriptor, inherited by training hosts
        self.resources = local_resources(home, config.group)
        self.definition = definition or build_definition(self.settings, self.resources)
        self.plan = interpreter.plan(self.definition)
        self.steps = {s.name: s for s in self.plan}
        self.parameters = interpreter.parameter_values(self.definition, config.parameters)
        self.properties: dict[str, dict[str, Any]] = {}
        self.evaluate = interpreter.Evaluator(
            self.definition, self.parameters, run_id, self.properties, self._property_file,
            execution_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{home.project}/"
            f"execution/{run_id}",
        )  # fmt: skip

    # --- paths ------------------------------------------------------------------------------

    def path(self, container: str) -> Path:
        return container_path(self.dir, container)

    def output(self, step_name: str, name: str) -> Path:
        """Where a step's output is in the run folder (its container path)."""
        arguments = self.steps[step_name].definition["Arguments"]
        if "ProcessingOutputConfig" in arguments:
            outputs = arguments["ProcessingOutputConfig"]["Outputs"]
            local = next(o["S3Output"]["LocalPath"] for o in outputs if o["OutputName"] == name)
            return self.path(local)
        return self.path(MODEL_DIR)

    @property
    def status_dir(self) -> Path:
        return self.dir / STATUS_DIR

    def marker(self, name: str) -> Path:
        return self.status_dir / f"{name}.json"

    def _property_file(self, step_name: str, output: str, file_path: str) -> Any:
        uri = self.properties[step_name]["ProcessingOutputConfig"]["Outputs"][output]
        path = self.home.local_path(uri["S3Output"]["S3Uri"]) / file_path
        if not path.is_file():
            raise interpreter.StepError(
                step_name, f"property file {file_path} was not written to its output {output}"
            )
        return files.read_json(path)

    # --- the run ------------------------------------------------------------------------------

    def execute(self, stop_after: str | None = None) -> RunResult:
        names = [s.name for s in self.plan] + [TRANSFORM_INPUT]
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
            files.atomic_write_json(self.dir / DEFINITION_FILE, self.definition)
            try:
                return self._execute(names, stop_after)
            except BaseException:
                # Failed or interrupted before any step finished (the data failed its checks):
                # nothing in the folder could be resumed, so it is not kept.
                if not any(self.marker(name).is_file() for name in names):
                    shutil.rmtree(self.dir, ignore_errors=True)
                    self.say(f"run {self.run_id} removed: nothing in it could be resumed")
                raise

    def _taken(self, name: str, result: RunResult) -> tuple[bool, str]:
        """Whether a step runs in this execution: a branch step only on its condition's side."""
        if name == TRANSFORM_INPUT:
            return ("Register" in self.properties, "the model was not registered")
        branch = self.steps[name].branch
        if branch is None:
            return True, ""
        condition, side = branch
        passed = result.conditions[condition]
        return passed == (side == "IfSteps"), f"the gate {'passed' if passed else 'failed'}"

    def _execute(self, names: list[str], stop_after: str | None) -> RunResult:
        result = RunResult(self.run_id, self.dir, self.config)
        for number, name in enumerate(names, start=1):
            kind = self.steps[name].type if name in self.steps else "local"
            label = f"[{number}/{len(names)}] {name} ({kind})"
            taken, why = self._taken(name, result)
            if not taken:
                self.say(f"{label}: not taken ({why})")
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
                    outcome = self._run_or_reuse(name, result)
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

    def _run_or_reuse(self, name: str, result: RunResult) -> dict[str, Any]:
        """The step's outcome from the step cache (:mod:`local_mode.step_cache`) where a run
        with the same key finished it within its ``CacheConfig``'s expiry, else from running it
        (and then cached)."""
        step = self.steps[name].definition if name in self.steps else None
        if step is None or not step_cache.cacheable(step):
            return self._run_step(name, result)
        local_input = self._local_input_digest(name)
        key = step_cache.step_key(step, self.evaluate(step["Arguments"], name), local_input)
        cached = self.step_cache.lookup(step, key)
        if cached is not None:
            outcome = step_cache.moved(cached.outcome, cached.run_dir, str(self.dir))
            if self._materialise(name, outcome):
                self.say(
                    f"    {name}: cached from run {cached.run_id} (finished "
                    f"{cached.finished:%Y-%m-%d %H:%M} UTC; --no-cache reruns it)"
                )
                return outcome
            self.say(f"    {name}: the outputs of run {cached.run_id} are gone; running it")
        outcome = self._run_step(name, result)
        self.step_cache.store(step, key, self.run_id, self.dir, outcome)
        return outcome

    def _local_input_digest(self, name: str) -> str:
        """What Preprocess reads outside its arguments (local mode's announced choice), as a
        digest; "" for steps that read nothing else."""
        if name != "Preprocess":
            return ""
        if "InputDataUri" in self.config.parameters:  # a local bucket prefix: not immutable
            uri = self.parameters["InputDataUri"]
            source = self.home.local_path(uri)
            return f"{uri} {step_cache.content_digest(source)}" if source.exists() else ""
        if self.config.data:
            return f"data {step_cache.content_digest(Path(self.config.data))}"
        from forecasting.data.sources import DATASETS, DEMO, cache_dir

        if self.config.dataset == DEMO:  # generated by the code, which the key covers
            return f"dataset {DEMO}"
        # a public set not downloaded yet falls back to the synthetic demo: once it is there,
        # the key differs
        present = {
            d.name: (cache_dir() / d.filename).is_file() and d.sha256 for d in DATASETS.values()
        }
        return f"dataset {self.config.dataset} {sorted(present.items())}"

    def _materialise(self, name: str, outcome: Mapping[str, Any]) -> bool:
        """A reused step's outputs where this run's later steps read them (its container
        paths), as a job that ran here would leave them; False if they no longer exist."""
        properties = outcome["properties"]
        if "ModelArtifacts" in properties:
            archive = self.home.local_path(properties["ModelArtifacts"]["S3ModelArtifacts"])
            if not archive.is_file():
                return False
            shutil.rmtree(self.path(MODEL_DIR), ignore_errors=True)
            files.extract_archive(archive, self.path(MODEL_DIR))
            return True
        outputs = properties["ProcessingOutputConfig"]["Outputs"]
        stored = {n: self.home.local_path(o["S3Output"]["S3Uri"]) for n, o in outputs.items()}
        if not all(path.is_dir() for path in stored.values()):
            return False
        for output, path in stored.items():
            files.replace_tree(path, self.output(name, output))
        return True

    def _run_step(self, name: str, result: RunResult) -> dict[str, Any]:
        if name == TRANSFORM_INPUT:
            return self.write_transform_input(result)
        step = self.steps[name]
        action = {
            "Processing": self.processing,
            "Training": self.training,
            "Condition": self.condition,
            "RegisterModel": self.register,
            "Fail": self.fail,
        }[step.type]
        return action(step.definition, result)

    def _invalidate_after(self, name: str, names: list[str]) -> None:
        for later in names[names.index(name) + 1 :]:
            self.marker(later).unlink(missing_ok=True)

    def _restore(self, name: str, outcome: dict[str, Any], result: RunResult) -> None:
        if "properties" in outcome:
            self.properties[name] = outcome["properties"]
        if name == TRANSFORM_INPUT:
            result.transform_input = outcome
        elif self.steps[name].type == "Training":
            result.artifact = outcome["artifact"]
        elif self.steps[name].type == "Condition":
            result.conditions[name] = outcome["passed"]
            result.gate = outcome
        elif self.steps[name].type == "RegisterModel":
            result.package = self.registry.get(outcome["group"], outcome["version"])
        if "evaluation" in outcome:
            result.evaluation = files.read_json(Path(outcome["evaluation"]))

    # --- jobs ---------------------------------------------------------------------------------

    def _download(self, step: str, what: str, uri: str, target: Path) -> None:
        """An S3Prefix input: every object under ``uri`` into ``target``, as SageMaker
        downloads it; nothing there fails the step, as in AWS."""
        source = self.home.local_path(uri)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        if source.is_file():
            shutil.copy2(source, target / source.name)
        elif source.is_dir() and any(p.is_file() for p in source.rglob("*")):
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            raise interpreter.StepError(step, f"{what}: no S3 objects found under {uri}")

    def _upload(self, local: Path, uri: str) -> None:
        files.replace_tree(local, self.home.local_path(uri))

    def _mapped(self, value: Any) -> Any:
        """Container paths in an argument, as paths in the run folder."""
        if isinstance(value, str) and value.startswith(f"{CONTAINER_ROOT}/"):
            return str(self.path(value))
        return value

    def processing(self, step: Mapping[str, Any], result: RunResult) -> dict[str, Any]:
        name = step["Name"]
        arguments = self.evaluate(step["Arguments"], name)
        app = arguments["AppSpecification"]
        if app.get("ContainerEntrypoint") != ["/bin/bash", "-c", PROCESSING_SCRIPT]:
            raise interpreter.UnsupportedError(
                f"step {name}: only the pipeline's own processing script runs locally, not "
                f"{app.get('ContainerEntrypoint')!r}"
            )
        module, *argv = [self._mapped(a) for a in app["ContainerArguments"]]
        inputs = {i["InputName"]: i["S3Input"] for i in arguments.get("ProcessingInputs", [])}
        argv = self._local_data(name, inputs, argv)
        for input_name, spec in inputs.items():
            self._download(name, f"input {input_name}", spec["S3Uri"], self.path(spec["LocalPath"]))
        check_requirements(self.path(CODE_DIR), name, self.say)
        outputs = arguments["ProcessingOutputConfig"]["Outputs"]
        for output in outputs:
            local = self.path(output["S3Output"]["LocalPath"])
            shutil.rmtree(local, ignore_errors=True)
            local.mkdir(parents=True)
        if name == "Preprocess":  # new data, new fit: the checkpoints of an earlier attempt go
            # (the stored ones are under the Preprocess job's name, new for every attempt)
            shutil.rmtree(self.path(CHECKPOINT_DIR), ignore_errors=True)
        # CreateProcessingJob's Environment is a top-level field, beside AppSpecification
        environment = {k: str(v) for k, v in arguments.get("Environment", {}).items()}
        with _environment(environment):
            importlib.import_module(module).main(argv)
        for output in outputs:
            self._upload(self.path(output["S3Output"]["LocalPath"]), output["S3Output"]["S3Uri"])
        properties = {
            # one name per attempt, as SageMaker's: the train step's checkpoints are under it
            "ProcessingJobName": f"{name.lower()}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}",
            "ProcessingOutputConfig": {
                "Outputs": {o["OutputName"]: {"S3Output": o["S3Output"]} for o in outputs}
            },
        }
        outcome: dict[str, Any] = {"properties": properties, "argv": argv}
        if name == "Preprocess":
            preprocessing = files.read_json(self.output(name, "train") / PREPROCESSING_FILE)
            if "split_rule" in preprocessing:
                self.say(f"    split: {preprocessing['split']} ({preprocessing['split_rule']})")
            else:  # a panel: its protocol's cutoffs
                self.say(f"    split: {preprocessing['cutoffs']['protocol']}")
        evaluation = self.output(name, "evaluation") if name == "Evaluate" else None
        if evaluation is not None and (evaluation / EVALUATION_FILE).is_file():
            outcome["evaluation"] = str(evaluation / EVALUATION_FILE)
        return outcome

    def _local_data(self, step: str, inputs: dict[str, Any], argv: list[str]) -> list[str]:
        """The announced local choice: Preprocess reads the user's file or named data set."""
        if step != "Preprocess" or "InputDataUri" in self.config.parameters:
            return argv
        data = inputs.pop("data")
        position = argv.index(str(self.path(data["LocalPath"])))
        source = ["--data", self.config.data] if self.config.data else []
        if self.config.dataset:
            source += ["--dataset", self.config.dataset]
        self.say(
            f"    data: {' '.join(source) or 'the default data set'} (local: read in place; "
            "--parameter InputDataUri=s3://... reads a local bucket instead)"
        )
        return argv[: position - 1] + source + argv[position + 1 :]

    def training(self, step: Mapping[str, Any], result: RunResult) -> dict[str, Any]:
        name = step["Name"]
        arguments = self.evaluate(step["Arguments"], name)
        if arguments["AlgorithmSpecification"].get("TrainingInputMode", "File") != "File":
            raise interpreter.UnsupportedError(f"step {name}: only File input mode runs locally")
        hyperparameters = arguments.get("HyperParameters", {})
        not_text = sorted(k for k, v in hyperparameters.items() if not isinstance(v, str))
        if not_text:
            raise interpreter.StepError(
                name, f"hyperparameters {', '.join(not_text)} are not strings; SageMaker "
                "accepts string values only"
            )  # fmt: skip
        toolkit, user = hosts.split_hyperparameters(hyperparameters, name)
        channels = {}
        for channel in arguments.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]
            local = self.path(f"{INPUT_DATA_DIR}/{channel['ChannelName']}")
            self._download(name, f"channel {channel['ChannelName']}", source["S3Uri"], local)
            channels[channel["ChannelName"]] = local
        code = self.path(TRAINING_CODE_DIR)
        submit = toolkit["sagemaker_submit_directory"]
        submitted = self.dir / "submit"  # the tarball, unpacked into an empty code folder
        if submit.startswith("s3://"):
            self._download(name, "sagemaker_submit_directory", submit, submitted)
            (archive,) = submitted.glob("*.tar.gz")
        else:  # a container path, as in an isolated job's code channel
            archive = self.path(submit)
        files.extract_archive(archive, code)
        shutil.rmtree(submitted, ignore_errors=True)
        check_requirements(code, name, self.say)
        program = code / toolkit["sagemaker_program"]
        if not program.is_file():
            raise interpreter.StepError(
                name, f"sagemaker_program {toolkit['sagemaker_program']} is not in the code"
            )
        model_dir, output_data = self.path(MODEL_DIR), self.path("/opt/ml/output/data")
        for folder in (model_dir, output_data):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        checkpoint = arguments.get("CheckpointConfig")
        checkpoints = self.path(checkpoint["LocalPath"]) if checkpoint else None
        if checkpoint:  # synced down before the job, up after it
            stored = self.home.local_path(checkpoint["S3Uri"])
            if stored.is_dir():
                files.replace_tree(stored, checkpoints)
            checkpoints.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(program), *hosts.command_arguments(user)]
        if checkpoints:  # the only container path without an SM_* variable: given as a flag
            command += ["--checkpoint_dir", str(checkpoints)]
        names = hosts.host_names(int(arguments["ResourceConfig"]["InstanceCount"]))
        paths = hosts.TrainingPaths(channels, model_dir=model_dir, output_data_dir=output_data)
        port = hosts.free_port()
        machine_gpus = hosts.visible_gpus()
        gpus = hosts.gpus_per_host(len(names), machine_gpus)
        requested = {k: str(v) for k, v in arguments.get("Environment", {}).items()}
        environments = [
            {**requested, **hosts.host_environment(
                host, names, paths, cpus=os.cpu_count() or 1, master_port=port,
                hyperparameters=user, gpus=own,
            )}
            for host, own in zip(names, gpus, strict=True)
        ]  # fmt: skip
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
        code_exit, where = hosts.run_hosts(
            command, environments, cwd=code, log_dir=self.dir / "logs", keep_open=self._lock
        )
        if checkpoint and checkpoints is not None:
            files.replace_tree(checkpoints, self.home.local_path(checkpoint["S3Uri"]))
        if code_exit == 2:  # a user mistake, named above: resumed with the same options, it recurs
            raise StepFailedError(
                f"{name} stopped on {where} with the error above; start a new run with other "
                "options",
                exit_code=2,
            )
        if code_exit:
            raise StepFailedError(
                f"{name} failed on {where} with exit code {code_exit}; once the cause is fixed, "
                f"resume from the last checkpoint with --run-id {self.run_id}",
                exit_code=1,
            )
        job = f"train-{datetime.now().strftime('%Y%m%d-%H%M%S')}"  # one key per attempt
        uri = f"{arguments['OutputDataConfig']['S3OutputPath']}/{job}/output/model.tar.gz"
        archive = self.home.local_path(uri)
        files.pack_directory(model_dir, archive)  # what SageMaker uploads from /opt/ml/model
        properties = {"TrainingJobName": job, "ModelArtifacts": {"S3ModelArtifacts": uri}}
        artifact = {"model_data_url": uri, "artifact": str(archive), "training_job": job}
        return {"properties": properties, "artifact": artifact}

    def condition(self, step: Mapping[str, Any], result: RunResult) -> dict[str, Any]:
        outcome = interpreter.evaluate_conditions(step, self.evaluate)
        gate = {
            "passed": outcome.passed,
            "metric_name": self.settings.metric_name,
            "value": float(outcome.left),
            "threshold": float(outcome.right),
            "comparison": outcome.comparison,
            "properties": {"Outcome": outcome.passed},
        }
        self.say(f"    {gate_text(gate)}: {'passed' if outcome.passed else 'failed'}")
        return gate

    def fail(self, step: Mapping[str, Any], result: RunResult) -> dict[str, Any]:
        message = self.evaluate(step["Arguments"].get("ErrorMessage", ""), step["Name"])
        raise GateFailedError(str(message))

    def register(self, step: Mapping[str, Any], result: RunResult) -> dict[str, Any]:
        name = step["Name"]
        arguments = self.evaluate(step["Arguments"], name)
        interpreter.validate_request("CreateModelPackage", arguments, name)
        (container,) = arguments["InferenceSpecification"]["Containers"]
        metrics_uri = arguments["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
        metrics_path = self.home.local_path(metrics_uri)
        if not metrics_path.is_file():
            raise interpreter.StepError(name, f"ModelMetrics: no object at {metrics_uri}")
        package = self.registry.register(
            group=arguments["ModelPackageGroupName"],
            model_family=arguments["CustomerMetadataProperties"]["model_family"],
            metrics=files.read_json(metrics_path),
            model_data_url=container["ModelDataUrl"],
            artifact_path=self.home.local_path(container["ModelDataUrl"]),
            image=container["Image"],
            inference_specification=arguments["InferenceSpecification"],
            description=arguments["ModelPackageDescription"],
            customer_metadata=arguments["CustomerMetadataProperties"],
            run_id=self.run_id,
            approval_status=arguments["ModelApprovalStatus"],
        )
        metadata = arguments["CustomerMetadataProperties"]
        if "mlflow_run_id" in metadata:  # the run links to the version, as the version to it
            from forecasting.tracking import tag_run

            run = {"tracking_uri": metadata["mlflow_tracking_server"],
                   "run_id": metadata["mlflow_run_id"]}  # fmt: skip
            execution = metadata["pipeline_execution_arn"]
            tag_run(run, {"model_package_arn": package.arn, "pipeline_execution_arn": execution})
            self.say(f"    MLflow run {metadata['mlflow_run_id']} in {run['tracking_uri']}")
        return {
            "group": package.group,
            "version": package.version,
            "arn": package.arn,
            "properties": {"ModelPackageArn": package.arn},
        }

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
        preprocess_argv = files.read_json(self.marker("Preprocess"))["argv"]
        future = future_input(preprocess_argv, config, made)
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


def local_resources(home: Home, group: str = PROJECT) -> Resources:
    """The deployment's resources as local values; the training code is packed exactly as the
    CodeBuild runner packs it and put at the same key in the local artifacts bucket."""
    data, digest = package_source(SOURCE_DIR)
    code_uri = f"s3://{home.artifacts_bucket}/{source_key(f'{home.project}/source', digest)}"
    code = home.local_path(code_uri)
    if not code.is_file():
        files.atomic_write_bytes(code, data)
    return Resources(
        pipeline_name=home.project,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/{home.project}-local",
        artifacts_bucket=home.artifacts_bucket,
        code_uri=code_uri,
        kms_key_id=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/local",
        region=REGION,
        model_package_group=group,
        data_uri=f"s3://{home.data_bucket}/input/",
        images=Images(training=LOCAL_IMAGE, processing=LOCAL_IMAGE, inference=LOCAL_IMAGE),
        mlflow_tracking_uri=home.mlflow_tracking_uri,
    )


def check_requirements(code: Path, step: str, say: Callable[[str], None]) -> None:
    """The jobs' ``pip install -r requirements.txt``, done honestly offline: every requirement
    must already be installed here at a matching version. ``constraints.txt`` pins the AWS
    container's torch, which this machine does not run; that difference is said, not hidden."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    archives = list(code.glob("*.gz"))
    if archives:  # a processing job's code input: the tarball as the cloud script finds it
        with tarfile.open(archives[0]) as tar:
            texts = {
                n: tar.extractfile(n).read().decode()  # type: ignore[union-attr]
                for n in ("requirements.txt", "constraints.txt")
                if n in tar.getnames()
            }
    else:
        texts = {p.name: p.read_text() for p in code.glob("*.txt")}

    def unmet(name: str) -> list[str]:
        found = []
        for line in texts.get(name, "").splitlines():
            line = line.split("#")[0].strip()
            if not line or line.startswith("-"):
                continue
            requirement = Requirement(line)
            try:
                installed = version(requirement.name)
            except PackageNotFoundError:
                installed = "none"
            if installed == "none" or not requirement.specifier.contains(installed, True):
                found.append(f"{requirement} ({installed} installed)")
        return found

    wrong = unmet("requirements.txt")
    if wrong:
        raise interpreter.StepError(
            step, "this environment does not satisfy the code's requirements.txt: "
            + ", ".join(wrong) + "; run make setup"
        )  # fmt: skip
    if step in ("Preprocess", "Train"):
        container = unmet("constraints.txt")
        say(
            "    requirements.txt: satisfied here, so the job's pip install is a no-op"
            + (f"; the container's {', '.join(container)} is not" if container else "")
        )


class _environment:
    """Set a processing job's ``Environment`` while it runs in this process."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *_: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
