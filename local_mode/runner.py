"""Execute the pipeline definition itself in a local run folder.

``python -m local_mode run`` builds the definition with the same builder and settings as the
CodeBuild runner (``forecasting.pipeline.definition``), with local values for the deployment's
resources, and executes that JSON (:mod:`local_mode.interpreter`): parameters, expressions,
step properties, dependencies, the gate's condition, the Fail message and the registration.
The JSON executed is kept as ``definition.json`` in the run folder. Processing jobs run as
:mod:`local_mode.processing` says, training jobs through SageMaker's training toolkits
(:mod:`local_mode.training`); S3 is folders (:mod:`local_mode.jobs`).

Resuming: a step that finishes writes ``status/<Step>.json`` (with its properties) atomically;
a rerun of the same run id skips every step that has one, and training resumes from the
checkpoint. A step that runs again invalidates the steps after it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from forecasting.errors import ConfigError, ForecastingError
from forecasting.pipeline.definition import build_definition
from forecasting.pipeline.images import Images
from forecasting.pipeline.resources import Resources
from forecasting.pipeline.source import package_sources, source_key
from local_mode import (
    files,
    interpreter,
    lambda_steps,
    processing,
    step_cache,
    step_reuse,
    training,
)
from local_mode.layout import ACCOUNT, PROJECT, REGION, Home, container_path
from local_mode.registry import Registry
from local_mode.runs import (
    DEFINITION_FILE,
    REFUSED,
    RUN_FILE,
    SOURCE_DIR,
    STATUS_DIR,
    TRANSFORM_INPUT,
    GateFailedError,
    RunConfig,
    RunResult,
    gate_text,
    user_mistake,
)

LOCAL_IMAGE = "local"  # the container image of a local package: this machine's Python


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
        self.lock: int | None = None  # the run lock's descriptor, inherited by training hosts
        self.resources = local_resources(home, config.group)
        self.definition = definition or build_definition(self.settings, self.resources)
        self.plan = interpreter.plan(self.definition)
        self.steps = {s.name: s for s in self.plan}
        self.parameters = interpreter.parameter_values(self.definition, config.parameters)
        self.properties: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}  # each finished step's status record
        self.evaluate = interpreter.Evaluator(
            self.definition, self.parameters, run_id, self.properties, self._property_file,
            execution_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{home.project}/"
            f"execution/{run_id}",
        )  # fmt: skip

    # --- paths ------------------------------------------------------------------------------

    def path(self, container: str) -> Path:
        return container_path(self.dir, container)

    def output(self, step_name: str, name: str) -> Path:
        """Where a step's output is in the run folder: a processing output's container path,
        or the model folder of the training job's first host."""
        arguments = self.steps[step_name].definition["Arguments"]
        if "ProcessingOutputConfig" in arguments:
            outputs = arguments["ProcessingOutputConfig"]["Outputs"]
            local = next(o["S3Output"]["LocalPath"] for o in outputs if o["OutputName"] == name)
            return self.path(local)
        return Path(self.outcomes[step_name]["artifact"]["model_dir"])

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
            self.lock = lock
            if self.marker(REFUSED).is_file():
                refused = files.read_json(self.marker(REFUSED))
                raise ConfigError(
                    f"run {self.run_id} cannot be resumed: its {refused['step']} step refused "
                    f"the run's options or data ({refused['error']}); start a new run"
                )
            self.say(self.config.settings_sources())
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
                    outcome = step_reuse.run_or_reuse(self, name, result)
                except ForecastingError as error:
                    if user_mistake(error):  # the same options would fail the same way
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

    def run_step(self, name: str, result: RunResult) -> dict[str, Any]:
        if name == TRANSFORM_INPUT:
            return self.write_transform_input(result)
        step = self.steps[name]
        action = {
            "Processing": self.processing,
            "Training": self.training,
            "Lambda": self.invoke_lambda,
            "Condition": self.condition,
            "RegisterModel": self.register,
            "Fail": self.fail,
        }[step.type]
        return action(step.definition, result)

    def _invalidate_after(self, name: str, names: list[str]) -> None:
        for later in names[names.index(name) + 1 :]:
            self.marker(later).unlink(missing_ok=True)

    def _restore(self, name: str, outcome: dict[str, Any], result: RunResult) -> None:
        self.outcomes[name] = outcome
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

    def processing(self, step: Mapping[str, Any], result: RunResult) -> dict[str, Any]:
        return processing.run(self, step)

    def training(self, step: Mapping[str, Any], result: RunResult) -> dict[str, Any]:
        return training.run(self, step)

    def invoke_lambda(self, step: Mapping[str, Any], result: RunResult) -> dict[str, Any]:
        """A Lambda step: the project's function on the step's evaluated arguments; its answer's
        keys that ``OutputParameters`` name become the step's outputs, as in SageMaker."""
        name = step["Name"]
        answer = lambda_steps.invoke(
            self.home, step["FunctionArn"], self.evaluate(step["Arguments"], name)
        )
        if answer is None:
            raise interpreter.UnsupportedError(
                f"step {name}: local mode has no function {step['FunctionArn']}"
            )
        outputs = {}
        for output in step.get("OutputParameters", []):
            if output["OutputName"] not in answer:
                raise interpreter.StepError(
                    name, f"the function returned no {output['OutputName']}"
                )
            outputs[output["OutputName"]] = answer[output["OutputName"]]
        for key, value in outputs.items():
            self.say(f"    {key}: {value}")
        return {"properties": {"OutputParameters": outputs}}

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
        metrics = files.read_json(metrics_path)
        package = self.registry.register(
            group=arguments["ModelPackageGroupName"],
            model_family=arguments["CustomerMetadataProperties"]["model_family"],
            metrics=metrics,
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
        run_id = (metrics.get("mlflow") or {}).get("run_id")
        if "mlflow_tracking_server" in metadata and run_id:
            # what the cloud's run-tagging Lambda does (lambdas/registration_tracking): the run
            # links to the version, as the version to it
            from forecasting.tracking import tag_run

            run = {"tracking_uri": metadata["mlflow_tracking_server"], "run_id": run_id}
            tag_run(run, {
                "model_package_arn": package.arn, "model_package_group": package.group,
                "model_package_version": str(package.version),
                "pipeline_execution_arn": metadata["pipeline_execution_arn"],
            })  # fmt: skip
            self.registry.update_metadata(package.group, package.version, {"mlflow_run_id": run_id})
            self.say(f"    MLflow run {run_id} in {run['tracking_uri']}")
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
    """The deployment's resources as local values; each step's code is packed exactly as the
    CodeBuild runner packs it and put at the same key in the local artifacts bucket."""
    code_uris: dict[str, str] = {}
    for step, (data, digest) in package_sources(SOURCE_DIR).items():
        code_uri = f"s3://{home.artifacts_bucket}/{source_key(f'{home.project}/source', digest)}"
        code = home.local_path(code_uri)
        if not code.is_file():
            files.atomic_write_bytes(code, data)
        code_uris[step] = code_uri
    return Resources(
        pipeline_name=home.project,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/{home.project}-local",
        artifacts_bucket=home.artifacts_bucket,
        code_uris=code_uris,
        kms_key_id=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/local",
        region=REGION,
        model_package_group=group,
        data_uri=f"s3://{home.data_bucket}/input/",
        images=Images(training=LOCAL_IMAGE, processing=LOCAL_IMAGE, inference=LOCAL_IMAGE),
        mlflow_tracking_uri=home.mlflow_tracking_uri,
        approved_model_function_arn=lambda_steps.function_arn(
            home.project, lambda_steps.FIND_APPROVED_MODEL_FUNCTION
        ),
    )
