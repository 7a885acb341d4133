"""Settings parsing: cdk.json defaults, and a clear error naming the key for bad values."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from forecasting.errors import ConfigError
from forecasting.pipeline.settings import PipelineSettings
from infra.settings import (
    CONTEXT_KEYS,
    MOVED_TO_TRAINING_FILE,
    InfrastructureSettings,
    RemovalMode,
    SourceType,
    load_cdk_json_context,
)

CONNECTION_ARN = (
    "arn:aws:codeconnections:eu-west-1:123456789012:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
)


@pytest.fixture
def context() -> dict[str, Any]:
    return load_cdk_json_context()


def test_cdk_json_defaults_parse(context: dict[str, Any]) -> None:
    settings = InfrastructureSettings.from_context(context)

    assert settings.project_name == "ts-forecasting"
    assert settings.source.type is SourceType.CODECOMMIT
    assert settings.source.repository_name == "ts-forecasting"
    assert settings.source.branch == "main"
    assert settings.source.connection_arn is None
    assert settings.removal_mode is RemovalMode.RETAIN
    assert settings.quicksight_principal_arn is None
    assert settings.notification_email is None


def test_cdk_json_holds_exactly_the_known_keys(context: dict[str, Any]) -> None:
    """A misspelt key in cdk.json would otherwise be ignored silently."""
    assert set(context) == CONTEXT_KEYS


def test_settings_are_frozen(context: dict[str, Any]) -> None:
    settings = InfrastructureSettings.from_context(context)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.project_name = "other"  # type: ignore[misc]


def test_accepts_a_lookup_function(context: dict[str, Any]) -> None:
    """app.py passes `app.node.try_get_context`, not a dict."""
    assert InfrastructureSettings.from_context(context.get) == InfrastructureSettings.from_context(
        context
    )


def test_cli_string_values_are_converted(context: dict[str, Any]) -> None:
    """`cdk synth -c notificationEmail=` delivers an empty string: unset."""
    context |= {"notificationEmail": "", "removalPolicy": "destroy"}
    settings = InfrastructureSettings.from_context(context)
    assert settings.removal_mode is RemovalMode.DESTROY
    assert settings.notification_email is None


def test_optional_values_are_kept(context: dict[str, Any]) -> None:
    context |= {
        "quickSightPrincipalArn": "arn:aws:quicksight:eu-west-1:123456789012:user/default/analyst",
        "notificationEmail": "ml-team@example.com",
        "removalPolicy": "destroy",
        "branch": "release/2024-q3",
    }
    settings = InfrastructureSettings.from_context(context)
    assert settings.quicksight_principal_arn is not None
    assert settings.notification_email == "ml-team@example.com"
    assert settings.removal_mode is RemovalMode.DESTROY
    assert settings.source.branch == "release/2024-q3"


def test_codeconnections_source(context: dict[str, Any]) -> None:
    context |= {
        "sourceType": "codeconnections",
        "connectionArn": CONNECTION_ARN,
        "repositoryOwner": "my-org",
        "repositoryName": "forecasting-model-build",
    }
    source = InfrastructureSettings.from_context(context).source
    assert source.type is SourceType.CODECONNECTIONS
    assert source.connection_arn == CONNECTION_ARN
    assert source.repository_owner == "my-org"
    assert source.repository_name == "forecasting-model-build"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("projectName", "TS_Forecasting"),
        ("projectName", "x"),
        ("projectName", 42),
        ("sourceType", "github"),
        ("removalPolicy", "snapshot"),
        ("removalPolicy", "RETAIN"),
        ("connectionArn", "arn:aws:s3:::bucket"),
        ("quickSightPrincipalArn", "analyst"),
        ("notificationEmail", "not-an-email"),
        ("branch", "bad..branch"),
        ("repositoryName", "has space"),
    ],
)
def test_bad_value_raises_naming_the_key(context: dict[str, Any], key: str, value: Any) -> None:
    context[key] = value
    with pytest.raises(ConfigError, match=f'context key "{key}": expected '):
        InfrastructureSettings.from_context(context)


@pytest.mark.parametrize(
    "key",
    [
        "projectName",
        "sourceType",
        "removalPolicy",
    ],
)
def test_missing_required_key_raises_naming_the_key(context: dict[str, Any], key: str) -> None:
    del context[key]
    with pytest.raises(ConfigError, match=f'context key "{key}": .*got nothing'):
        InfrastructureSettings.from_context(context)


@pytest.mark.parametrize("key", ["connectionArn", "repositoryOwner", "repositoryName"])
def test_codeconnections_requires_its_keys(context: dict[str, Any], key: str) -> None:
    context |= {
        "sourceType": "codeconnections",
        "connectionArn": CONNECTION_ARN,
        "repositoryOwner": "my-org",
        "repositoryName": "forecasting-model-build",
    }
    context[key] = None
    with pytest.raises(ConfigError, match=f'"{key}": expected a value when sourceType is'):
        InfrastructureSettings.from_context(context)


def test_all_errors_are_reported_together(context: dict[str, Any]) -> None:
    """One synth lists every problem, so cdk.json is fixed in one pass."""
    context |= {"projectName": "X", "removalPolicy": "keep", "metricThreshold": 1}
    with pytest.raises(ConfigError) as raised:
        InfrastructureSettings.from_context(context)
    message = str(raised.value)
    for key in ("projectName", "removalPolicy", "metricThreshold"):
        assert f'"{key}"' in message


@pytest.mark.parametrize("key", sorted(MOVED_TO_TRAINING_FILE))
def test_a_training_setting_left_in_the_context_is_an_error_naming_its_new_home(
    context: dict[str, Any], key: str
) -> None:
    """Training settings travel with the pushed code; one left in cdk.json (or given with -c)
    would be ignored, so it is refused, naming the key to set in model_build/training.json."""
    context[key] = "anything"
    with pytest.raises(ConfigError) as raised:
        InfrastructureSettings.from_context(context)
    new_key = MOVED_TO_TRAINING_FILE[key]
    assert f'context key "{key}" is a training setting now: set "{new_key}"' in str(raised.value)
    assert "model_build/training.json" in str(raised.value)
    assert new_key in PipelineSettings().to_dict()


def test_local_mode_names_its_pipeline_and_package_group_after_cdk_jsons_project(
    context: dict[str, Any],
) -> None:
    """Local mode copies the project name (it reads no cdk.json); the copy must agree, or its
    registry and buckets would be named unlike the cloud's."""
    from local_mode.layout import PROJECT

    assert InfrastructureSettings.from_context(context).project_name == PROJECT


def test_the_app_fails_on_a_missing_required_key_before_defining_anything(
    context: dict[str, Any], tmp_path
) -> None:
    """app.py's `create_app` parses the context first: no default hides a missing key."""
    from infra.application import create_app

    del context["projectName"]
    with pytest.raises(ConfigError, match='context key "projectName"'):
        create_app(context, outdir=str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_subnets_and_security_groups_parse_from_lists_or_cli_strings(context):
    settings = InfrastructureSettings.from_context(
        {**context, "subnetIds": ["subnet-0a1b2c3d"], "securityGroupIds": "sg-0a1b2c3d,sg-1a2b3c4d"}
    )
    assert settings.subnet_ids == ("subnet-0a1b2c3d",)
    assert settings.security_group_ids == ("sg-0a1b2c3d", "sg-1a2b3c4d")
    assert InfrastructureSettings.from_context(context).subnet_ids == ()


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"subnetIds": ["subnet-0a1b2c3d"]}, "securityGroupIds"),
        ({"securityGroupIds": ["sg-0a1b2c3d"]}, "subnetIds"),
        ({"subnetIds": ["vpc-0a1b2c3d"], "securityGroupIds": ["sg-0a1b2c3d"]}, "subnetIds"),
        ({"subnetIds": "subnet-0a1b2c3d", "securityGroupIds": ["sg-x"]}, "securityGroupIds"),
        ({"subnetIds": [f"subnet-0a1b2c{i:02d}" for i in range(17)],
          "securityGroupIds": ["sg-0a1b2c3d"]}, "subnetIds"),
    ],
)  # fmt: skip
def test_a_half_or_malformed_vpc_is_refused_naming_the_key(context, overrides, key):
    with pytest.raises(ConfigError, match=f'context key "{key}"'):
        InfrastructureSettings.from_context({**context, **overrides})


# --- forecastSchedule: the expressions EventBridge Scheduler accepts ("Schedule types",
# EventBridge Scheduler user guide: rate(value unit); cron with six fields and "?" in exactly
# one of day-of-month / day-of-week; at() is one-time) ---------------------------------------


def test_the_forecast_schedule_is_off_by_default(context: dict[str, Any]) -> None:
    assert InfrastructureSettings.from_context(context).forecast_schedule is None
    context["forecastSchedule"] = ""  # cdk synth -c forecastSchedule=
    assert InfrastructureSettings.from_context(context).forecast_schedule is None


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 6 * * ? *)",
        "cron(15 5 ? * MON-FRI *)",
        "cron(0/30 8-17 ? * 2#1 2026-2030)",
        "cron(0 6 L * ? *)",
        "rate(1 day)",
        "rate(12 hours)",
        "rate(30 minutes)",
    ],
)
def test_valid_forecast_schedules_are_kept(context: dict[str, Any], expression: str) -> None:
    context["forecastSchedule"] = expression
    assert InfrastructureSettings.from_context(context).forecast_schedule == expression


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("cron(0 6 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 6 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 6 * * ?)", "5 cron fields; expected 6"),
        ("cron(0 6 * * ? * *)", "7 cron fields"),
        ("cron(0 6# * * ? *)", "cron field hours"),
        ("rate(0 days)", "a rate of 0"),
        ("rate(1 week)", "neither cron"),
        ("at(2026-12-06T06:00:00)", "one-time"),
        ("0 6 * * *", "neither cron"),
        (6, "not a string"),
    ],
)
def test_invalid_forecast_schedules_name_the_key_and_the_problem(
    context: dict[str, Any], expression: Any, problem: str
) -> None:
    context["forecastSchedule"] = expression
    with pytest.raises(ConfigError) as raised:
        InfrastructureSettings.from_context(context)
    assert 'context key "forecastSchedule": expected null or a recurring' in str(raised.value)
    assert problem in str(raised.value)


def test_forecast_on_new_data_is_off_by_default_and_takes_quiet_minutes(
    context: dict[str, Any],
) -> None:
    assert InfrastructureSettings.from_context(context).forecast_on_new_data is None
    context["forecastOnNewData"] = "15"  # -c forecastOnNewData=15
    assert InfrastructureSettings.from_context(context).forecast_on_new_data == 15


@pytest.mark.parametrize("minutes", [0, 1441, -3, "soon", True, 2.5])
def test_a_bad_quiet_time_names_the_key(context: dict[str, Any], minutes: Any) -> None:
    context["forecastOnNewData"] = minutes
    with pytest.raises(ConfigError, match='context key "forecastOnNewData": expected null or'):
        InfrastructureSettings.from_context(context)


# --- the drift alarm and retraining (lambdas/accuracy) ----------------------------------------


def test_cdk_json_states_the_drift_defaults_of_the_accuracy_code(context: dict[str, Any]) -> None:
    from lambdas.accuracy.drift import DriftPolicy

    assert InfrastructureSettings.from_context(context).accuracy == DriftPolicy()


def test_drift_settings_from_the_command_line_are_converted(context: dict[str, Any]) -> None:
    context.update(
        accuracyAlarmRatio="2.5", accuracyWindowDays="3", retrainOnDrift="true",
        retrainCooldownDays="0",
    )  # fmt: skip
    policy = InfrastructureSettings.from_context(context).accuracy
    assert (policy.ratio, policy.window_days, policy.retrain, policy.cooldown_days) == (
        2.5, 3, True, 0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("accuracyAlarmRatio", 0),
        ("accuracyAlarmRatio", "nan"),
        ("accuracyAlarmRatio", "high"),
        ("accuracyWindowDays", 2.5),
        ("accuracyWindowDays", 0),
        ("retrainOnDrift", "yes"),
        ("retrainOnDrift", 1),
        ("retrainCooldownDays", -1),
        ("retrainCooldownDays", True),
    ],
)
def test_a_bad_drift_setting_names_its_key(context: dict[str, Any], key: str, value: Any) -> None:
    context[key] = value
    with pytest.raises(ConfigError, match=f'context key "{key}": expected null'):
        InfrastructureSettings.from_context(context)
