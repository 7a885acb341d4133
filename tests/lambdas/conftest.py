"""Fixtures shared by the batch-transform Lambda's tests: moto's SageMaker as SageMaker behaves."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import SageMakerModelBackend

from lambdas.batch_transform import handler as transform_handler
from tests.lambdas.batch_transform_events import ENVIRON, REGION


@pytest.fixture
def real_name_clashes(monkeypatch):
    """Make moto refuse taken names as SageMaker does (moto 5.2 silently overwrites them)."""
    create_model = SageMakerModelBackend.create_model
    create_transform_job = SageMakerModelBackend.create_transform_job

    def refuse_taken_model(self, model_name, *args, **kwargs):
        if model_name in self._models:
            arn = self._models[model_name].arn
            raise ValidationError(message=f'Cannot create already existing model "{arn}".')
        return create_model(self, model_name, *args, **kwargs)

    def refuse_taken_job(self, transform_job_name, *args, **kwargs):
        if transform_job_name in self.transform_jobs:
            raise ResourceInUseException(
                message=f"Transform job {transform_job_name} already exists. Choose another name."
            )
        return create_transform_job(self, transform_job_name, *args, **kwargs)

    monkeypatch.setattr(SageMakerModelBackend, "create_model", refuse_taken_model)
    monkeypatch.setattr(SageMakerModelBackend, "create_transform_job", refuse_taken_job)


@pytest.fixture
def sagemaker(monkeypatch, real_name_clashes):
    """moto's SageMaker, the Lambda's environment, fake credentials and a fresh cached client."""
    for name, value in {
        **ENVIRON,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("TRANSFORM_INSTANCE_TYPE", "PROJECT", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        transform_handler.reset_client()
        yield boto3.client("sagemaker", region_name=REGION)
        transform_handler.reset_client()
