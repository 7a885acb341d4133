"""Local mode executes the pipeline definition itself: the JSON the CodeBuild runner upserts.

The first test pins that it is the same JSON (the deployment's resources aside). The mutation
tests change one thing in that JSON, as a faulty edit of ``definition.py`` would, and check that
the local execution fails at the step SageMaker would fail, naming it. They share one real run
(Preprocess, Train on one host, Evaluate) and resume copies of it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil

import pytest

from forecasting.errors import ConfigError
from forecasting.pipeline import codebuild, source
from forecasting.pipeline.project_image import project_images
from local_mode import interpreter
from local_mode.interpreter import StepError, UnsupportedError
from local_mode.layout import Home
from local_mode.runner import SOURCE_DIR, Runner
from local_mode.runs import GateFailedError, RunConfig, StepFailedError

TINY = RunConfig(
    dataset="demo", hosts=1, max_epochs=1,
    preprocess_arguments={"seq_len": "16", "pred_len": "4"},
    hyperparameters={
        "label_len": "8", "d_model": "16", "n_heads": "2", "d_ff": "32", "factor": "3",
        "batch_size": "16", "progress_bar": "false", "limit_train_batches": "2",
        "limit_val_batches": "1",
    },
)  # fmt: skip
CLOUD = {
    "PIPELINE_NAME": "ts-forecasting",
    "PIPELINE_ROLE_ARN": "arn:aws:iam::123456789012:role/pipeline",
    "ARTIFACTS_BUCKET": "ts-forecasting-artifacts-123456789012",
    "KMS_KEY_ID": "arn:aws:kms:eu-west-1:123456789012:key/abcd",
    "AWS_REGION": "eu-west-1",
    "MODEL_PACKAGE_GROUP": "ts-forecasting",
    "DATA_URI": "s3://ts-forecasting-data-123456789012/ETTh1/",
    "IMAGE_REPOSITORY_URI": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ts-forecasting/jobs",
    "MLFLOW_TRACKING_SERVER_ARN": (
        "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/m"
    ),
    "APPROVED_MODEL_FUNCTION_ARN": (
        "arn:aws:lambda:eu-west-1:123456789012:function:ts-forecasting-find-approved-model"
    ),
}


def upserted_definition(monkeypatch, settings) -> dict:
    """What the CodeBuild runner passes to create/update_pipeline for ``settings``."""
    captured = {}

    def upsert(sm, *, definition, **_):
        captured["definition"] = definition
        return "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/ts-forecasting"

    monkeypatch.setattr(codebuild, "make_clients", lambda region: (None, None))
    monkeypatch.setattr(source, "upload_source", lambda *a, **k: "s3://uploaded")
    monkeypatch.setattr(codebuild, "upsert_pipeline", upsert)
    args = codebuild.parse_args(
        ["upsert", "--source-dir", str(SOURCE_DIR),
         "--settings", json.dumps(dataclasses.asdict(settings))]
    )  # fmt: skip
    codebuild.upsert_command(args, CLOUD, echo=lambda _: None)
    return json.loads(captured["definition"])


@pytest.mark.parametrize("config", [TINY, RunConfig(model="tft", hosts=4), RunConfig()])
def test_the_executed_definition_is_what_the_codebuild_runner_upserts(
    monkeypatch, tmp_path, config
):
    runner = Runner(Home(tmp_path), "r", config)
    cloud = json.dumps(upserted_definition(monkeypatch, runner.settings))
    settings = runner.settings
    images = project_images(settings, CLOUD["AWS_REGION"], CLOUD["IMAGE_REPOSITORY_URI"])
    local = runner.resources
    tokens = [
        *((uri, "local") for uri in dict.fromkeys(dataclasses.astuple(images))),
        (CLOUD["PIPELINE_ROLE_ARN"], local.role_arn),
        (CLOUD["KMS_KEY_ID"], local.kms_key_id),
        (CLOUD["DATA_URI"], local.data_uri),
        (CLOUD["MLFLOW_TRACKING_SERVER_ARN"], str(local.mlflow_tracking_uri)),
        (CLOUD["APPROVED_MODEL_FUNCTION_ARN"], local.approved_model_function_arn),
        (CLOUD["ARTIFACTS_BUCKET"], local.artifacts_bucket),
        (CLOUD["AWS_REGION"], local.region),
    ]
    for cloud_value, local_value in tokens:
        assert cloud_value in cloud
        cloud = cloud.replace(cloud_value, local_value)
    # the checkpoint prefix digests the train step's arguments, resources included
    digest = re.compile(r"/[0-9a-f]{16}-epochs-")
    local_json = digest.sub("/digest-epochs-", json.dumps(runner.definition))
    assert json.loads(digest.sub("/digest-epochs-", cloud)) == json.loads(local_json)


# --- the interpreter's rules, without jobs --------------------------------------------------


def test_parameters_take_their_defaults_and_typed_overrides():
    definition = {"Parameters": [
        {"Name": "N", "Type": "Integer", "DefaultValue": 1},
        {"Name": "T", "Type": "Float", "DefaultValue": 0.5},
    ]}  # fmt: skip
    assert interpreter.parameter_values(definition, {"N": "3"}) == {"N": 3, "T": 0.5}
    with pytest.raises(ConfigError, match="no such parameter; it has N, T"):
        interpreter.parameter_values(definition, {"Epochs": "3"})
    with pytest.raises(ConfigError, match="N=x: expected a Integer"):
        interpreter.parameter_values(definition, {"N": "x"})


def test_steps_run_after_what_they_read_and_what_they_depend_on():
    definition = {
        "Version": "2020-12-01",
        "Steps": [
            {"Name": "B", "Type": "Fail",
             "Arguments": {"ErrorMessage": {"Get": "Steps.A.ProcessingJobName"}}},
            {"Name": "C", "Type": "Fail", "DependsOn": ["B"], "Arguments": {}},
            {"Name": "A", "Type": "Processing", "Arguments": {}},
        ],
    }  # fmt: skip
    assert [s.name for s in interpreter.plan(definition)] == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        (lambda d: d["Steps"].append({"Name": "X", "Type": "Callback"}), "type 'Callback'"),
        (lambda d: d["Steps"][0].update(RetryPolicies=[]), "RetryPolicies"),
        (lambda d: d.update(Version="2019-01-01"), "version"),
    ],
)
def test_a_construct_local_mode_does_not_implement_is_refused_by_name(change, refused):
    definition = {"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Processing"}]}
    change(definition)
    with pytest.raises(UnsupportedError, match=refused):
        interpreter.plan(definition)


def test_an_unknown_function_is_refused_not_passed_through():
    evaluate = interpreter.Evaluator({"Version": "2020-12-01", "Steps": []}, {}, "e", {}, None)
    with pytest.raises(UnsupportedError, match="Std:Select"):
        evaluate({"Std:Select": {"Values": [], "Index": 0}}, "S")
    assert evaluate({"Std:Join": {"On": "/", "Values": ["a", {"Get": "Execution."
                    "PipelineExecutionId"}, True]}}, "S") == "a/e/true"  # fmt: skip


def test_register_arguments_are_checked_against_botocores_create_model_package():
    with pytest.raises(StepError, match="step Register: CreateModelPackage would be refused"):
        interpreter.validate_request(
            "CreateModelPackage", {"ModelPackageGroupName": 3, "Bogus": 1}, "Register"
        )


# --- mutations of the real definition, executed -------------------------------------------


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A home with run "r" finished up to Evaluate (the gate, registration still to come)."""
    home = Home(tmp_path_factory.mktemp("home"))
    Runner(home, "r", TINY, say=lambda _: None).execute(stop_after="Evaluate")
    return home


def resumed(evaluated, tmp_path, mutate, rerun=()):
    """Resume a copy of the run with a mutated definition, rerunning ``rerun`` steps."""
    home = Home(tmp_path / "home")
    shutil.copytree(evaluated.root, home.root)
    for step in rerun:
        (home.run_dir("r") / "status" / f"{step}.json").unlink()
    definition = copy.deepcopy(Runner(home, "r", TINY).definition)
    steps = {s.name: s.definition for s in interpreter.plan(definition)}
    mutate(steps)
    # the rerun steps run again, not reused from the step cache
    return Runner(home, "r", TINY, say=lambda _: None, definition=definition, use_cache=False)


def test_the_unmutated_definition_registers(evaluated, tmp_path):
    def lenient(steps):  # a gate any model passes: the run goes on to Register
        steps["CheckMetric"]["Arguments"]["Conditions"][0]["RightValue"] = 1e9

    result = resumed(evaluated, tmp_path, lenient).execute(stop_after="Register")
    assert result.package is not None and result.package.version == 1


def test_a_wrong_json_get_path_fails_the_condition_step(evaluated, tmp_path):
    def wrong_path(steps):
        left = steps["CheckMetric"]["Arguments"]["Conditions"][0]["LeftValue"]
        left["Std:JsonGet"]["Path"] = "regression_metrics.mse.valeu"

    with pytest.raises(StepError, match=r"step CheckMetric: JsonGet path .*valeu.* \(no 'valeu'\)"):
        resumed(evaluated, tmp_path, wrong_path).execute()


def test_a_taken_fail_branch_ends_with_its_evaluated_message(evaluated, tmp_path):
    def strict(steps):
        steps["CheckMetric"]["Arguments"]["Conditions"][0]["RightValue"] = -1.0

    with pytest.raises(GateFailedError, match=r"^test mse [0-9.]+ is above the threshold"):
        resumed(evaluated, tmp_path, strict).execute()


def test_an_output_nobody_writes_fails_the_step_that_reads_it(evaluated, tmp_path):
    def misnamed(steps):
        (test,) = [i for i in steps["Evaluate"]["Arguments"]["ProcessingInputs"]
                   if i["InputName"] == "test"]  # fmt: skip
        test["S3Input"]["S3Uri"]["Get"] = test["S3Input"]["S3Uri"]["Get"].replace("test", "tset")

    with pytest.raises(
        StepError, match=r"step Evaluate: reads .*Outputs\['tset'\].* \(no 'tset'\)"
    ):
        resumed(evaluated, tmp_path, misnamed, rerun=["Evaluate"]).execute()


def test_an_empty_output_prefix_fails_the_step_that_downloads_it(evaluated, tmp_path):
    runner = resumed(evaluated, tmp_path, lambda steps: None, rerun=["Evaluate"])
    prefix = runner.home.local_path(
        f"s3://{runner.home.artifacts_bucket}/{runner.home.project}/r/preprocess/test"
    )
    shutil.rmtree(prefix)
    with pytest.raises(StepError, match="step Evaluate: input test: no S3 objects found under"):
        runner.execute()


def test_a_misspelled_hyperparameter_fails_the_training_step(evaluated, tmp_path, capfd):
    def misspelled(steps):
        steps["Train"]["Arguments"]["HyperParameters"]["d_modle"] = "16"

    with pytest.raises(
        StepFailedError, match=r"^step Train: training job \S+ failed on 127.0.0.1"
    ) as failed:
        resumed(evaluated, tmp_path, misspelled, rerun=["Train"]).execute()
    assert "--d_modle" in "".join(capfd.readouterr())
    assert "127.0.0.1's output/failure ends: ExitCode " in str(failed.value)  # the toolkit's


def test_a_channel_the_program_expects_but_is_not_given_fails_the_training_step(
    evaluated, tmp_path
):
    def no_validation(steps):
        channels = steps["Train"]["Arguments"]["InputDataConfig"]
        channels[:] = [c for c in channels if c["ChannelName"] != "validation"]

    with pytest.raises(StepFailedError, match=r"^step Train: training job \S+ failed on 127.0.0.1"):
        resumed(evaluated, tmp_path, no_validation, rerun=["Train"]).execute()


def test_the_gpu_instances_launcher_torchrun_runs_through_the_toolkit(evaluated, tmp_path):
    """GPU instance types get ``sagemaker_torch_distributed_enabled``: the PyTorch toolkit then
    starts the program under ``torchrun``, found on the host's PATH as in the image."""

    def torchrun(steps):
        steps["Train"]["Arguments"]["HyperParameters"]["sagemaker_torch_distributed_enabled"] = (
            "true"
        )

    runner = resumed(evaluated, tmp_path, torchrun, rerun=["Train"])
    runner.execute(stop_after="Train")
    summary = runner.output("Train", "model").parent / "output/data/training_summary.json"
    assert json.loads(summary.read_text())["launcher"] == "torchrun"
