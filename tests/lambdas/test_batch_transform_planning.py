"""The batch-transform Lambda's pure decision: names, skips, event checks and request shapes."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from forecasting.inference import handler as inference_handler
from lambdas.batch_transform.planning import (
    TRANSFORM_SETTINGS,
    ConfigError,
    InvalidEventError,
    Settings,
    Skip,
    TransformPlan,
    plan_transform,
    resource_name,
)
from tests.lambdas.batch_transform_events import (
    ENVIRON,
    EVENT,
    GROUP,
    IMAGE,
    MODEL_DATA_URL,
    event_with,
)

SETTINGS = Settings.from_env(ENVIRON)
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's model/job name pattern
INPUT_DIGEST = "fa1e0e24"  # sha256("s3://demand-forecasting-data/transform-input/stallion/")[:8]


def plan(event=EVENT, settings=SETTINGS) -> TransformPlan:
    result = plan_transform(event, settings)
    assert isinstance(result, TransformPlan), result
    return result


def test_approved_event_plans_the_documented_requests():
    result = plan()
    job = f"{GROUP}-v3-{INPUT_DIGEST}"
    tags = [{"Key": "project", "Value": GROUP}]
    assert (result.model_name, result.job_name) == (f"{GROUP}-v3", job)
    assert result.create_model == {
        "ModelName": f"{GROUP}-v3",
        "ExecutionRoleArn": ENVIRON["SAGEMAKER_ROLE_ARN"],
        "PrimaryContainer": {
            "Image": IMAGE,
            "ModelDataUrl": MODEL_DATA_URL,
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                "SAGEMAKER_REGION": "us-east-1",
                "FORECAST_MODEL_NAME": GROUP,
                "FORECAST_MODEL_VERSION": "3",
            },
        },
        "EnableNetworkIsolation": True,
        "Tags": tags,
    }
    assert result.create_transform_job == {
        "TransformJobName": job,
        "ModelName": f"{GROUP}-v3",
        "BatchStrategy": "SingleRecord",
        "MaxPayloadInMB": 100,
        "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": 3600, "InvocationsMaxRetries": 0},
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": ENVIRON["INPUT_URI"]}
            },
            "ContentType": "text/csv",
            "SplitType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://demand-forecasting-forecasts/transform/{job}/",
            "Accept": "text/csv",
            "AssembleWith": "None",
            "KmsKeyId": ENVIRON["KMS_KEY_ID"],
        },
        "TransformResources": {
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 1,
            "VolumeKmsKeyId": ENVIRON["KMS_KEY_ID"],
        },
        "Tags": tags,
    }
    assert result.output_path == f"s3://demand-forecasting-forecasts/transform/{job}/"


def test_the_same_event_gives_the_same_plan():
    assert plan(copy.deepcopy(EVENT)) == plan(EVENT)
    repeat = {**copy.deepcopy(EVENT), "id": "another-delivery", "time": "2024-06-03T05:00:00Z"}
    assert plan(repeat) == plan(EVENT)


def test_a_new_input_is_a_new_job_for_the_same_model():
    other = Settings.from_env({**ENVIRON, "INPUT_URI": "s3://demand-forecasting-data/2025-01/"})
    assert plan(settings=other).model_name == plan().model_name
    assert plan(settings=other).job_name != plan().job_name
    assert plan(event_with(ModelPackageVersion=4)).job_name == f"{GROUP}-v4-{INPUT_DIGEST}"


@pytest.mark.parametrize("version", [1, 42, 123456789])
def test_long_group_names_are_shortened_keeping_version_and_digest(version):
    group = "a" * 40 + "-" + "b" * 22  # 63 characters, SageMaker's longest group name
    settings = Settings.from_env({**ENVIRON, "MODEL_PACKAGE_GROUP": group})
    result = plan(event_with(ModelPackageGroupName=group, ModelPackageVersion=version), settings)
    for name in (result.model_name, result.job_name):
        assert len(name) <= 63
        assert NAME.match(name), name
    assert result.model_name.endswith(f"-v{version}")
    assert result.job_name.endswith(f"-v{version}-{INPUT_DIGEST}")
    assert result.create_model["PrimaryContainer"]["Environment"]["FORECAST_MODEL_NAME"] == group


def test_shortening_leaves_no_hyphen_before_the_suffix():
    assert resource_name("a" * 59 + "-bcd", "-v1") == "a" * 59 + "-v1"


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_only_approved_packages_run(status):
    result = plan_transform(event_with(ModelApprovalStatus=status), SETTINGS)
    assert isinstance(result, Skip)
    assert status in result.reason


def test_other_groups_are_skipped_whatever_they_carry():
    event = event_with(ModelPackageGroupName="someone-elses-models")
    del event["detail"]["InferenceSpecification"]
    result = plan_transform(event, SETTINGS)
    assert isinstance(result, Skip)
    assert "someone-elses-models" in result.reason


def drop(path: str) -> dict:
    event = copy.deepcopy(EVENT)
    *parents, last = path.split(".")
    node = event
    for name in parents:
        node = node[name]
    del node[last]
    return event


def container(**fields) -> dict:
    spec = copy.deepcopy(EVENT["detail"]["InferenceSpecification"])
    spec["Containers"][0].update(fields)
    return event_with(InferenceSpecification=spec)


CONTAINER = "detail.InferenceSpecification.Containers[0]"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event is a list; expected an EventBridge event object"),
        ({**EVENT, "detail-type": "Other"}, "'detail-type' is 'Other'; expected 'SageMaker Model"),
        ({**EVENT, "source": "custom.app"}, "'source' is 'custom.app'; expected 'aws.sagemaker'"),
        (drop("detail"), "'detail' is missing or not an object"),
        (drop("detail.ModelPackageGroupName"), "'detail.ModelPackageGroupName' is missing"),
        (drop("detail.ModelPackageArn"), "'detail.ModelPackageArn' is missing"),
        (drop("detail.ModelPackageVersion"), "'detail.ModelPackageVersion' is missing"),
        (event_with(ModelPackageVersion=0), "'detail.ModelPackageVersion' is 0; expected an int"),
        (event_with(ModelPackageVersion="3"), "'detail.ModelPackageVersion' is '3'; expected"),
        (event_with(ModelPackageVersion=True), "'detail.ModelPackageVersion' is True; expected"),
        (drop("detail.ModelApprovalStatus"), "'detail.ModelApprovalStatus' is missing"),
        (event_with(ModelApprovalStatus="OK"), "'detail.ModelApprovalStatus' is 'OK'; expected"),
        (drop("detail.InferenceSpecification"), "'detail.InferenceSpecification' is missing"),
        (
            drop("detail.InferenceSpecification.Containers"),
            "'detail.InferenceSpecification.Containers' is missing; expected a non-empty list",
        ),
        (
            event_with(InferenceSpecification={"Containers": []}),
            "'detail.InferenceSpecification.Containers' is []; expected a non-empty list",
        ),
        (
            event_with(InferenceSpecification={"Containers": ["image"]}),
            f"'{CONTAINER}' is not an object",
        ),
        (container(Image=None), f"'{CONTAINER}.Image' is missing"),
        (container(Image=" "), f"'{CONTAINER}.Image' is ' '; expected a non-empty string"),
        (container(ModelDataUrl=None), f"'{CONTAINER}.ModelDataUrl' is missing"),
        (
            container(ModelDataUrl="s3://bucket-only"),
            f"'{CONTAINER}.ModelDataUrl' is 's3://bucket-only'; expected s3://bucket/key",
        ),
    ],
)
def test_malformed_events_name_the_field(event, message):
    with pytest.raises(InvalidEventError) as caught:
        plan_transform(event, SETTINGS)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("operation", "request_of"),
    [
        ("CreateModel", lambda p: p.create_model),
        ("CreateTransformJob", lambda p: p.create_transform_job),
    ],
)
def test_requests_match_botocores_sagemaker_model(operation, request_of):
    shape = SAGEMAKER.operation_model(operation).input_shape
    request = request_of(plan())
    validate_parameters(request, shape)  # unknown keys, wrong types, missing members all raise
    with pytest.raises(ParamValidationError):  # the check bites
        validate_parameters({**request, "Unknown": 1}, shape)


def test_a_volume_key_is_set_exactly_where_the_instance_type_accepts_one():
    """botocore documents for TransformResources.VolumeKmsKeyId: "You can't request a
    VolumeKmsKeyId when using an instance type with local storage"; sagemaker-core's
    instance_supports_kms encodes which types those are. Over every TransformInstanceType."""
    from sagemaker.core.common_utils import instance_supports_kms

    types = SAGEMAKER.shape_for("TransformInstanceType").enum
    for instance_type in types:
        settings = Settings.from_env({**ENVIRON, "TRANSFORM_INSTANCE_TYPE": instance_type})
        resources = plan(settings=settings).create_transform_job["TransformResources"]
        assert resources["InstanceType"] == instance_type
        if instance_supports_kms(instance_type):
            assert resources["VolumeKmsKeyId"] == ENVIRON["KMS_KEY_ID"], instance_type
        else:
            assert "VolumeKmsKeyId" not in resources, instance_type
    assert any(not instance_supports_kms(t) for t in types)  # g4dn, g5, ... are in the enum
    # the output stays encrypted with the key on every type
    assert plan().create_transform_job["TransformOutput"]["KmsKeyId"] == ENVIRON["KMS_KEY_ID"]


def test_transform_settings_are_the_inference_handlers():
    assert TRANSFORM_SETTINGS == inference_handler.TRANSFORM_SETTINGS
    job = plan().create_transform_job
    sent = {
        "ContentType": job["TransformInput"]["ContentType"],
        "SplitType": job["TransformInput"]["SplitType"],
        "BatchStrategy": job["BatchStrategy"],
        "MaxPayloadInMB": job["MaxPayloadInMB"],
        "AssembleWith": job["TransformOutput"]["AssembleWith"],
        "Accept": job["TransformOutput"]["Accept"],
        "Environment": job["Environment"],
    }
    assert sent == inference_handler.TRANSFORM_SETTINGS
    assert sent["Environment"] == {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}


def test_model_environment_names_are_the_inference_handlers():
    environment = plan().create_model["PrimaryContainer"]["Environment"]
    assert environment[inference_handler.MODEL_NAME_ENV] == GROUP
    assert environment[inference_handler.MODEL_VERSION_ENV] == "3"


def test_settings_defaults_and_overrides():
    assert (SETTINGS.instance_type, SETTINGS.project_tag) == ("ml.m5.xlarge", GROUP)
    custom = Settings.from_env(
        {**ENVIRON, "TRANSFORM_INSTANCE_TYPE": "ml.c5.2xlarge", "PROJECT": "demand"}
    )
    result = plan(settings=custom)
    assert result.create_transform_job["TransformResources"]["InstanceType"] == "ml.c5.2xlarge"
    assert result.create_model["Tags"] == [{"Key": "project", "Value": "demand"}]
    assert result.create_transform_job["Tags"] == [{"Key": "project", "Value": "demand"}]


def without(name: str) -> dict:
    return {key: value for key, value in ENVIRON.items() if key != name}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (without("MODEL_PACKAGE_GROUP"), "MODEL_PACKAGE_GROUP is not set"),
        (without("SAGEMAKER_ROLE_ARN"), "SAGEMAKER_ROLE_ARN is not set"),
        (without("INPUT_URI"), "INPUT_URI is not set"),
        (without("FORECASTS_BUCKET"), "FORECASTS_BUCKET is not set"),
        (without("KMS_KEY_ID"), "KMS_KEY_ID is not set"),
        (without("AWS_REGION"), "AWS_REGION is not set"),
        ({**ENVIRON, "MODEL_PACKAGE_GROUP": "my_group"}, "MODEL_PACKAGE_GROUP is 'my_group'"),
        ({**ENVIRON, "SAGEMAKER_ROLE_ARN": "sagemaker-role"}, "expected an IAM role ARN"),
        ({**ENVIRON, "INPUT_URI": "/data/input"}, "INPUT_URI is '/data/input'; expected s3://"),
        ({**ENVIRON, "FORECASTS_BUCKET": "s3://b"}, "expected a bucket name, not a URI"),
    ],
)
def test_bad_settings_are_named(environ, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(environ)


def test_region_falls_back_to_the_default_region():
    settings = Settings.from_env({**without("AWS_REGION"), "AWS_DEFAULT_REGION": "eu-west-1"})
    assert settings.region == "eu-west-1"


def test_planning_needs_no_aws_sdk():
    code = (
        "import sys, lambdas.batch_transform.planning; "
        "assert not {'boto3', 'botocore'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
