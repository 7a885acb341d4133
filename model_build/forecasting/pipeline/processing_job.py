"""The processing job that runs one step's module from its code tarball (Preprocess, Evaluate)."""

from __future__ import annotations

from typing import Any

from forecasting.pipeline.images import Images
from forecasting.pipeline.resources import Resources, execution_uri, volume_key, vpc_config
from forecasting.pipeline.settings import PipelineSettings
from forecasting.pipeline.steps import ISOLATED_STEPS, PROCESSING, step

CODE_DIR = f"{PROCESSING}/input/code"
# Processing jobs get their step's code tarball as an input: unpack it, then run the step's
# module with the step's arguments ($0 is the module). The project image holds every
# requirement: no job installs packages when it starts.
PROCESSING_SCRIPT = (
    # the code input is the step's uploaded tarball (sourcedir.tar.gz), under its S3 name
    f'set -euo pipefail; cd {CODE_DIR}; for a in *.gz; do tar -xzf "$a"; done; '
    'exec python -m "$0" "$@"'
)


def flags(arguments: dict[str, Any]) -> list[str]:
    result: list[str] = []
    for name, value in sorted(arguments.items()):
        result += [f"--{name.replace('_', '-')}", flag_text(value)]
    return result


def flag_text(value: Any) -> str:
    """A flag value as the step's parser reads it (booleans are true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def processing_job(
    name: str,
    resources: Resources,
    images: Images,
    settings: PipelineSettings,
    inputs: dict[str, Any],
    arguments: list[Any],
) -> dict[str, Any]:
    spec = step(name)
    paths = dict(spec.inputs)
    s3_inputs = [("code", resources.code_uri(name), CODE_DIR)] + [
        (input_name, uri, paths[input_name]) for input_name, uri in inputs.items()
    ]
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceType": settings.processing_instance_type,
                    "InstanceCount": 1,
                    "VolumeSizeInGB": settings.volume_size_gb,
                    **volume_key(settings.processing_instance_type, resources.kms_key_id),
                }
            },
            "AppSpecification": {
                "ImageUri": images.processing,
                "ContainerEntrypoint": ["/bin/bash", "-c", PROCESSING_SCRIPT],
                "ContainerArguments": [spec.module, *arguments],
            },
            "RoleArn": resources.role_arn,
            "ProcessingInputs": [
                {
                    "InputName": input_name,
                    "AppManaged": False,
                    "S3Input": {
                        "S3Uri": uri,
                        "LocalPath": local,
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                        "S3DataDistributionType": "FullyReplicated",
                    },
                }
                for input_name, uri, local in s3_inputs
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": output,
                        "AppManaged": False,
                        "S3Output": {
                            "S3Uri": execution_uri(resources, name.lower(), output),
                            "LocalPath": local,
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                    for output, local in spec.outputs
                ],
                "KmsKeyId": resources.kms_key_id,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
            "NetworkConfig": {
                "EnableNetworkIsolation": name in ISOLATED_STEPS,
                **vpc_config(resources),
            },
        },
    }
