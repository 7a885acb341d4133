"""The pipeline definition, checked offline against botocore's SageMaker service model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from forecasting.errors import ConfigError
from forecasting.pipeline import definition
from forecasting.pipeline.definition import Images, build_definition
from forecasting.pipeline.resources import Resources
from forecasting.pipeline.settings import (
    METRICS,
    TRAINING_FILE,
    TRANSFORM_INSTANCE_TYPE,
    PipelineSettings,
)
from forecasting.pipeline.step_code import ENTRY_POINTS
from forecasting.pipeline.steps import STEPS
from forecasting.steps import evaluate, preprocess, train
from tests.model_build.steps.conftest import (
    TINY_MODEL,
    TINY_TFT,
    preprocess_demo,
    train_paths,
    write_tiny_csv,
)

SNAPSHOT = Path(__file__).parent / "snapshots" / "definition.json"
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
RESOURCES = Resources(
    pipeline_name="ts-forecasting",
    role_arn="arn:aws:iam::123456789012:role/ts-forecasting-sagemaker",
    artifacts_bucket="ts-forecasting-artifacts",
    code_uris={
        step: f"s3://ts-forecasting-artifacts/code/{step.lower()}0123/sourcedir.tar.gz"
        for step in ENTRY_POINTS
    },
    kms_key_id="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    region="eu-west-1",
    model_package_group="ts-forecasting",
    data_uri="s3://ts-forecasting-data/ETTh1/",
    image_repository="123456789012.dkr.ecr.eu-west-1.amazonaws.com/ts-forecasting/jobs",
    approved_model_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:"
    "ts-forecasting-find-approved-model",
)
GPU = PipelineSettings(training_instance_type="ml.g5.xlarge", training_instance_count=2)
EXECUTION_VARIABLES = {"PipelineExecutionId", "PipelineExecutionArn", "PipelineName"}


def flat_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every step in execution order, the condition's branches after the condition."""
    out = []
    for s in steps:
        out.append(s)
        if s["Type"] == "Condition":
            out += flat_steps(s["Arguments"]["IfSteps"] + s["Arguments"]["ElseSteps"])
    return out


def expressions(node: Any, kind: str) -> list[Any]:
    if isinstance(node, dict):
        found = [node[kind]] if kind in node and len(node) == 1 else []
        return found + [e for value in node.values() for e in expressions(value, kind)]
    if isinstance(node, list):
        return [e for item in node for e in expressions(item, kind)]
    return []


def substitute(node: Any, defaults: dict[str, Any]) -> Any:
    """Pipeline expressions -> values of the type SageMaker resolves them to."""
    if isinstance(node, dict):
        if set(node) == {"Get"}:
            name = node["Get"]
            if name.startswith("Parameters."):
                return defaults[name.removeprefix("Parameters.")]
            return "s3://resolved-at-run-time/object"
        if set(node) == {"Std:Join"}:
            return "s3://resolved-at-run-time/joined"
        if set(node) == {"Std:JsonGet"}:
            return "value-from-a-property-file"
        return {key: substitute(value, defaults) for key, value in node.items()}
    if isinstance(node, list):
        return [substitute(item, defaults) for item in node]
    return node


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return build_definition(GPU, RESOURCES)


# --- shape -----------------------------------------------------------------------------------


def test_steps_follow_the_shared_step_list(built):
    names = [s["Name"] for s in flat_steps(built["Steps"])]
    assert names == [s.name for s in STEPS]
    kinds = [s["Type"] for s in flat_steps(built["Steps"])]
    assert kinds == [s.kind for s in STEPS]


OPERATIONS = {
    "Processing": ("CreateProcessingJob", {"ProcessingJobName": "placeholder"}),
    "Training": ("CreateTrainingJob", {"TrainingJobName": "placeholder"}),
    "RegisterModel": ("CreateModelPackage", {}),
}


TRACKED = replace(
    RESOURCES,
    mlflow_tracking_uri="arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlflow",
)


@pytest.mark.parametrize(
    ("settings", "resources"),
    [(GPU, RESOURCES), (PipelineSettings(use_spot=True), RESOURCES), (GPU, TRACKED)],
    ids=["gpu", "spot", "mlflow"],
)
def test_every_job_step_matches_botocores_request_shape(settings, resources):
    built = build_definition(settings, resources)
    defaults = {p["Name"]: p["DefaultValue"] for p in built["Parameters"]}
    checked = 0
    for s in flat_steps(built["Steps"]):
        if s["Type"] in OPERATIONS:
            operation, name = OPERATIONS[s["Type"]]
            shape = SAGEMAKER.operation_model(operation).input_shape
            validate_parameters({**substitute(s["Arguments"], defaults), **name}, shape)
            checked += 1
    assert checked == 4


def test_the_validation_would_catch_a_mistyped_field(built):
    """The check above is not vacuous: a string instance count is refused."""
    defaults = {p["Name"]: p["DefaultValue"] for p in built["Parameters"]}
    defaults["TrainingInstanceCount"] = "2"
    train_args = substitute(flat_steps(built["Steps"])[1]["Arguments"], defaults)
    shape = SAGEMAKER.operation_model("CreateTrainingJob").input_shape
    with pytest.raises(ParamValidationError, match="InstanceCount"):
        validate_parameters({**train_args, "TrainingJobName": "x"}, shape)


def test_every_parameter_reference_is_declared(built):
    declared = {p["Name"] for p in built["Parameters"]}
    used = {
        g.removeprefix("Parameters.")
        for g in expressions(built, "Get")
        if g.startswith("Parameters.")
    }
    assert used <= declared
    assert declared <= used, f"declared but unused: {declared - used}"


def test_every_step_reference_names_an_earlier_step_and_a_property_it_has(built):
    steps = flat_steps(built["Steps"])
    seen: dict[str, dict[str, Any]] = {}
    for s in steps:
        own = {k: v for k, v in s.items() if k not in ("Name",)}
        if s["Type"] == "Condition":
            own = {"Conditions": s["Arguments"]["Conditions"]}
        for reference in expressions(own, "Get"):
            scope, _, rest = reference.partition(".")
            if scope == "Execution":
                assert rest in EXECUTION_VARIABLES
            elif scope == "Steps":
                name, _, prop = rest.partition(".")
                assert name in seen, f"{s['Name']} refers to {name}, which does not run before it"
                earlier = seen[name]
                if earlier["Type"] == "Training":
                    assert prop == "ModelArtifacts.S3ModelArtifacts"
                elif earlier["Type"] == "Lambda":  # LambdaOutput.expr in the SageMaker SDK
                    match = re.fullmatch(r"OutputParameters\['(\w+)'\]", prop)
                    names = {o["OutputName"] for o in earlier["OutputParameters"]}
                    assert match and match[1] in names, prop
                elif prop.startswith("PropertyFiles."):
                    files = {f["PropertyFileName"] for f in earlier.get("PropertyFiles", [])}
                    assert prop.removeprefix("PropertyFiles.") in files
                elif "." not in prop:  # a top-level field of the job's Describe response
                    described = SAGEMAKER.operation_model("DescribeProcessingJob").output_shape
                    assert described.members[prop].type_name == "string", prop
                else:
                    match = re.fullmatch(
                        r"ProcessingOutputConfig\.Outputs\['(\w+)'\]\.S3Output\.S3Uri", prop
                    )
                    outputs = earlier["Arguments"]["ProcessingOutputConfig"]["Outputs"]
                    assert match and match[1] in {o["OutputName"] for o in outputs}, prop
            else:
                assert scope == "Parameters", reference
        seen[s["Name"]] = s


def test_gpu_training_uses_torchrun_and_cpu_training_uses_sm_hosts():
    gpu = flat_steps(build_definition(GPU, RESOURCES)["Steps"])[1]["Arguments"]
    cpu = flat_steps(build_definition(PipelineSettings(), RESOURCES)["Steps"])[1]["Arguments"]
    assert gpu["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"
    assert "-gpu-" in gpu["AlgorithmSpecification"]["TrainingImage"]
    assert "sagemaker_torch_distributed_enabled" not in cpu["HyperParameters"]
    assert "-cpu-" in cpu["AlgorithmSpecification"]["TrainingImage"]
    for args in (gpu, cpu):
        assert args["EnableInterContainerTrafficEncryption"] is True
        assert args["ResourceConfig"]["InstanceCount"] == {
            "Get": "Parameters.TrainingInstanceCount"
        }
        assert args["OutputDataConfig"]["KmsKeyId"] == RESOURCES.kms_key_id
        checkpoint = args["CheckpointConfig"]["S3Uri"]["Std:Join"]["Values"]
        assert {"Get": "Steps.Preprocess.ProcessingJobName"} in checkpoint


def test_spot_sets_a_wait_time_only_when_on():
    spot = flat_steps(build_definition(PipelineSettings(use_spot=True), RESOURCES)["Steps"])[1]
    plain = flat_steps(build_definition(PipelineSettings(), RESOURCES)["Steps"])[1]
    assert spot["Arguments"]["EnableManagedSpotTraining"] is True
    stopping = spot["Arguments"]["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"]
    assert plain["Arguments"]["EnableManagedSpotTraining"] is False
    assert "MaxWaitTimeInSeconds" not in plain["Arguments"]["StoppingCondition"]


def test_the_registered_model_serves_from_the_artifacts_own_code(built):
    register = next(s for s in flat_steps(built["Steps"]) if s["Name"] == "Register")["Arguments"]
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Image"].startswith(f"{RESOURCES.image_repository}:inference-")
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    statistics = register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]["Std:Join"]
    assert statistics["Values"][-1] == "/evaluation.json"


# --- AWS's rules that the request shapes cannot show ---------------------------------------

LOOKED_UP = Images("training-image", "processing-image", "inference-image")


def _instance_types(shape: str) -> list[str]:
    return list(SAGEMAKER.shape_for(shape).enum)


def _supports_kms(instance_type: str) -> bool:
    from sagemaker.core.common_utils import instance_supports_kms

    return instance_supports_kms(instance_type)


@pytest.mark.parametrize(
    ("field", "shape", "step_name", "config"),
    [
        ("training_instance_type", "TrainingInstanceType", "Train", ("ResourceConfig",)),
        ("processing_instance_type", "ProcessingInstanceType", "Preprocess",
         ("ProcessingResources", "ClusterConfig")),
        ("processing_instance_type", "ProcessingInstanceType", "Evaluate",
         ("ProcessingResources", "ClusterConfig")),
    ],
)  # fmt: skip
def test_a_volume_key_is_set_exactly_where_the_instance_type_accepts_one(
    monkeypatch, field, shape, step_name, config
):
    """botocore documents for ResourceConfig and ProcessingClusterConfig.VolumeKmsKeyId: "You
    can't request a VolumeKmsKeyId when using an instance type with local storage";
    sagemaker-core's instance_supports_kms encodes which types those are. Checked over every
    instance type the setting allows (botocore's enum); elsewhere the volume is encrypted."""
    monkeypatch.setattr(definition, "uses_gpu", lambda instance_type: False)
    resources = replace(RESOURCES, images=LOOKED_UP)
    checked = 0
    for instance_type in _instance_types(shape):
        settings = PipelineSettings(**{field: instance_type})
        steps = {s["Name"]: s for s in flat_steps(build_definition(settings, resources)["Steps"])}
        cluster = steps[step_name]["Arguments"]
        for key in config:
            cluster = cluster[key]
        assert cluster["InstanceType"] == instance_type
        if _supports_kms(instance_type):
            assert cluster.get("VolumeKmsKeyId") == RESOURCES.kms_key_id, instance_type
        else:
            assert "VolumeKmsKeyId" not in cluster, instance_type
        checked += 1
    assert checked > 50


def test_the_documented_local_storage_families_get_no_volume_key():
    """The families botocore's documentation and the issue name, independent of the SDK."""
    for instance_type in ("ml.g4dn.xlarge", "ml.g5.xlarge", "ml.g6.xlarge", "ml.p4d.24xlarge",
                          "ml.p5.48xlarge", "ml.m5d.large", "ml.c5d.xlarge"):  # fmt: skip
        assert not _supports_kms(instance_type), instance_type
    for instance_type in ("ml.m5.xlarge", "ml.c5.2xlarge", "ml.p3.2xlarge"):
        assert _supports_kms(instance_type), instance_type


# What an execution may override, and why it is safe: nothing chosen at build time depends on it.
RUN_TIME_PARAMETERS = {
    "InputDataUri": "where Preprocess reads; every step after it reads Preprocess's outputs",
    "MaxEpochs": "a training flag; the family (and so its default) is fixed at build time",
    "TrainingInstanceCount": "more hosts of the same type: same image, launcher and volume key",
    "MetricThreshold": "the gate's bound; the metric it compares is fixed at build time",
}


@pytest.mark.parametrize("settings", [GPU, PipelineSettings(), PipelineSettings(model="tft")])
def test_no_run_time_parameter_can_contradict_a_build_time_choice(settings):
    """The instance types (image, torchrun, volume key), the model family (gate metric, epochs
    default, package metadata) and the approval status (manual approval) are literals."""
    built = build_definition(settings, RESOURCES)
    assert {p["Name"] for p in built["Parameters"]} == set(RUN_TIME_PARAMETERS)
    steps = {s["Name"]: s["Arguments"] for s in flat_steps(built["Steps"])}
    train = steps["Train"]
    assert train["ResourceConfig"]["InstanceType"] == settings.training_instance_type
    assert train["HyperParameters"]["model"] == settings.model
    for name in ("Preprocess", "Evaluate"):
        cluster = steps[name]["ProcessingResources"]["ClusterConfig"]
        assert cluster["InstanceType"] == settings.processing_instance_type
    arguments = steps["Preprocess"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--model") + 1] == settings.model
    register = steps["Register"]
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["CustomerMetadataProperties"]["model_family"] == settings.model


# --- the training configuration file --------------------------------------------------------


def test_the_shipped_training_file_parses_and_names_every_training_setting():
    path = Path(definition.__file__).resolve().parents[2] / TRAINING_FILE
    settings = PipelineSettings.from_file(path)
    written = json.loads(path.read_text())
    assert set(written) == set(PipelineSettings().to_dict())
    assert settings.training_instance_type == "ml.g5.xlarge"


def test_the_transform_instance_type_is_one_botocore_accepts_and_the_package_names():
    """It is the stack's choice, not a setting (see NOT_IN_TRAINING_FILE): one constant, checked
    against botocore's TransformInstanceType enum, named by the registered package."""
    assert TRANSFORM_INSTANCE_TYPE in _instance_types("TransformInstanceType")
    register = {
        s["Name"]: s for s in flat_steps(build_definition(PipelineSettings(), RESOURCES)["Steps"])
    }["Register"]
    specification = register["Arguments"]["InferenceSpecification"]
    assert specification["SupportedTransformInstanceTypes"] == [TRANSFORM_INSTANCE_TYPE]


@pytest.mark.parametrize("source", ["file", "inline"])
def test_the_transform_instance_type_is_refused_from_file_and_inline_json_alike(tmp_path, source):
    """One parser for training.json, --settings FILE and --settings '{...}': none may set it."""
    text = '{"transform_instance_type": "ml.c5.xlarge"}'
    path = tmp_path / TRAINING_FILE
    path.write_text(text)
    with pytest.raises(ConfigError, match="transform_instance_type cannot be set"):
        if source == "file":
            PipelineSettings.from_file(path)
        else:
            PipelineSettings.from_json(text, "--settings (inline JSON)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model": "informer",\n "metric_threshold": }', "line 2 column"),
        ('{"transform_instance_type": "ml.c5.xlarge"}', "transform_instance_type cannot be set"),
        ('{"training_instance_count": 0}', "training_instance_count must be an integer >= 1"),
        ("[]", "expected a JSON object"),
    ],
)
def test_a_bad_training_file_is_refused_naming_the_file(tmp_path, text, message):
    path = tmp_path / TRAINING_FILE
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        PipelineSettings.from_file(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


# --- determinism -----------------------------------------------------------------------------


def test_same_inputs_give_byte_identical_json_across_processes():
    script = (
        "from tests.model_build.pipeline.test_definition import GPU, RESOURCES;"
        "from forecasting.pipeline.definition import render_definition;"
        "import sys; sys.stdout.write(render_definition(GPU, RESOURCES))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {definition.render_definition(GPU, RESOURCES)}


def test_the_definition_matches_its_snapshot():
    """Any change to the definition shows up here; refresh with UPDATE_SNAPSHOTS=1 if meant."""
    rendered = definition.render_definition(GPU, RESOURCES)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(rendered)
    assert rendered == SNAPSHOT.read_text()


def test_tokens_pass_through_unchanged():
    """CDK passes CloudFormation tokens; the builder must not parse or alter them."""
    images = Images("${Token[T1]}", "${Token[T2]}", "${Token[T3]}")
    tokens = replace(
        RESOURCES,
        role_arn="${Token[TOKEN.123]}",
        artifacts_bucket="${Token[TOKEN.456]}",
        images=images,
    )
    text = definition.render_definition(PipelineSettings(), tokens)
    assert "${Token[TOKEN.123]}" in text and "s3://${Token[TOKEN.456]}/" in text
    assert "${Token[T3]}" in text


# --- the gate reads what evaluate really writes ----------------------------------------------


def resolve(document: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        document = document[part]
    return document


@pytest.fixture(scope="module")
def evaluation_files(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """evaluation.json from the real steps, for a tiny model of each family."""
    reports = {}
    run = tmp_path_factory.mktemp("informer")
    csv = write_tiny_csv(run / "tiny.csv")
    windows = ["--seq-len", "16", "--pred-len", "4"]
    preprocess.main(["--data", str(csv), *windows, "--output-dir", str(run / "channels")])
    train.main([*TINY_MODEL, *train_paths(run, run / "channels"), "--max-epochs", "1"])
    reports["informer"] = evaluate.main(["--model-dir", str(run / "model"), "--test",
                                         str(run / "channels" / "test"), "--output-dir",
                                         str(run / "evaluation")])  # fmt: skip
    run = tmp_path_factory.mktemp("tft")
    channels = preprocess_demo(run / "channels")
    train.main([*TINY_TFT, *train_paths(run, channels), "--max-epochs", "1"])
    evaluate.main(["--model-dir", str(run / "model"), "--test", str(channels / "test"),
                   "--output-dir", str(run / "evaluation")])  # fmt: skip
    reports["tft"] = json.loads((run / "evaluation" / "evaluation.json").read_text())
    return reports


@pytest.mark.parametrize("family", ["informer", "tft"])
def test_every_gate_metric_resolves_in_the_real_evaluation_json(evaluation_files, family):
    for metric in METRICS[family]:
        settings = PipelineSettings(model=family, metric_name=metric)
        value = resolve(evaluation_files[family], definition.metric_path(settings))
        assert isinstance(value, float), (family, metric)
    written = set(evaluation_files[family]["regression_metrics"])
    assert set(METRICS[family]) == written


def test_the_loss_regexes_match_the_train_steps_epoch_lines(tmp_path, capfd):
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    windows = ["--seq-len", "16", "--pred-len", "4"]
    preprocess.main(["--data", str(csv), *windows, "--output-dir", str(tmp_path / "ch")])
    capfd.readouterr()
    train.main([*TINY_MODEL, *train_paths(tmp_path, tmp_path / "ch"), "--max-epochs", "2"])
    printed = capfd.readouterr().out
    for metric in definition.METRIC_DEFINITIONS:
        values = re.findall(metric["Regex"], printed)
        assert len(values) == 2 and all(float(v) >= 0 for v in values), metric["Name"]


# --- bad settings fail at build time ----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"training_instance_type": "ml.q9.xlarge"},
            "'ml.q9.xlarge' is not a SageMaker TrainingInstanceType",
        ),
        ({"training_instance_count": 0}, "training_instance_count must be an integer >= 1, got 0"),
        ({"metric_threshold": "low"}, "metric_threshold must be a number, got 'low'"),
        ({"metric_name": "accuracy"}, "metric_name 'accuracy' is not written by the evaluate step"),
        ({"model": "prophet"}, "model 'prophet' is not one of"),
        ({"approval_status": "Approved"}, "unknown keys ['approval_status']"),
        ({"trainingInstanceType": "ml.g5.xlarge"}, "unknown keys ['trainingInstanceType']"),
        (
            {"hyperparameters": {"pred_len": 96}},
            "hyperparameters pred_len 96 contradicts the 24 preprocess records for training; "
            "set pred_len once, in preprocess_arguments",
        ),
        (
            {"hyperparameters": {"seq_len": "96"}, "preprocess_arguments": {"seq_len": 48}},
            "hyperparameters seq_len '96' contradicts the 48 preprocess records",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_value_named(change, message):
    with pytest.raises(ConfigError) as error:
        PipelineSettings.from_dict({**PipelineSettings().to_dict(), **change})
    assert message in str(error.value)


def test_window_lengths_that_agree_with_preprocess_are_accepted():
    PipelineSettings(hyperparameters={"seq_len": "48"}, preprocess_arguments={"seq_len": 48})
    PipelineSettings(model="tft", hyperparameters={"pred_len": 6})


def test_the_tracked_steps_reach_the_tracking_server_and_the_others_stay_isolated():
    """An isolated container has no network (CreateTrainingJob's EnableNetworkIsolation,
    CreateProcessingJob's NetworkConfig), so it could not call MLflow: with a tracking server
    Train and Evaluate run unisolated, Preprocess stays isolated; without one all three are."""

    def isolation(resources: Resources) -> dict[str, bool]:
        steps = {
            s["Name"]: s["Arguments"] for s in flat_steps(build_definition(GPU, resources)["Steps"])
        }
        return {
            "Preprocess": steps["Preprocess"]["NetworkConfig"]["EnableNetworkIsolation"],
            "Train": steps["Train"]["EnableNetworkIsolation"],
            "Evaluate": steps["Evaluate"]["NetworkConfig"]["EnableNetworkIsolation"],
        }

    assert isolation(RESOURCES) == {"Preprocess": True, "Train": True, "Evaluate": True}
    assert isolation(TRACKED) == {"Preprocess": True, "Train": False, "Evaluate": False}
