"""Step caching in the pipeline definition, checked against the rule SageMaker applies.

SageMaker reuses a step when a successful run with the same cache-key attributes, as resolved
for the execution, exists within ``ExpireAfter``; the attributes per step type are listed in
"Default cache key attributes by pipeline step type"
(https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html), and
``ExpireAfter`` is an ISO 8601 duration of years to minutes ("Turn on step caching",
https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-caching-enabling.html). SageMaker
never looks at what a URI points to, so the tests check that everything a cached step reads
reaches its key: code, data, parameters and image, and nothing that differs per execution.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from forecasting.errors import ConfigError
from forecasting.pipeline import codebuild, data_snapshot
from forecasting.pipeline.caching import CACHED_STEP_TYPES, cache_key, parse_duration
from forecasting.pipeline.definition import Images, build_definition
from forecasting.pipeline.settings import PipelineSettings
from local_mode.interpreter import Evaluator, parameter_values
from tests.model_build.pipeline.test_definition import GPU, RESOURCES, flat_steps

SETTINGS = PipelineSettings()
PREPROCESS_JOB = "pipelines-exec1-Preprocess-abc"


def resolved_keys(
    definition: dict[str, Any], execution_id: str, overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """Each cached step's key as SageMaker computes it for one execution, where Preprocess and
    Train come from the same earlier (cached) jobs whatever the execution."""
    outputs = {
        name: {"S3Output": {"S3Uri": f"s3://out/exec1/{name}"}}
        for name in ("train", "validation", "test", "evaluation")
    }
    properties = {
        "Preprocess": {
            "ProcessingJobName": PREPROCESS_JOB,
            "ProcessingOutputConfig": {"Outputs": outputs},
        },
        "Train": {"ModelArtifacts": {"S3ModelArtifacts": "s3://out/exec1/model.tar.gz"}},
        # the same approved version in every execution (another one: see
        # test_approved_model_step.py)
        "FindApprovedModel": {"OutputParameters": {
            "ModelDataUrl": "s3://out/exec0/model.tar.gz", "ModelPackageVersion": "1",
            "ModelPackageArn": "arn:aws:sagemaker:eu-west-1:1:model-package/g/1",
            "ModelFamily": "informer"}},
    }  # fmt: skip
    evaluate = Evaluator(
        definition,
        parameter_values(definition, overrides or {}),
        execution_id,
        properties,
        lambda *_: {},
    )
    return {
        s["Name"]: cache_key(s["Type"], evaluate(s["Arguments"], s["Name"]))
        for s in definition["Steps"]
        if s["Type"] in CACHED_STEP_TYPES
    }


def test_processing_and_training_steps_are_cached_for_the_configured_time():
    for settings in (SETTINGS, GPU, replace(SETTINGS, cache_expire_after="PT12H")):
        steps = flat_steps(build_definition(settings, RESOURCES)["Steps"])
        for step in steps:
            if step["Type"] in ("Processing", "Training"):
                expected = {"Enabled": True, "ExpireAfter": settings.cache_expire_after}
                assert step["CacheConfig"] == expected, step["Name"]
            else:  # the gate, the registration and the Fail step run in every execution
                assert "CacheConfig" not in step, step["Name"]


def test_null_expiry_turns_caching_off():
    steps = build_definition(replace(SETTINGS, cache_expire_after=None), RESOURCES)["Steps"]
    assert [s["CacheConfig"] for s in steps if "CacheConfig" in s] == [{"Enabled": False}] * 3


@pytest.mark.parametrize(
    ("text", "length"),
    [("P30D", timedelta(days=30)), ("PT12H", timedelta(hours=12)), ("PT16M", timedelta(minutes=16)),
     ("P1W", timedelta(days=7)), ("P1Y", timedelta(days=365)),
     ("P30DT5H", timedelta(days=30, hours=5))],
)  # fmt: skip
def test_durations_sagemaker_accepts(text, length):
    assert parse_duration(text) == length


@pytest.mark.parametrize("text", ["30d", "P", "PT", "P1DT", "PT30S", "P0D", "1 month", "P-1D", ""])
def test_other_durations_are_refused_by_the_settings(text):
    with pytest.raises(ConfigError, match=f"cache_expire_after {text!r}"):
        PipelineSettings(cache_expire_after=text)


def test_unchanged_inputs_give_the_same_key_in_every_execution():
    """Nothing per execution reaches a key (the checkpoint prefix once held the execution id,
    which made Train miss every time)."""
    definition = build_definition(SETTINGS, RESOURCES)
    assert resolved_keys(definition, "exec2") == resolved_keys(definition, "exec3")


@pytest.mark.parametrize(
    ("change", "missed"),
    [
        # code: a step's new tarball is a new content-addressed key, for that step only
        *[(lambda s, r, step=step: (s, replace(r, code_uris={**r.code_uris, step: NEW_CODE})),
           {step}) for step in ("Preprocess", "Train", "Evaluate")],
        # image: every job's container
        (lambda s, r: (s, replace(r, images=Images("t:2", "p:2", "i:2"))),
         {"Preprocess", "Train", "Evaluate"}),
        # a build-time parameter of one step only
        (lambda s, r: (replace(s, hyperparameters={"d_model": 64}), r), {"Train"}),
        (lambda s, r: (replace(s, preprocess_arguments={"split": "ratio"}), r), {"Preprocess"}),
    ],
)  # fmt: skip
def test_a_changed_input_misses_the_steps_that_read_it(change, missed):
    base = resolved_keys(build_definition(SETTINGS, replace(RESOURCES, images=IMAGES)), "e")
    settings, resources = change(SETTINGS, replace(RESOURCES, images=IMAGES))
    keys = resolved_keys(build_definition(settings, resources), "e")
    assert {name for name in base if keys[name] != base[name]} == missed


IMAGES = Images("t:1", "p:1", "i:1")


@pytest.mark.parametrize("count", [1, 2])
def test_another_instance_type_misses_the_training_step_only(count):
    """Two CPU types share one image: only the copy in Environment tells their jobs apart."""
    resources = replace(RESOURCES, images=IMAGES)
    settings = replace(SETTINGS, training_instance_count=count)
    base = resolved_keys(build_definition(settings, resources), "e")
    other = replace(settings, training_instance_type="ml.m5.2xlarge")
    keys = resolved_keys(build_definition(other, resources), "e")
    assert {name for name in base if keys[name] != base[name]} == {"Train"}


def test_the_training_resources_split_the_key_as_sagemaker_resolves_them():
    """The key attributes of CreateTrainingJob hold the instance type and the count as the
    execution resolves them (``TrainingInstanceCount`` is a run-time parameter)."""
    definition = build_definition(SETTINGS, replace(RESOURCES, images=IMAGES))
    (train,) = [s for s in definition["Steps"] if s["Type"] == "Training"]
    evaluate = Evaluator(
        definition, parameter_values(definition, {"TrainingInstanceCount": "3"}), "e", {},
        lambda *_: {},
    )  # fmt: skip
    arguments = evaluate(
        {k: train["Arguments"][k] for k in ("ResourceConfig", "Environment")}, "Train"
    )
    assert arguments["ResourceConfig"]["InstanceCount"] == 3
    assert {k: v for k, v in arguments["Environment"].items() if "INSTANCE" in k} == {
        "FORECASTING_TRAINING_INSTANCE_TYPE": SETTINGS.training_instance_type,
        "FORECASTING_TRAINING_INSTANCE_COUNT": "3",
    }


NEW_CODE = "s3://ts-forecasting-artifacts/code/4567ef01/sourcedir.tar.gz"


@pytest.mark.parametrize(
    ("overrides", "missed"),
    [({"InputDataUri": "s3://data/snapshots/other/"}, {"Preprocess"}),
     ({"MaxEpochs": "3"}, {"Train"}),
     ({"MetricThreshold": "0.1"}, set()),  # read by the gate only, which is not cached
     # ResourceConfig is not a key attribute: the count reaches Train's Environment
     ({"TrainingInstanceCount": "4"}, {"Train"})],
)  # fmt: skip
def test_a_changed_run_time_parameter_misses_the_steps_that_read_it(overrides, missed):
    definition = build_definition(SETTINGS, replace(RESOURCES, images=IMAGES))
    base, keys = resolved_keys(definition, "e"), resolved_keys(definition, "e", overrides)
    assert {name for name in base if keys[name] != base[name]} == missed


# --- the data the pipeline reads is a snapshot named by its content --------------------------

BUCKET = "data"
KMS = "arn:aws:kms:eu-west-1:123456789012:key/k"


@pytest.fixture
def s3(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield client


def take_snapshot(s3, said=None) -> str:
    uri = f"s3://{BUCKET}/input/"
    objects = data_snapshot.list_objects(s3, uri)
    return data_snapshot.snapshot(s3, uri, objects, KMS, (said if said is not None else []).append)


def test_the_same_data_gives_the_same_snapshot_and_new_data_a_new_one(s3):
    s3.put_object(Bucket=BUCKET, Key="input/a.csv", Body=b"date,OT\n1,2\n")
    s3.put_object(Bucket=BUCKET, Key="input/sub/b.csv", Body=b"date,OT\n3,4\n")
    first = take_snapshot(s3)
    assert first.startswith(f"s3://{BUCKET}/snapshots/")
    copied = s3.list_objects_v2(Bucket=BUCKET, Prefix=first.split(f"{BUCKET}/")[1])["Contents"]
    assert sorted(o["Key"].rsplit("/", 2)[-2:][-1] for o in copied) == ["a.csv", "b.csv"]
    body = s3.get_object(Bucket=BUCKET, Key=first.split(f"{BUCKET}/")[1] + "a.csv")["Body"]
    assert body.read() == b"date,OT\n1,2\n"
    said: list[str] = []
    assert take_snapshot(s3, said) == first and "unchanged" in said[0]  # nothing copied again
    s3.put_object(Bucket=BUCKET, Key="input/a.csv", Body=b"date,OT\n1,5\n")
    assert take_snapshot(s3) != first


def test_an_interrupted_snapshot_is_copied_again(s3):
    s3.put_object(Bucket=BUCKET, Key="input/a.csv", Body=b"date,OT\n1,2\n")
    target = take_snapshot(s3)
    digest = target.rstrip("/").rsplit("/", 1)[1]
    s3.delete_object(Bucket=BUCKET, Key=f"snapshots/{digest}.json")  # the manifest comes last
    said: list[str] = []
    assert take_snapshot(s3, said) == target and "copied" in said[0]


def test_the_runner_starts_the_execution_on_the_snapshot_only_with_caching_on(
    s3, monkeypatch, tmp_path
):
    s3.put_object(Bucket=BUCKET, Key="input/a.csv", Body=b"date,OT\n1,2\n")
    started: list[dict[str, str]] = []
    monkeypatch.setattr(codebuild, "make_clients", lambda region: (None, s3))
    monkeypatch.setattr(codebuild, "upsert_pipeline", lambda *a, **k: "arn:pipeline")
    monkeypatch.setattr("forecasting.pipeline.source.upload_source", lambda *a, **k: "s3://c")
    monkeypatch.setattr(
        codebuild, "start_execution", lambda sm, name, parameters: started.append(parameters)
    )
    environ = {"PIPELINE_NAME": "p", "PIPELINE_ROLE_ARN": "arn:aws:iam::1:role/r",
               "ARTIFACTS_BUCKET": "art", "KMS_KEY_ID": KMS, "AWS_REGION": "eu-west-1",
               "MODEL_PACKAGE_GROUP": "g", "DATA_URI": f"s3://{BUCKET}/input/",
               "IMAGE_REPOSITORY_URI": "1.dkr.ecr.eu-west-1.amazonaws.com/p/jobs",
               "APPROVED_MODEL_FUNCTION_ARN": "arn:aws:lambda:eu-west-1:1:function:f"}  # fmt: skip
    for expiry in ("P30D", None):
        settings = json.dumps({"cache_expire_after": expiry})
        args = codebuild.parse_args(["upsert", "--start", "--settings", settings])
        codebuild.upsert_command(args, environ, echo=lambda _: None)
    with_cache, without = started
    assert with_cache["InputDataUri"].startswith(f"s3://{BUCKET}/snapshots/")
    assert "InputDataUri" not in without  # no cache, no stale reuse: the upload prefix as is


# --- MLflow tracking keeps the keys execution-independent ------------------------------------


def test_tracking_adds_no_per_execution_value_to_a_cached_step():
    """The execution ARN reaches only the registration, which is never cached; the run id
    reaches it from evaluation.json."""
    tracked = replace(RESOURCES, images=IMAGES, mlflow_tracking_uri="arn:aws:sagemaker:x")
    definition = build_definition(SETTINGS, tracked)
    assert resolved_keys(definition, "e1") == resolved_keys(definition, "e2")
    steps = {s["Name"]: s for s in flat_steps(definition["Steps"])}
    assert steps["Train"]["Arguments"]["Environment"].items() >= {
        "MLFLOW_TRACKING_URI": "arn:aws:sagemaker:x", "MLFLOW_EXPERIMENT_NAME": "ts-forecasting"
    }.items()  # fmt: skip
    metadata = steps["Register"]["Arguments"]["CustomerMetadataProperties"]
    assert metadata["pipeline_execution_arn"] == {"Get": "Execution.PipelineExecutionArn"}
    assert metadata["mlflow_tracking_server"] == "arn:aws:sagemaker:x"
    # the run id reaches the package through the run-tagging Lambda, which reads it from the
    # registered evaluation.json: no Std:JsonGet in the metadata (forecasting.pipeline.tracking)
    assert "mlflow_run_id" not in metadata
    assert "Std:JsonGet" not in json.dumps(metadata)
    untracked = build_definition(SETTINGS, replace(RESOURCES, images=IMAGES))
    assert not any(
        "MLFLOW" in name for name in flat_steps(untracked["Steps"])[1]["Arguments"]["Environment"]
    )


def test_data_the_build_may_not_read_is_started_as_is_and_said(s3):
    from botocore.stub import Stubber

    said: list[str] = []
    with Stubber(s3) as stubber:
        stubber.add_client_error("list_objects_v2", "AccessDenied", http_status_code=403)
        assert codebuild.snapshot_parameter(s3, "s3://other/x/", KMS, said.append) == {}
    assert "cannot snapshot s3://other/x/ (access denied)" in said[0]
