"""The CodeBuild runner: moto for stateful flows (S3, create then update, start), botocore's
Stubber to pin the calls moto lacks (execution steps) and the error codes SageMaker answers."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.sagemaker import models as moto_sagemaker
from moto.sagemaker.exceptions import ResourceNotFound

from forecasting.errors import ConfigError
from forecasting.pipeline import codebuild, step_code
from forecasting.pipeline.codebuild import main
from forecasting.pipeline.execution import (
    PipelineFailed,
    start_execution,
    upsert_pipeline,
    wait_for_execution,
)
from forecasting.pipeline.source import package_source, package_sources, source_key, upload_source

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ts-forecasting-sagemaker"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = "ts-forecasting-artifacts"
DATA_BUCKET = "ts-forecasting-data"
EXECUTION = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/ts-forecasting/execution/abc123"
TRAINING_JOB = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/pipelines-abc123-train"
DEFINITION = json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": []})
REPO_MODEL_BUILD = Path(__file__).resolve().parents[3] / "model_build"
CLI_ENV = {
    "PIPELINE_NAME": "ts-forecasting",
    "PIPELINE_ROLE_ARN": ROLE,
    "ARTIFACTS_BUCKET": BUCKET,
    "KMS_KEY_ID": KEY,
    "AWS_REGION": REGION,
    "MODEL_PACKAGE_GROUP": "ts-forecasting",
    "DATA_URI": "s3://ts-forecasting-data/ETTh1/",
    "IMAGE_REPOSITORY_URI": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/ts-forecasting/jobs",
    "APPROVED_MODEL_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:123456789012:function:find",
}
OTHER_ENV = (
    "AWS_DEFAULT_REGION", "PIPELINE_SETTINGS", "PROJECT_NAME", "SOURCE_DIR",
    "PIPELINE_POLL_SECONDS", "PIPELINE_TIMEOUT_SECONDS", "AWS_PROFILE",
)  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch):
    """No runner setting leaks in from the shell (or from a CodeBuild host)."""
    for name in (*CLI_ENV, *OTHER_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def cli_env(clean_env):
    """What the CodeBuild project sets."""
    for name, value in CLI_ENV.items():
        clean_env.setenv(name, value)
    return clean_env


@pytest.fixture
def aws(clean_env):
    """moto with fake credentials; a missing pipeline answers as SageMaker does.

    moto 5.2 answers DescribePipeline for an unknown name with ValidationException, while
    SageMaker answers ResourceNotFound (the operation's only modelled error), which is what the
    runner relies on; the stand-in below makes moto say what SageMaker says.
    """
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        clean_env.setenv(name, value)
    found = moto_sagemaker.get_pipeline_from_name

    def get_pipeline_from_name(pipelines, name):
        if name not in pipelines:
            raise ResourceNotFound(f"Pipeline '{name}' does not exist.")
        return found(pipelines, name)

    clean_env.setattr(moto_sagemaker, "get_pipeline_from_name", get_pipeline_from_name)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (BUCKET, DATA_BUCKET):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        s3.put_object(Bucket=DATA_BUCKET, Key="ETTh1/ETTh1.csv", Body=b"date,OT\n")
        yield


@pytest.fixture
def sm():
    return boto3.client("sagemaker", region_name=REGION)


@pytest.fixture
def stubbed():
    """A real SageMaker client whose calls are answered (and pinned) by a Stubber."""
    client = boto3.client(
        "sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


# --- the source tarball -------------------------------------------------------------------


def write(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "model_build"
    for name in ("pyproject.toml", "README.md", "buildspec.yml"):
        write(root / name, f"{name}\n")
    write(root / "entry_train.py", "from forecasting.steps.train import main\n")
    write(root / "forecasting" / "__init__.py")
    write(root / "forecasting" / "steps" / "__init__.py")
    write(root / "forecasting" / "steps" / "train.py").chmod(0o755)
    write(root / "forecasting" / "inference" / "__init__.py")
    write(root / "forecasting" / "inference" / "handler.py")
    # none of these belong in the tarball
    write(root / "forecasting" / "__pycache__" / "train.cpython-311.pyc")
    write(root / "forecasting" / "stale.pyc")
    write(root / "forecasting" / ".pytest_cache" / "README.md")
    write(root / "forecasting" / ".DS_Store")
    write(root / "forecasting.egg-info" / "PKG-INFO")
    write(root / ".env", "SECRET=1\n")
    write(root / "data" / "ETTh1.csv", "date,OT\n")
    write(root / "forecast.csv", "date,OT\n")
    return root


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


def test_the_same_tree_gives_byte_identical_tarballs(tree, tmp_path):
    first, digest = package_source(tree, "Train")
    # other clocks, another umask and another folder: none of it may reach the bytes
    for path in tree.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    (tree / "entry_train.py").chmod(0o600)
    copy = shutil.copytree(tree, tmp_path / "elsewhere" / "model_build")
    assert package_source(tree, "Train") == (first, digest)
    assert package_source(copy, "Train") == (first, digest)
    assert first[4:8] == b"\0\0\0\0"  # the gzip header's mtime


def test_the_tarball_holds_the_code_the_step_runs_only(tree):
    data, _ = package_source(tree, "Train")
    entries = members(data)
    assert [m.name for m in entries] == [
        "entry_train.py", "forecasting", "forecasting/__init__.py", "forecasting/inference",
        "forecasting/inference/__init__.py", "forecasting/inference/handler.py",
        "forecasting/steps", "forecasting/steps/__init__.py", "forecasting/steps/train.py",
    ]  # fmt: skip
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in entries} == {(0, 0, 0, "", "")}
    modes = {m.name: m.mode for m in entries}
    assert modes["forecasting/steps/train.py"] == modes["forecasting/steps"] == 0o755
    assert modes["entry_train.py"] == modes["forecasting/__init__.py"] == 0o644


def test_a_changed_file_changes_the_digest(tree):
    data, digest = package_source(tree, "Train")
    assert digest == hashlib.sha256(gzip.decompress(data)).hexdigest()
    write(tree / "forecasting" / "steps" / "train.py", "x = 2\n")
    assert package_source(tree, "Train")[1] != digest


def test_a_requirements_file_in_the_code_is_refused_naming_the_image_folder(tree):
    """The toolkits would pip-install it at job start, which an isolated job cannot."""
    write(tree / "requirements.txt", "lightning==2.6.6\n")
    expected = r"requirements.txt: jobs install no packages .*model_build/image/requirements.txt"
    with pytest.raises(ConfigError, match=expected):
        package_source(tree, "Train")


def test_a_folder_without_the_package_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no forecasting/ package"):
        package_source(tmp_path, "Train")


def test_the_real_source_holds_what_the_jobs_run():
    packages = package_sources(REPO_MODEL_BUILD)
    assert list(packages) == ["Preprocess", "Train", "Evaluate"]
    for step, (data, digest) in packages.items():
        names = {m.name for m in members(data)}
        assert f"{step_code.ENTRY_POINTS[step][0].replace('.', '/')}.py" in names
        # the pipeline builder runs in CodeBuild, never in a job
        assert not any(name.startswith("forecasting/pipeline") for name in names), step
        assert not any(n.endswith("requirements.txt") or n.startswith("image") for n in names)
        assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
        assert package_source(REPO_MODEL_BUILD, step) == (data, digest)
    assert "entry_train.py" in {m.name for m in members(packages["Train"][0])}


def test_upload_puts_the_tarball_under_its_digest_once(aws, tree):
    s3 = boto3.client("s3", region_name=REGION)
    puts: list[str] = []
    s3.meta.events.register("before-call.s3.PutObject", lambda **_: puts.append("put"))
    data, digest = package_source(tree, "Train")

    uri = upload_source(s3, BUCKET, "ts-forecasting/source/", data, digest, kms_key_id=KEY)
    key = f"ts-forecasting/source/{digest}/sourcedir.tar.gz"
    assert uri == f"s3://{BUCKET}/{key}"
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KEY)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data

    assert upload_source(s3, BUCKET, "ts-forecasting/source", data, digest, KEY) == uri
    assert puts == ["put"]


def test_upload_goes_ahead_when_the_check_is_forbidden_and_stops_on_other_errors():
    s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    key = source_key("code", "abc")
    with Stubber(s3) as stubber:
        # S3 answers 403 for a missing key when the caller may not list the bucket
        stubber.add_client_error("head_object", "403", http_status_code=403)
        stubber.add_response(
            "put_object",
            {},
            {"Bucket": BUCKET, "Key": key, "Body": b"tar", "ContentType": "application/gzip"},
        )
        assert upload_source(s3, BUCKET, "code", b"tar", "abc") == f"s3://{BUCKET}/{key}"
        stubber.add_client_error("head_object", "InternalError", http_status_code=500)
        with pytest.raises(ClientError):
            upload_source(s3, BUCKET, "code", b"tar", "abc")


# --- create, update, start ----------------------------------------------------------------


def test_the_second_upsert_updates_the_pipeline(aws, sm):
    arn = upsert_pipeline(
        sm, name="ts-forecasting", definition=DEFINITION, role_arn=ROLE,
        description="first", project="demo",
    )  # fmt: skip
    changed = json.dumps({"Version": "2020-12-01", "Parameters": [{"Name": "MaxEpochs"}]})
    again = upsert_pipeline(
        sm, name="ts-forecasting", definition=changed, role_arn=ROLE, description="second"
    )
    assert again == arn
    described = sm.describe_pipeline(PipelineName="ts-forecasting")
    assert (described["PipelineDefinition"], described["PipelineDescription"]) == (
        changed,
        "second",
    )
    assert len(sm.list_pipelines()["PipelineSummaries"]) == 1
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "project", "Value": "demo"}]


def test_a_missing_pipeline_is_created_with_the_project_tag(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("describe_pipeline", "ResourceNotFound", http_status_code=400)
    stubber.add_response(
        "create_pipeline",
        {"PipelineArn": "arn:p"},
        {
            "PipelineName": "ts-forecasting",
            "PipelineDefinition": DEFINITION,
            "PipelineDescription": "d",
            "RoleArn": ROLE,
            "Tags": [{"Key": "project", "Value": "ts-forecasting"}],
        },
    )
    assert (
        upsert_pipeline(
            client, name="ts-forecasting", definition=DEFINITION, role_arn=ROLE, description="d"
        )
        == "arn:p"
    )


def test_other_describe_errors_are_not_taken_for_a_missing_pipeline(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("describe_pipeline", "AccessDeniedException", http_status_code=400)
    with pytest.raises(ClientError, match="AccessDenied"):
        upsert_pipeline(client, name="p", definition=DEFINITION, role_arn=ROLE, description="d")


def test_start_passes_the_parameters(aws, sm):
    upsert_pipeline(sm, name="ts-forecasting", definition=DEFINITION, role_arn=ROLE, description="")
    arn = start_execution(
        sm,
        name="ts-forecasting",
        parameters={"MaxEpochs": "2", "InputDataUri": "s3://d/x/"},
        display_name="build-42",
    )
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionDisplayName"] == "build-42"
    assert sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)[
        "PipelineParameters"
    ] == [{"Name": "MaxEpochs", "Value": "2"}, {"Name": "InputDataUri", "Value": "s3://d/x/"}]


# --- waiting ------------------------------------------------------------------------------


def expect_poll(stubber, status, *pages, failure_reason=None):
    """One poll: the execution's status, then the step pages (linked by NextToken)."""
    execution = {"PipelineExecutionArn": EXECUTION, "PipelineExecutionStatus": status}
    if failure_reason:
        execution["FailureReason"] = failure_reason
    stubber.add_response(
        "describe_pipeline_execution", execution, {"PipelineExecutionArn": EXECUTION}
    )
    for number, page in enumerate(pages):
        request = {"PipelineExecutionArn": EXECUTION, "SortOrder": "Ascending"}
        if number:
            request["NextToken"] = f"page-{number}"
        response = {"PipelineExecutionSteps": [step(*s) for s in page]}
        if number + 1 < len(pages):
            response["NextToken"] = f"page-{number + 1}"
        stubber.add_response("list_pipeline_execution_steps", response, request)


def step(name, status, reason=None, metadata=None):
    described = {"StepName": name, "StepStatus": status}
    if reason:
        described["FailureReason"] = reason
    if metadata:
        described["Metadata"] = metadata
    return described


@dataclass
class Watcher:
    """Runs wait_for_execution with a recording echo and sleep."""

    lines: list[str] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def wait(self, client, **kwargs) -> str:
        return wait_for_execution(
            client, EXECUTION, poll_seconds=5, echo=self.lines.append, sleep=self.sleeps.append,
            **kwargs,
        )  # fmt: skip


def test_wait_prints_each_step_change_once_across_pages(stubbed):
    client, stubber = stubbed
    expect_poll(stubber, "Executing", [("Preprocess", "Executing")])
    expect_poll(stubber, "Executing", [("Preprocess", "Executing")])
    expect_poll(stubber, "Executing", [("Preprocess", "Succeeded")], [("Train", "Executing")])
    expect_poll(stubber, "Succeeded", [("Preprocess", "Succeeded")], [("Train", "Succeeded")], [])
    watcher = Watcher()
    assert watcher.wait(client) == "Succeeded"
    assert watcher.lines == [
        "Preprocess: Executing", "Preprocess: Succeeded", "Train: Executing", "Train: Succeeded",
    ]  # fmt: skip
    assert watcher.sleeps == [5, 5, 5]


def test_a_failed_step_is_named_with_its_reason_and_job(stubbed):
    client, stubber = stubbed
    reason = "AlgorithmError: ExecuteUserScriptError: CUDA out of memory"
    expect_poll(
        stubber,
        "Failed",
        [
            ("Preprocess", "Succeeded"),
            ("Train", "Failed", reason, {"TrainingJob": {"Arn": TRAINING_JOB}}),
            ("Evaluate", "Stopped"),
        ],
        failure_reason="Step failure: One or multiple steps failed.",
    )
    watcher = Watcher()
    with pytest.raises(PipelineFailed) as raised:
        watcher.wait(client)
    assert (raised.value.step, raised.value.status) == ("Train", "Failed")
    assert str(raised.value) == (
        f"pipeline execution {EXECUTION} failed at step Train: {reason} ({TRAINING_JOB})"
    )
    assert watcher.lines == ["Preprocess: Succeeded", "Train: Failed", "Evaluate: Stopped"]


def test_the_metric_gate_failure_carries_its_message(stubbed):
    client, stubber = stubbed
    message = "test mse 0.9 is above the threshold 0.6 - the model was not registered"
    expect_poll(
        stubber,
        "Failed",
        [
            ("CheckMetric", "Succeeded"),
            ("MetricAboveThreshold", "Failed", None, {"Fail": {"ErrorMessage": message}}),
        ],
    )
    with pytest.raises(PipelineFailed, match=f"at step MetricAboveThreshold: {message}$"):
        Watcher().wait(client)


def test_a_stopped_execution_names_the_stopped_step(stubbed):
    client, stubber = stubbed
    expect_poll(stubber, "Stopped", [("Preprocess", "Succeeded"), ("Train", "Stopped")])
    with pytest.raises(PipelineFailed, match="was stopped at step Train: step status Stopped"):
        Watcher().wait(client)


def test_waiting_gives_up_after_the_timeout(stubbed):
    client, stubber = stubbed
    for _ in range(3):
        expect_poll(stubber, "Executing", [("Train", "Executing")])
    watcher = Watcher()
    with pytest.raises(TimeoutError, match="still Executing after 10 s; it keeps running"):
        watcher.wait(client, timeout_seconds=10)
    assert watcher.sleeps == [5, 5]


# --- the command line ---------------------------------------------------------------------


def run_cli(argv, capsys):
    """main's exit code (0 when it returns) and its stdout and stderr."""
    try:
        main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_help_names_every_environment_variable(capsys):
    code, out, _ = run_cli(["upsert", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    for name in (*CLI_ENV, "AWS_DEFAULT_REGION", "PIPELINE_SETTINGS", "PIPELINE_POLL_SECONDS"):
        assert name in flat


def test_missing_settings_give_one_line_naming_flag_and_variable(clean_env, capsys):
    clean_env.setenv("PIPELINE_NAME", "ts-forecasting")
    code, _, err = run_cli(["upsert", "--role-arn", ROLE, "--region", REGION], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("configuration error: missing required settings: ")
    assert "--artifacts-bucket (env ARTIFACTS_BUCKET)" in err
    assert "--data-uri (env DATA_URI)" in err
    assert "PIPELINE_NAME" not in err and "--role-arn" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--settings", "{not json"], "--settings (inline JSON): line 1 column 2: not valid JSON"),
        (["--settings", '{"transform_instance_type": "ml.c5.xlarge"}'], "cannot be set here"),
        (["--settings", "missing.json"], "--settings: no such file 'missing.json'"),
        (["--settings", '{"model": "arima"}'], "model 'arima' is not one of"),
        (["--parameter", "MaxEpochs"], "--parameter expects NAME=VALUE, got 'MaxEpochs'"),
        (["--poll-seconds", "0"], "--poll-seconds (env PIPELINE_POLL_SECONDS) must be a positive"),
    ],
)
def test_bad_input_ends_in_one_line(cli_env, capsys, argv, message):
    code, _, err = run_cli(["upsert", *argv], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert message in err


def test_upsert_and_start_end_to_end(aws, cli_env, sm, capsys, tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"model": "tft", "metric_name": "mae"}))
    argv = ["upsert", "--start", "--settings", str(settings), "--parameter", "MaxEpochs=2"]

    code, out, _ = run_cli(argv, capsys)
    assert code == 0
    described = sm.describe_pipeline(PipelineName="ts-forecasting")
    for _, digest in package_sources(REPO_MODEL_BUILD).values():
        code_uri = f"s3://{BUCKET}/ts-forecasting/source/{digest}/sourcedir.tar.gz"
        assert code_uri in described["PipelineDefinition"]
        assert code_uri in described["PipelineDescription"]
    assert described["RoleArn"] == ROLE
    assert f"pipeline {described['PipelineArn']}" in out
    (execution,) = sm.list_pipeline_executions(PipelineName="ts-forecasting")[
        "PipelineExecutionSummaries"
    ]
    assert f"started {execution['PipelineExecutionArn']}" in out
    parameters = sm.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    assert parameters[0] == {"Name": "MaxEpochs", "Value": "2"}
    # the step cache is on: the execution reads a snapshot of the data (tests/.../test_caching)
    assert parameters[1]["Name"] == "InputDataUri"
    assert parameters[1]["Value"].startswith(f"s3://{DATA_BUCKET}/snapshots/")
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.head_object(Bucket=BUCKET, Key=code_uri.split(f"{BUCKET}/")[1])["ContentLength"]

    # an unknown override is refused before anything changes
    code, _, err = run_cli(["upsert", "--start", "--parameter", "Epochs=2"], capsys)
    assert code == 2
    assert "unknown ['Epochs']; the pipeline declares ['InputDataUri'" in err
    assert len(sm.list_pipeline_executions(PipelineName="ts-forecasting")[
        "PipelineExecutionSummaries"
    ]) == 1  # fmt: skip


def test_the_first_run_on_an_empty_bucket_ends_green_saying_what_to_upload(
    aws, cli_env, sm, capsys
):
    """CodePipeline runs on stack creation, before anyone uploaded data: the pipeline is
    created, no execution starts (Preprocess would fail on the empty prefix), one line says
    where to upload and how to start, and the build succeeds."""
    boto3.client("s3", region_name=REGION).delete_object(Bucket=DATA_BUCKET, Key="ETTh1/ETTh1.csv")
    code, out, err = run_cli(["upsert", "--start"], capsys)
    assert (code, err) == (0, "")
    assert sm.describe_pipeline(PipelineName="ts-forecasting")["PipelineArn"]
    assert sm.list_pipeline_executions(PipelineName="ts-forecasting")[
        "PipelineExecutionSummaries"
    ] == []  # fmt: skip
    (line,) = [line for line in out.splitlines() if "no input data" in line]
    assert "s3://ts-forecasting-data/ETTh1/" in line and "aws s3 cp" in line
    assert "start-pipeline-execution --pipeline-name ts-forecasting" in line


def test_the_training_file_beside_the_package_is_the_default_configuration(
    aws, cli_env, sm, capsys
):
    """A push carries model_build/training.json; the runner reads it without being told."""
    code, _, _ = run_cli(["upsert"], capsys)
    assert code == 0
    built = json.loads(sm.describe_pipeline(PipelineName="ts-forecasting")["PipelineDefinition"])
    trained = json.loads((REPO_MODEL_BUILD / "training.json").read_text())
    train = next(s for s in built["Steps"] if s["Name"] == "Train")["Arguments"]
    assert train["ResourceConfig"]["InstanceType"] == trained["training_instance_type"]
    assert train["HyperParameters"]["model"] == trained["model"]


def test_a_failed_execution_exits_1_naming_the_step(aws, cli_env, capsys, monkeypatch):

    def failing_wait(sm, arn, **_):
        raise PipelineFailed(arn, "Failed", "Train", "AlgorithmError: boom")

    monkeypatch.setattr(codebuild, "wait_for_execution", failing_wait)
    code, out, err = run_cli(["upsert", "--wait", "--poll-seconds", "1"], capsys)
    execution = out.split("started ")[1].split()[0]
    assert code == 1
    assert err == f"pipeline execution {execution} failed at step Train: AlgorithmError: boom\n"


def test_the_runner_needs_neither_torch_nor_lightning(clean_env):
    """CodeBuild installs the package with --no-deps (see buildspec.yml)."""
    script = (
        "import sys\n"
        "from forecasting.pipeline import codebuild, definition, execution, resources, settings\n"
        "from forecasting.pipeline import source\n"
        f"code = {{s: 's3://b/' + d + '/c.tar.gz' for s, (_, d) in "
        f"source.package_sources({str(REPO_MODEL_BUILD)!r}).items()}}\n"
        "job_resources = resources.Resources('p', 'r', 'b', code, 'k', 'eu-west-1', "
        "'g', 's3://d/', image_repository='1.dkr.ecr.eu-west-1.amazonaws.com/r', "
        "approved_model_function_arn='arn:aws:lambda:eu-west-1:1:function:f')\n"
        "definition.render_definition(settings.PipelineSettings(), job_resources)\n"
        "print(sorted({'torch', 'lightning', 'pytorch_forecasting'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
    # and the module entry point answers a missing setting with exit code 2
    done = subprocess.run(
        [sys.executable, "-m", "forecasting.pipeline", "upsert"],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k not in CLI_ENV},
    )  # fmt: skip
    assert done.returncode == 2
    assert "--pipeline-name (env PIPELINE_NAME)" in done.stderr


def test_every_console_script_names_a_callable_that_exists():
    """pyproject.toml's scripts are strings: a renamed module would only fail when run."""
    import importlib
    import tomllib

    scripts = tomllib.loads((REPO_MODEL_BUILD / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["forecasting-pipeline"] == "forecasting.pipeline.codebuild:main"
    for target in scripts.values():
        module, _, attribute = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), target
