"""A pipeline's Processing step run as a SageMaker processing job would run it.

The request's ``AppSpecification`` must be the pipeline's own processing script (unpack the code,
``pip install -r requirements.txt``, ``python -m <module> <arguments>``): its ``ContainerArguments``
run here, in this process, with the request's ``Environment`` set, after the processing inputs
are copied from their S3 URIs into their container paths; the outputs are uploaded to the URIs
the request names. Container paths are folders: ``/opt/ml/...`` is ``<run>/opt/ml/...`` in every
argument. The install is checked, not run: this environment must already satisfy the code's
``requirements.txt`` (:func:`local_mode.jobs.check_requirements`), and what the container's
``constraints.txt`` pins differently here is said.

One local choice, announced when it applies: unless ``--parameter InputDataUri=...`` is given,
the Preprocess step reads the data where the user keeps it (``--data FILE``) or by name
(``--dataset NAME``) instead of from the ``InputDataUri`` prefix, so its messages name the
user's file.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from forecasting.channels import read_channel
from forecasting.families import family
from forecasting.pipeline.definition import EVALUATION_FILE
from forecasting.pipeline.processing_job import CODE_DIR, PROCESSING_SCRIPT
from local_mode import interpreter, jobs
from local_mode.layout import CONTAINER_ROOT

if TYPE_CHECKING:
    from local_mode.runner import Runner


def run(runner: Runner, step: Mapping[str, Any]) -> dict[str, Any]:
    name = str(step["Name"])
    arguments = runner.evaluate(step["Arguments"], name)
    app = arguments["AppSpecification"]
    if app.get("ContainerEntrypoint") != ["/bin/bash", "-c", PROCESSING_SCRIPT]:
        raise interpreter.UnsupportedError(
            f"step {name}: only the pipeline's own processing script runs locally, not "
            f"{app.get('ContainerEntrypoint')!r}"
        )
    module, *argv = [_mapped(runner, a) for a in app["ContainerArguments"]]
    inputs = {i["InputName"]: i["S3Input"] for i in arguments.get("ProcessingInputs", [])}
    argv = _local_data(runner, name, inputs, argv)
    for input_name, spec in inputs.items():
        jobs.download(
            runner.home, name, f"input {input_name}", spec["S3Uri"], runner.path(spec["LocalPath"])
        )
    requirements = jobs.check_requirements(runner.path(CODE_DIR), name)
    if name == "Preprocess" and requirements.present:
        container = requirements.unmet_constraints
        runner.say(
            f"    {jobs.REQUIREMENTS}: satisfied here, so the job's pip install is a no-op"
            + (f"; the container's {', '.join(container)} is not" if container else "")
        )
    outputs = arguments["ProcessingOutputConfig"]["Outputs"]
    for output in outputs:
        local = runner.path(output["S3Output"]["LocalPath"])
        shutil.rmtree(local, ignore_errors=True)
        local.mkdir(parents=True)
    # CreateProcessingJob's Environment is a top-level field, beside AppSpecification. A new
    # Preprocess attempt needs no checkpoint clean-up: the train step's checkpoints are under
    # the Preprocess job's name, new for every attempt.
    environment = {k: str(v) for k, v in arguments.get("Environment", {}).items()}
    with _environment(environment):
        importlib.import_module(module).main(argv)
    for output in outputs:
        spec = output["S3Output"]
        jobs.upload(runner.home, runner.path(spec["LocalPath"]), spec["S3Uri"])
    properties = {
        # one name per attempt, as SageMaker's: the train step's checkpoints are under it
        "ProcessingJobName": f"{name.lower()}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}",
        "ProcessingOutputConfig": {
            "Outputs": {o["OutputName"]: {"S3Output": o["S3Output"]} for o in outputs}
        },
    }
    outcome: dict[str, Any] = {"properties": properties, "argv": argv}
    if name == "Preprocess":
        train = read_channel(runner.output(name, "train"))
        runner.say(f"    split: {family(train.recorded.model).split_text(train)}")
    evaluation = runner.output(name, "evaluation") if name == "Evaluate" else None
    if evaluation is not None and (evaluation / EVALUATION_FILE).is_file():
        outcome["evaluation"] = str(evaluation / EVALUATION_FILE)
    return outcome


def _mapped(runner: Runner, value: Any) -> Any:
    """Container paths in an argument, as paths in the run folder."""
    if isinstance(value, str) and value.startswith(f"{CONTAINER_ROOT}/"):
        return str(runner.path(value))
    return value


def _local_data(runner: Runner, step: str, inputs: dict[str, Any], argv: list[str]) -> list[str]:
    """The announced local choice: Preprocess reads the user's file or named data set."""
    if step != "Preprocess" or "InputDataUri" in runner.config.parameters:
        return argv
    data = inputs.pop("data")
    position = argv.index(str(runner.path(data["LocalPath"])))
    source = ["--data", runner.config.data] if runner.config.data else []
    if runner.config.dataset:
        source += ["--dataset", runner.config.dataset]
    runner.say(
        f"    data: {' '.join(source) or 'the default data set'} (local: read in place; "
        "--parameter InputDataUri=s3://... reads a local bucket instead)"
    )
    return argv[: position - 1] + source + argv[position + 1 :]


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """A processing job's ``Environment``, set while it runs in this process."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
