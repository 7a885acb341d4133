"""The accuracy Lambda: whenever actuals arrive or forecasts are published, score every published
forecast of the project's model package group against its actuals.

EventBridge sends S3 ``Object Created`` events for ``ACTUALS_PREFIX`` in ``DATA_BUCKET`` and for
published partitions (``{FORECASTS_PREFIX}/model=...``) in ``FORECASTS_BUCKET``. Each event starts
one full pass (:func:`lambdas.accuracy.tracking.track`): the accuracy table and its QuickSight
manifest are rewritten, CloudWatch gets each version's measures in ``METRIC_NAMESPACE`` (dimensions
``Model`` and ``Version``), a version that enters alarm is reported to ``NOTIFICATION_TOPIC_ARN``
once, and with ``RETRAIN`` on the SageMaker pipeline is started, at most once per cool-down
(:mod:`lambdas.accuracy.drift`). The alarm state is an S3 object beside the table.

Environment: ``FORECASTS_BUCKET``, ``DATA_BUCKET``, ``MODEL_PACKAGE_GROUP``, ``METRIC_NAMESPACE``
and ``NOTIFICATION_TOPIC_ARN`` (required); ``FORECASTS_PREFIX`` (``forecasts``),
``ACTUALS_PREFIX`` (``actuals/``), ``KMS_KEY_ID``, ``ALARM_RATIO`` (1.5), ``WINDOW_DAYS`` (7),
``RETRAIN`` (``false``), ``COOLDOWN_DAYS`` (7), ``PIPELINE_NAME`` (required when ``RETRAIN`` is
``true``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lambdas import aws, uris
from lambdas.accuracy import drift
from lambdas.accuracy.drift import Decision, DriftPolicy, Verdict
from lambdas.accuracy.tracking import ACTUALS_PREFIX, Tracked, save_state, track
from lambdas.errors import ConfigError, required_env
from lambdas.publish import evaluation
from lambdas.publish.stores import S3Store

DETAIL_TYPE = "Object Created"
DEFAULT_FORECASTS_PREFIX = "forecasts"
METRICS_PER_CALL = 20  # PutMetricData's long-standing per-request limit
SUBJECT_LIMIT = 100  # SNS's limit for an e-mail subject

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class InvalidEventError(ValueError):
    """The event is not an S3 object-created event this function listens to."""


@dataclass(frozen=True)
class Settings:
    forecasts_bucket: str
    data_bucket: str
    model_package_group: str
    metric_namespace: str
    notification_topic_arn: str
    policy: DriftPolicy
    forecasts_prefix: str = DEFAULT_FORECASTS_PREFIX
    actuals_prefix: str = ACTUALS_PREFIX
    kms_key_id: str | None = None
    pipeline_name: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        def number(name: str, default: float, kind: type[int] | type[float]) -> Any:
            text = environ.get(name, "").strip()
            try:
                return kind(text) if text else default
            except ValueError:
                raise ConfigError(
                    f"environment variable {name} is {text!r}; expected a {kind.__name__}"
                ) from None

        retrain_text = environ.get("RETRAIN", "false").strip().lower()
        if retrain_text not in ("true", "false"):
            raise ConfigError(
                f"environment variable RETRAIN is {retrain_text!r}; expected true or false"
            )
        try:
            policy = DriftPolicy(
                ratio=number("ALARM_RATIO", drift.DEFAULT_ALARM_RATIO, float),
                window_days=number("WINDOW_DAYS", drift.DEFAULT_WINDOW_DAYS, int),
                retrain=retrain_text == "true",
                cooldown_days=number("COOLDOWN_DAYS", drift.DEFAULT_COOLDOWN_DAYS, int),
            )
        except ValueError as error:
            raise ConfigError(f"accuracy settings: {error}") from None
        pipeline = environ.get("PIPELINE_NAME", "").strip() or None
        if policy.retrain and pipeline is None:
            raise ConfigError(
                "environment variable PIPELINE_NAME is not set; expected the SageMaker pipeline "
                "to start when RETRAIN is true"
            )
        return cls(
            forecasts_bucket=required_env(environ, "FORECASTS_BUCKET"),
            data_bucket=required_env(environ, "DATA_BUCKET"),
            model_package_group=required_env(environ, "MODEL_PACKAGE_GROUP"),
            metric_namespace=required_env(environ, "METRIC_NAMESPACE"),
            notification_topic_arn=required_env(environ, "NOTIFICATION_TOPIC_ARN"),
            policy=policy,
            forecasts_prefix=environ.get("FORECASTS_PREFIX", DEFAULT_FORECASTS_PREFIX).strip("/"),
            actuals_prefix=environ.get("ACTUALS_PREFIX", ACTUALS_PREFIX).strip(),
            kms_key_id=environ.get("KMS_KEY_ID", "").strip() or None,
            pipeline_name=pipeline,
        )


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point; the function's own ARN gives the registry's partition and account."""
    settings = Settings.from_env(os.environ)
    return handle_event(
        event,
        settings,
        s3=aws.client("s3"),
        sagemaker=aws.client("sagemaker"),
        cloudwatch=aws.client("cloudwatch"),
        sns=aws.client("sns"),
        scope=uris.ArnScope.of(context.invoked_function_arn),
    )


def handle_event(
    event: Mapping[str, Any],
    settings: Settings,
    *,
    s3: Any,
    sagemaker: Any,
    cloudwatch: Any,
    sns: Any,
    scope: uris.ArnScope,
) -> dict[str, Any]:
    """One accuracy pass; the event only says why it runs (which object arrived)."""
    bucket, key = parse_event(event, settings)
    logger.info("s3://%s/%s arrived; scoring %s", bucket, key, settings.model_package_group)
    group = settings.model_package_group

    def registered(version: str) -> dict[str, Any] | None:
        """The evaluation.json the version registered: its sMAPE, its training columns."""
        if not version.isdigit():
            return None
        arn = scope.model_package_arn(group, int(version))
        try:
            found, _ = evaluation.read_evaluation(sagemaker, s3, arn)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            logger.warning("%s is not in the registry (%s); not judged", arn, error)
            return None
        return found

    forecasts_store = S3Store(s3, settings.forecasts_bucket, settings.kms_key_id)
    tracked = track(
        forecasts_store,
        S3Store(s3, settings.data_bucket),
        model=group,
        forecasts_prefix=settings.forecasts_prefix,
        actuals_prefix=settings.actuals_prefix,
        evaluation=registered,
        policy=settings.policy,
    )
    for uri in tracked.ignored_files:
        logger.warning("%s is not a .csv file; not read as actuals", uri)
    for note in tracked.notes:
        logger.warning(note)
    decision = tracked.decision
    put_metrics(cloudwatch, settings.metric_namespace, tracked)
    notified = [notify_alarm(sns, settings.notification_topic_arn, v) for v in decision.notify]
    execution = None
    if decision.retrain is not None:
        assert settings.pipeline_name is not None  # from_env requires it with RETRAIN
        execution = start_retrain(sagemaker, settings.pipeline_name, decision)
    logger.info(decision.retrain_note)
    state_key = save_state(forecasts_store, settings.forecasts_prefix, group, decision.state)
    return {
        "trigger": f"s3://{bucket}/{key}",
        "forecasts": tracked.forecasts,
        "actuals": tracked.actuals,
        "notes": list(tracked.notes),
        "accuracy_uri": forecasts_store.uri(tracked.accuracy_key) if tracked.accuracy_key else None,
        "manifest_uri": forecasts_store.uri(tracked.manifest_key) if tracked.manifest_key else None,
        "versions": [verdict_summary(v) for v in decision.verdicts],
        "notification_ids": notified,
        "retrain": decision.retrain_note,
        "pipeline_execution_arn": execution,
        "state_uri": forecasts_store.uri(state_key),
    }


def verdict_summary(verdict: Verdict) -> dict[str, Any]:
    return {
        "version": verdict.version,
        "status": verdict.status,
        "rolling_smape": verdict.rolling_smape,
        "reference_smape": verdict.reference_smape,
        "error_ratio": verdict.error_ratio,
        "as_of": verdict.as_of.isoformat() if verdict.as_of else None,
    }


def metric_data(tracked: Tracked) -> list[dict[str, Any]]:
    """Each version's measures, its rolling sMAPE and the ratio the alarm compares."""
    data: list[dict[str, Any]] = []
    rolling = {(v.model, v.version): v for v in tracked.decision.verdicts}
    for (model, version), measures in sorted(tracked.scores.versions.items()):
        verdict = rolling[(model, version)]
        values: Sequence[tuple[str, float | None, str]] = (
            ("MatchedPoints", measures.matched, "Count"),
            ("PendingPoints", measures.pending, "Count"),
            ("MAE", measures.mae, "None"),
            ("Bias", measures.bias, "None"),
            ("SMAPE", measures.smape, "Percent"),
            ("CoverageP10P90", measures.coverage, "None"),
            ("RollingSMAPE", verdict.rolling_smape, "Percent"),
            ("ErrorRatio", verdict.error_ratio, "None"),
        )
        dimensions = [{"Name": "Model", "Value": model}, {"Name": "Version", "Value": version}]
        data.extend(
            {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit}
            for name, value, unit in values
            if value is not None
        )
    return data


def put_metrics(cloudwatch: Any, namespace: str, tracked: Tracked) -> int:
    data = metric_data(tracked)
    for start in range(0, len(data), METRICS_PER_CALL):
        cloudwatch.put_metric_data(
            Namespace=namespace, MetricData=data[start : start + METRICS_PER_CALL]
        )
    return len(data)


def notify_alarm(sns: Any, topic_arn: str, verdict: Verdict) -> str:
    subject = f"Forecast accuracy alarm: {verdict.model} version {verdict.version}"
    message = (
        f"{verdict.model} version {verdict.version}: rolling sMAPE {verdict.rolling_smape:.4g} % "
        f"over {verdict.rolling_points} points up to {verdict.as_of} is "
        f"{verdict.error_ratio:.3g} x the sMAPE it registered ({verdict.reference_smape:.4g} %); "
        f"the alarm ratio is {verdict.threshold_ratio:g}."
    )
    response = sns.publish(TopicArn=topic_arn, Subject=subject[:SUBJECT_LIMIT], Message=message)
    logger.warning("%s (notified, %s)", message, response["MessageId"])
    return str(response["MessageId"])


def start_retrain(sagemaker: Any, pipeline_name: str, decision: Decision) -> str:
    """Start the training pipeline; the token makes a concurrent duplicate start nothing new."""
    verdict = decision.retrain
    assert verdict is not None
    response = sagemaker.start_pipeline_execution(
        PipelineName=pipeline_name,
        ClientRequestToken=drift.retrain_token(verdict),
        PipelineExecutionDescription=decision.retrain_note[:3072],
    )
    arn = str(response["PipelineExecutionArn"])
    logger.warning("Started %s: %s", arn, decision.retrain_note)
    return arn


def parse_event(event: Any, settings: Settings) -> tuple[str, str]:
    """(bucket, key) of an object this function listens to; anything else is an error."""
    if not isinstance(event, Mapping) or event.get("detail-type") != DETAIL_TYPE:
        found = event.get("detail-type") if isinstance(event, Mapping) else type(event).__name__
        raise InvalidEventError(f"event 'detail-type' is {found!r}; expected {DETAIL_TYPE!r}")
    detail = event.get("detail")
    bucket = detail.get("bucket", {}).get("name") if isinstance(detail, Mapping) else None
    key = detail.get("object", {}).get("key") if isinstance(detail, Mapping) else None
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise InvalidEventError(
            "event fields 'detail.bucket.name' and 'detail.object.key' are missing; expected an "
            "S3 Object Created event"
        )
    published = f"{settings.forecasts_prefix}/model=" if settings.forecasts_prefix else "model="
    if (bucket, key.startswith(settings.actuals_prefix)) == (settings.data_bucket, True):
        return bucket, key
    if (bucket, key.startswith(published)) == (settings.forecasts_bucket, True):
        return bucket, key
    raise InvalidEventError(
        f"s3://{bucket}/{key} is neither under s3://{settings.data_bucket}/"
        f"{settings.actuals_prefix} nor s3://{settings.forecasts_bucket}/{published}"
    )
