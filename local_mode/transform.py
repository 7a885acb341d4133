"""Local stand-ins for SageMaker's CreateModel and CreateTransformJob, executing the cloud's
requests unchanged.

* A *model* is the registered artifact unpacked where the serving container mounts it
  (``/opt/ml/model``), under ``<home>/sagemaker/models/<ModelName>/model``; the request is kept
  beside it. A second CreateModel with the same name reuses it, as the Lambda does.
* A *transform job* sends every object under the input prefix (``S3DataType`` ``S3Prefix``) to
  one container process (:mod:`local_mode.serve`, the PyTorch serving container's handler
  service), split, batched and assembled as the request's ``SplitType``, ``BatchStrategy``,
  ``MaxPayloadInMB`` and ``AssembleWith`` say, with its ``ContentType`` and ``Accept``; it writes
  ``<output>/<relative key>.out`` per input object. Any failed request fails the job
  (``InvocationsMaxRetries`` 0). A setting local mode does not implement is refused by name.
  The job record, container log and request outcomes live in
  ``<home>/sagemaker/transform-jobs/<JobName>/``.

Repeats: a job name that already Completed is not run again (the cloud refuses the name). Unlike
the cloud, a job that Failed or was interrupted *is* run again under its name, since locally
there is nothing else to do with it and the next ``approve`` should just work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from forecasting.errors import ForecastingError
from lambdas.publish.stores import LocalStore
from local_mode import files, serve
from local_mode.layout import Home, split_s3_uri

CONTAINER_MODEL_DIR = PurePosixPath("/opt/ml/model")
REPOSITORY = Path(__file__).resolve().parent.parent  # makes local_mode.serve importable
OUTPUT_SUFFIX = ".out"
COMPLETED, FAILED, IN_PROGRESS = "Completed", "Failed", "InProgress"


class TransformError(ForecastingError):
    """The model or the job could not be created or run; the message says why."""


@dataclass(frozen=True)
class LocalModel:
    name: str
    model_dir: Path
    environment: dict[str, str]
    created: bool  # False: an existing model of that name was reused


@dataclass(frozen=True)
class JobResult:
    record: dict[str, Any]  # DescribeTransformJob-shaped, plus the local "Requests"
    started: bool  # False: the job had completed before and was not run again

    @property
    def status(self) -> str:
        return str(self.record["TransformJobStatus"])

    @property
    def outputs(self) -> list[Path]:
        return [Path(r["output"]) for r in self.record.get("Requests", []) if r["ok"]]


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def models_dir(home: Home) -> Path:
    return home.sagemaker / "models"


def jobs_dir(home: Home) -> Path:
    return home.sagemaker / "transform-jobs"


def create_model(home: Home, request: Mapping[str, Any]) -> LocalModel:
    """CreateModel: unpack ``PrimaryContainer.ModelDataUrl`` once per model name."""
    name = request["ModelName"]
    container = request["PrimaryContainer"]
    folder = models_dir(home) / name
    record = folder / "model.json"
    model_dir = folder / "model"
    created = not (record.is_file() and (model_dir / "config.json").is_file())
    if created:
        archive = home.local_path(container["ModelDataUrl"])
        if not archive.is_file():
            raise TransformError(
                f"model {name}: its artifact {container['ModelDataUrl']} ({archive}) is missing"
            )
        files.extract_archive(archive, model_dir)
        files.atomic_write_json(record, dict(request))
    return LocalModel(name, model_dir, dict(container.get("Environment", {})), created)


def container_environment(model: LocalModel) -> dict[str, str]:
    """The model's environment with container paths mapped onto its unpacked folder."""
    environment = dict(model.environment)
    environment.setdefault("SAGEMAKER_PROGRAM", "inference.py")
    submit = PurePosixPath(environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/model/code"))
    if submit.is_relative_to(CONTAINER_MODEL_DIR):
        code_dir = model.model_dir.joinpath(*submit.relative_to(CONTAINER_MODEL_DIR).parts)
    else:
        code_dir = Path(str(submit))
    environment["SAGEMAKER_SUBMIT_DIRECTORY"] = str(code_dir)
    # the artifact's code first (as in the container), then what runs local_mode.serve
    paths = [str(code_dir), str(REPOSITORY), os.environ.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return environment


def invoke(
    model: LocalModel,
    requests: Sequence[tuple[Path, Path]],
    *,
    content_type: str,
    accept: str,
    max_payload_mb: int,
    work_dir: Path,
    split_type: str = "None",  # the API's defaults
    batch_strategy: str = "MultiRecord",
    assemble_with: str = "None",
) -> list[dict[str, Any]]:
    """Start the container for ``model`` and send each (input file, output file) request."""
    for setting, value, supported in (
        ("SplitType", split_type, serve.SPLIT_TYPES),
        ("BatchStrategy", batch_strategy, serve.BATCH_STRATEGIES),
        ("AssembleWith", assemble_with, serve.ASSEMBLE_WITH),
    ):
        if value not in supported:
            raise TransformError(
                f"{setting} {value!r} is not supported locally (supported: {', '.join(supported)})"
            )
    work_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "model_dir": str(model.model_dir),
        "requests": [{"input": str(a), "output": str(b)} for a, b in requests],
        "content_type": content_type,
        "accept": accept,
        "split_type": split_type,
        "batch_strategy": batch_strategy,
        "assemble_with": assemble_with,
        "max_payload_bytes": max_payload_mb * 2**20,
        "results": str(work_dir / "results.json"),
    }
    spec_path = work_dir / "requests.json"
    files.atomic_write_json(spec_path, spec)
    (work_dir / "results.json").unlink(missing_ok=True)
    log = work_dir / "container.log"
    with log.open("wb") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "local_mode.serve", str(spec_path)],
            cwd=work_dir,
            env={**os.environ, **container_environment(model)},
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0 or not (work_dir / "results.json").is_file():
        raise TransformError(
            f"the model container for {model.name} exited with code {done.returncode}: "
            f"{_last_line(log)} (full log: {log})"
        )
    results: list[dict[str, Any]] = files.read_json(work_dir / "results.json")
    return results


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def output_key(input_key: str, input_prefix: str, output_prefix: str) -> str:
    """``prefix/a/X.csv`` under input ``prefix/`` → ``<output prefix>/a/X.csv.out``."""
    relative = input_key[len(input_prefix) :].lstrip("/") or PurePosixPath(input_key).name
    return "/".join(p for p in (output_prefix.strip("/"), relative + OUTPUT_SUFFIX) if p)


def run_transform_job(home: Home, request: Mapping[str, Any], model: LocalModel) -> JobResult:
    """CreateTransformJob, run to the end (locally the call returns when the job has ended)."""
    name = request["TransformJobName"]
    job_dir = jobs_dir(home) / name
    with files.exclusive(job_dir, f"transform job {name}"):
        return _run_job(home, request, model, job_dir)


def _run_job(home: Home, request: Mapping[str, Any], model: LocalModel, job_dir: Path) -> JobResult:
    record_path = job_dir / "job.json"
    if record_path.is_file():
        previous = files.read_json(record_path)
        if previous["TransformJobStatus"] == COMPLETED:
            return JobResult(previous, started=False)
    source = request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    output_uri = request["TransformOutput"]["S3OutputPath"]
    in_bucket, in_prefix = split_s3_uri(source)
    out_bucket, out_prefix = split_s3_uri(output_uri)
    record: dict[str, Any] = {
        **{k: v for k, v in request.items() if k != "Tags"},
        "TransformJobStatus": IN_PROGRESS,
        "CreationTime": _now(),
    }
    files.atomic_write_json(record_path, record)
    output_root = home.local_path(output_uri)
    shutil.rmtree(output_root, ignore_errors=True)  # a rerun starts from an empty output
    keys = LocalStore(home.buckets / in_bucket).list(in_prefix)
    requests = [
        (
            home.buckets / in_bucket / key,
            home.buckets / out_bucket / output_key(key, in_prefix, out_prefix),
        )
        for key in keys
    ]
    if not requests:
        record["Requests"] = []
        return _finish(record_path, record, f"no input objects under {source}")
    results = invoke(
        model,
        requests,
        content_type=request["TransformInput"]["ContentType"],
        accept=request["TransformOutput"]["Accept"],
        max_payload_mb=int(request.get("MaxPayloadInMB", 6)),
        work_dir=job_dir,
        split_type=request["TransformInput"].get("SplitType", "None"),
        batch_strategy=request.get("BatchStrategy", "MultiRecord"),
        assemble_with=request["TransformOutput"].get("AssembleWith", "None"),
    )
    record["Requests"] = results
    failures = [f"{Path(r['input']).name}: {r['error']}" for r in results if not r["ok"]]
    reason = None
    if failures:
        reason = f"{len(failures)} of {len(results)} requests failed; first: {failures[0]}"
    return _finish(record_path, record, reason)


def _finish(record_path: Path, record: dict[str, Any], failure: str | None) -> JobResult:
    record["TransformJobStatus"] = FAILED if failure else COMPLETED
    if failure:
        record["FailureReason"] = failure
    record["TransformEndTime"] = _now()
    files.atomic_write_json(record_path, record)
    return JobResult(record, started=True)
