"""The SageMaker Pipeline definition (schema version 2020-12-01), built without AWS calls.

The same settings and resources always give byte-identical JSON: no clocks, no uploads, no
lookups beyond the SageMaker SDK's offline table of container images. The CodeBuild runner
(:mod:`forecasting.pipeline.codebuild`) calls it on every push with the stack's resources (it is
the pipeline's only writer); local mode executes the JSON it builds. The steps and their folders
come from :mod:`forecasting.pipeline.steps`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from forecasting.errors import ConfigError
from forecasting.families import family
from forecasting.pipeline.caching import with_cache
from forecasting.pipeline.expressions import (
    MODEL_ARTIFACT,
    get,
    join,
    lambda_output,
    output_uri,
    parameter,
)
from forecasting.pipeline.images import Images, uses_gpu
from forecasting.pipeline.processing_job import flag_text, flags, processing_job
from forecasting.pipeline.project_image import project_images
from forecasting.pipeline.resources import Resources, execution_uri, volume_key, vpc_config
from forecasting.pipeline.settings import (
    APPROVAL_STATUS,
    TRANSFORM_INSTANCE_TYPE,
    PipelineSettings,
)
from forecasting.pipeline.step_code import TRAIN_PROGRAM
from forecasting.pipeline.steps import (
    APPROVED_MODEL_OUTPUTS,
    EVALUATION_FILE,
    EVALUATION_PROPERTY_FILE,
    FIND_APPROVED_MODEL,
    ISOLATED_STEPS,
    NO_APPROVED_MODEL_PREFIX,
    step,
)
from forecasting.pipeline.tracking import with_tracking

VERSION = "2020-12-01"
CONTENT_TYPES = ["text/csv", "application/jsonlines"]
# The source reaches the training job as an input channel, not as an S3 URI for the toolkit to
# download: the job runs network-isolated (the toolkit unpacks a local tarball just the same).
CODE_CHANNEL = "code"
CHANNELS_DIR = "/opt/ml/input/data"
# What CloudWatch plots: the train step prints "epoch=N ... train_loss=X ... val_loss=Y" per epoch.
NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": f"train_loss={NUMBER}"},
    {"Name": "validation:loss", "Regex": f"val_loss={NUMBER}"},
]


# --- parameters ---------------------------------------------------------------------------


# Only values that no build-time choice depends on are run-time parameters. The model family
# (gate metric, epochs default, package metadata), the instance types (container image, torchrun,
# volume key) and the approval status (manual approval) are fixed when the definition is built.
def parameters(settings: PipelineSettings, resources: Resources) -> list[dict[str, Any]]:
    return [
        {"Name": "InputDataUri", "Type": "String", "DefaultValue": resources.data_uri},
        {"Name": "MaxEpochs", "Type": "Integer", "DefaultValue": _max_epochs(settings)},
        {"Name": "TrainingInstanceCount", "Type": "Integer",
         "DefaultValue": settings.training_instance_count},
        {"Name": "MetricThreshold", "Type": "Float",
         "DefaultValue": float(settings.metric_threshold)},
    ]  # fmt: skip


def _max_epochs(settings: PipelineSettings) -> int:
    default = family(settings.model).fit_defaults["max_epochs"]
    return int(settings.hyperparameters.get("max_epochs", default))


# --- steps --------------------------------------------------------------------------------


def preprocess_step(
    settings: PipelineSettings, resources: Resources, images: Images
) -> dict[str, Any]:
    outputs = dict(step("Preprocess").outputs)
    arguments = [
        "--model", settings.model,
        "--data", dict(step("Preprocess").inputs)["data"],
        "--output-dir", outputs["train"].rsplit("/", 1)[0],
        *flags(settings.preprocess_arguments),
    ]  # fmt: skip
    return processing_job(
        "Preprocess", resources, images, settings, {"data": parameter("InputDataUri")}, arguments
    )


def train_step(settings: PipelineSettings, resources: Resources, images: Images) -> dict[str, Any]:
    hyperparameters = {
        # script mode: the toolkit unpacks the source from its channel and runs the program with
        # every other hyperparameter as a --flag (the source holds no requirements.txt)
        "sagemaker_program": json.dumps(TRAIN_PROGRAM),
        "sagemaker_submit_directory": json.dumps(
            f"{CHANNELS_DIR}/{CODE_CHANNEL}/{resources.code_uri('Train').rsplit('/', 1)[1]}"
        ),
        "sagemaker_region": json.dumps(resources.region),
        "sagemaker_container_log_level": "20",
        "model": settings.model,
        # hyperparameters are strings: Std:Join turns the Integer parameter into one
        "max_epochs": join(parameter("MaxEpochs")),
        **{
            k: flag_text(v)
            for k, v in sorted(settings.hyperparameters.items())
            if k != "max_epochs"
        },
    }
    if uses_gpu(settings.training_instance_type):
        # torchrun, one process per GPU on every host; on CPU types the entry point reads
        # SM_HOSTS/SM_CURRENT_HOST instead and runs one process per host
        hyperparameters["sagemaker_torch_distributed_enabled"] = "true"
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    if settings.use_spot:
        stopping["MaxWaitTimeInSeconds"] = 2 * settings.max_runtime_seconds
    channels = [
        {
            "ChannelName": split,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": output_uri("Preprocess", split),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
        for split, _ in step("Train").inputs
    ]
    channels.append(
        {
            "ChannelName": CODE_CHANNEL,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": resources.code_uri("Train"),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
    )
    training: dict[str, Any] = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": images.training,
                "TrainingInputMode": "File",
                "MetricDefinitions": METRIC_DEFINITIONS,
                "EnableSageMakerMetricsTimeSeries": True,
            },
            "HyperParameters": hyperparameters,
            "InputDataConfig": channels,
            "OutputDataConfig": {
                "S3OutputPath": execution_uri(resources, "train"),
                "KmsKeyId": resources.kms_key_id,
            },
            "ResourceConfig": {
                "InstanceType": settings.training_instance_type,
                "InstanceCount": parameter("TrainingInstanceCount"),
                "VolumeSizeInGB": settings.volume_size_gb,
                **volume_key(settings.training_instance_type, resources.kms_key_id),
            },
            "RoleArn": resources.role_arn,
            "StoppingCondition": stopping,
            "EnableManagedSpotTraining": settings.use_spot,
            "EnableInterContainerTrafficEncryption": True,
            # Channels, checkpoints and the model are copied by SageMaker; peers of a
            # distributed job still reach each other (CreateTrainingJob's EnableNetworkIsolation).
            "EnableNetworkIsolation": "Train" in ISOLATED_STEPS,
            **vpc_config(resources),
        },
    }
    training["Arguments"]["CheckpointConfig"] = _checkpoint_config(resources, training["Arguments"])
    return training


def _checkpoint_config(resources: Resources, arguments: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints under the train step's inputs: the Preprocess job that wrote its channels, a
    digest of its own arguments and the epochs parameter. A spot restart or a retried execution
    resumes from them; other inputs start afresh. Not under the execution id: SageMaker's cache
    key includes ``CheckpointConfig``, so that id would make the step miss the cache every time.
    """
    digest = hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()[:16]
    uri = join(
        f"s3://{resources.artifacts_bucket}/{resources.pipeline_name}/checkpoints/",
        get("Steps.Preprocess.ProcessingJobName"),
        f"/{digest}-epochs-",
        parameter("MaxEpochs"),
    )
    return {"S3Uri": uri, "LocalPath": "/opt/ml/checkpoints"}


def find_approved_model_step(resources: Resources) -> dict[str, Any]:
    """A Lambda step (the SageMaker Python SDK's ``LambdaStep.to_request`` shape): the group's
    latest Approved version's model, or a marker object when none is approved, for Evaluate.
    Not cached: which version is approved changes without the pipeline knowing."""
    if not resources.approved_model_function_arn:
        raise ConfigError(
            "the FindApprovedModel step needs its Lambda's ARN (--approved-model-function-arn, "
            "env APPROVED_MODEL_FUNCTION_ARN: the stack's FindApprovedModelFunction)"
        )
    marker = f"s3://{resources.artifacts_bucket}/{resources.pipeline_name}/"
    return {
        "Name": FIND_APPROVED_MODEL,
        "Type": "Lambda",
        "FunctionArn": resources.approved_model_function_arn,
        "Arguments": {
            "ModelPackageGroupName": resources.model_package_group,
            "NoApprovedModelUri": f"{marker}{NO_APPROVED_MODEL_PREFIX}/",
        },
        "OutputParameters": [
            {"OutputName": name, "OutputType": "String"} for name in APPROVED_MODEL_OUTPUTS
        ],
    }


def evaluate_step(
    settings: PipelineSettings, resources: Resources, images: Images
) -> dict[str, Any]:
    """Scores the new model and, on the same test windows, the approved one (its model, version
    and ARN from the FindApprovedModel step: resolved, they are part of the cache key)."""
    inputs = dict(step("Evaluate").inputs)
    approved = lambda_output(FIND_APPROVED_MODEL, "ModelDataUrl")
    definition = processing_job(
        "Evaluate",
        resources,
        images,
        settings,
        {"model": MODEL_ARTIFACT, "test": output_uri("Preprocess", "test"),
         "approved-model": approved},
        ["--model-dir", inputs["model"], "--test", inputs["test"],
         "--output-dir", dict(step("Evaluate").outputs)["evaluation"],
         "--approved-model", inputs["approved-model"],
         "--approved-version", lambda_output(FIND_APPROVED_MODEL, "ModelPackageVersion"),
         "--approved-arn", lambda_output(FIND_APPROVED_MODEL, "ModelPackageArn")],
    )  # fmt: skip
    definition["PropertyFiles"] = [
        {
            "PropertyFileName": EVALUATION_PROPERTY_FILE,
            "OutputName": "evaluation",
            "FilePath": EVALUATION_FILE,
        }
    ]
    return definition


def metric_path(settings: PipelineSettings) -> str:
    return f"regression_metrics.{settings.metric_name}.value"


def metric_value(settings: PipelineSettings) -> dict[str, Any]:
    return {
        "Std:JsonGet": {
            "PropertyFile": get(f"Steps.Evaluate.PropertyFiles.{EVALUATION_PROPERTY_FILE}"),
            "Path": metric_path(settings),
        }
    }


def register_step(
    settings: PipelineSettings, resources: Resources, images: Images
) -> dict[str, Any]:
    return {
        "Name": "Register",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": resources.model_package_group,
            "ModelPackageDescription": f"{resources.pipeline_name}: gated on "
            f"{settings.metric_name} <= threshold",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": images.inference,
                        "ModelDataUrl": MODEL_ARTIFACT,
                        # the artifact carries code/inference.py: no repack step
                        "Environment": {
                            "SAGEMAKER_PROGRAM": "inference.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                            "SAGEMAKER_REGION": resources.region,
                        },
                    }
                ],
                "SupportedContentTypes": CONTENT_TYPES,
                "SupportedResponseMIMETypes": CONTENT_TYPES,
                "SupportedTransformInstanceTypes": [TRANSFORM_INSTANCE_TYPE],
            },
            "ModelApprovalStatus": APPROVAL_STATUS,
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": join(output_uri("Evaluate", "evaluation"), "/" + EVALUATION_FILE),
                    }
                }
            },
            "CustomerMetadataProperties": {"model_family": settings.model},
        },
    }


def condition_step(
    settings: PipelineSettings, resources: Resources, images: Images
) -> dict[str, Any]:
    return {
        "Name": "CheckMetric",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "LessThanOrEqualTo",
                    "LeftValue": metric_value(settings),
                    "RightValue": parameter("MetricThreshold"),
                }
            ],
            "IfSteps": [register_step(settings, resources, images)],
            "ElseSteps": [
                {
                    "Name": "MetricAboveThreshold",
                    "Type": "Fail",
                    "Arguments": {
                        "ErrorMessage": join(
                            f"test {settings.metric_name}",
                            metric_value(settings),
                            "is above the threshold",
                            parameter("MetricThreshold"),
                            "- the model was not registered",
                            on=" ",
                        )
                    },
                }
            ],
        },
    }


def build_definition(settings: PipelineSettings, resources: Resources) -> dict[str, Any]:
    images = resources.images or project_images(
        settings, resources.region, resources.image_repository
    )
    return {
        "Version": VERSION,
        "Metadata": {},
        "Parameters": parameters(settings, resources),
        "Steps": with_cache(
            with_tracking(
                [
                    preprocess_step(settings, resources, images),
                    train_step(settings, resources, images),
                    find_approved_model_step(resources),
                    evaluate_step(settings, resources, images),
                    condition_step(settings, resources, images),
                ],
                resources.mlflow_tracking_uri,
                experiment=resources.pipeline_name,
            ),
            settings.cache_expire_after,
        ),
    }


def render_definition(settings: PipelineSettings, resources: Resources) -> str:
    """The definition as JSON; sorted keys make it byte-identical for the same inputs."""
    return json.dumps(build_definition(settings, resources), sort_keys=True, indent=1) + "\n"
