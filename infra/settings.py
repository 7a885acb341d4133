"""Typed, validated settings for the CDK app, parsed once from the cdk.json context.

`app.py` turns the context into a frozen `InfrastructureSettings` and passes it down;
constructs never read the context themselves, so a bad value fails before any resource is
defined and every error names the context key to fix. The training settings have their own
file and validator (`forecasting.pipeline.settings.PipelineSettings`, model_build/training.json):
each setting is checked in one place only. This module imports no CDK code, so it can be tested
without starting jsii.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from forecasting.errors import ConfigError
from forecasting.pipeline.settings import TRAINING_FILE
from infra.schedule_expression import EXPECTED as SCHEDULE_EXPECTED
from infra.schedule_expression import schedule_problem
from lambdas.accuracy.drift import DriftPolicy

ContextLookup = Callable[[str], Any]

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"

# SageMaker pipeline and model package group names allow [a-zA-Z0-9-]; KMS aliases, stack
# names and bucket-name-safe prefixes all accept this stricter lowercase form (each service's
# rule is checked in tests/infra/test_project_names.py).
_PROJECT_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[\w-]+$"
)
_QUICKSIGHT_ARN = re.compile(r"^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(user|group)/.+$")
_GIT_NAME = re.compile(r"^[\w.-]+$")
# Git refs may contain "/", but not whitespace, "..", "~", "^", ":" or a leading "-".
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[^\s~^:?*\[\\]+$")
# EC2 ids as botocore's SageMaker model limits VpcConfig's (pattern [-0-9a-zA-Z]+, at most 32).
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")


_E = TypeVar("_E", bound=StrEnum)


CREATE_MLFLOW_SERVER = "create"
_MLFLOW_TRACKING = re.compile(
    rf"{CREATE_MLFLOW_SERVER}|arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{{12}}:"
    r"mlflow-tracking-server/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}"
)


class SourceType(StrEnum):
    """Where the model-build code lives: a CodeCommit repo created by the stack, or an
    external repository reached through a CodeConnections connection (for accounts that
    cannot create CodeCommit repositories)."""

    CODECOMMIT = "codecommit"
    CODECONNECTIONS = "codeconnections"


class RemovalMode(StrEnum):
    """What `cdk destroy` does with data: keep buckets and key (default) or delete them."""

    RETAIN = "retain"
    DESTROY = "destroy"


@dataclass(frozen=True)
class SourceSettings:
    """The repository that CodePipeline watches."""

    type: SourceType
    repository_name: str
    branch: str
    connection_arn: str | None = None
    repository_owner: str | None = None


@dataclass(frozen=True)
class InfrastructureSettings:
    """Everything the stack needs to know, checked once."""

    project_name: str
    source: SourceSettings
    removal_mode: RemovalMode
    quicksight_principal_arn: str | None = None
    notification_email: str | None = None
    # Private networking: every job and the transform run in these subnets (none: SageMaker's).
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    # MLflow: None (no tracking), CREATE_MLFLOW_SERVER, or an existing tracking server's ARN
    mlflow_tracking: str | None = None
    # EventBridge Scheduler expression (UTC) of scheduled forecasts; None: no schedule
    forecast_schedule: str | None = None
    # forecast new inference input once uploads are quiet this many minutes; None: off
    forecast_on_new_data: int | None = None
    accuracy: DriftPolicy = field(default_factory=DriftPolicy)

    @classmethod
    def from_context(cls, context: Mapping[str, Any] | ContextLookup) -> InfrastructureSettings:
        """Parse the context (a mapping, or a lookup such as `app.node.try_get_context`).

        All problems are collected and raised together as one `ConfigError`, so a user
        fixes cdk.json in one pass instead of one key per synth.
        """
        lookup: ContextLookup = context.get if isinstance(context, Mapping) else context
        parser = _Parser(lookup)
        project_name = parser.pattern(
            "projectName", _PROJECT_NAME, "3-32 lowercase letters, digits or hyphens"
        )
        parser.moved_to_training_file(MOVED_TO_TRAINING_FILE)
        settings = cls(
            project_name=project_name,
            source=_parse_source(parser, default_repository=project_name),
            # The fallback is never used: a failed key makes raise_if_errors raise below.
            removal_mode=parser.choice("removalPolicy", RemovalMode) or RemovalMode.RETAIN,
            quicksight_principal_arn=parser.optional_pattern(
                "quickSightPrincipalArn",
                _QUICKSIGHT_ARN,
                "a QuickSight user or group ARN (arn:aws:quicksight:REGION:ACCOUNT:user/...)",
            ),
            notification_email=parser.optional_pattern(
                "notificationEmail", _EMAIL, "an e-mail address"
            ),
            **_parse_vpc(parser),
            mlflow_tracking=parser.optional_pattern(
                "mlflowTracking",
                _MLFLOW_TRACKING,
                f'"{CREATE_MLFLOW_SERVER}" (a managed MLflow tracking server for this stack) or '
                "an existing server's ARN (arn:aws:sagemaker:REGION:ACCOUNT:"
                "mlflow-tracking-server/NAME)",
            ),
            forecast_schedule=parser.optional_schedule("forecastSchedule"),
            forecast_on_new_data=parser.optional_minutes("forecastOnNewData"),
            accuracy=_parse_accuracy(parser),
        )
        parser.raise_if_errors()
        return settings


# The drift alarm and retraining (lambdas/accuracy/drift.py holds the defaults).
ACCURACY_KEYS = (
    "accuracyAlarmRatio",
    "accuracyWindowDays",
    "retrainOnDrift",
    "retrainCooldownDays",
)
# Every context key the app reads; tests check cdk.json holds no key outside this set.
CONTEXT_KEYS: frozenset[str] = frozenset(
    {
        "projectName",
        "sourceType",
        "connectionArn",
        "repositoryOwner",
        "repositoryName",
        "branch",
        "quickSightPrincipalArn",
        "notificationEmail",
        "removalPolicy",
        "subnetIds",
        "securityGroupIds",
        "mlflowTracking",
        "forecastSchedule",
        "forecastOnNewData",
        *ACCURACY_KEYS,
    }
)
# Training settings travel with the training code, in model_build/training.json, so a push
# changes them. Found in the context (an older cdk.json, or -c), each is an error that names its
# key in the training file, never a value ignored in silence.
MOVED_TO_TRAINING_FILE: dict[str, str] = {
    "trainingInstanceType": "training_instance_type",
    "trainingInstanceCount": "training_instance_count",
    "processingInstanceType": "processing_instance_type",
    "metricName": "metric_name",
    "metricThreshold": "metric_threshold",
    "modelFamily": "model",
    "useSpot": "use_spot",
    "hyperparameters": "hyperparameters",
    "preprocessArguments": "preprocess_arguments",
}


def load_cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The context defaults in cdk.json, as the CDK CLI would pass them to the app.

    Used when app.py runs without the CLI, and by the tests, so both see what `cdk synth` sees.
    """
    return dict(json.loads(path.read_text(encoding="utf-8"))["context"])


def _parse_source(parser: _Parser, default_repository: str) -> SourceSettings:
    """The CodeConnections source needs a connection, an owner and a repository name; the
    CodeCommit repository is created by the stack and defaults to the project name."""
    source_type = parser.choice("sourceType", SourceType)
    branch = parser.optional_pattern("branch", _BRANCH, "a git branch name") or "main"
    repository_name = parser.optional_pattern(
        "repositoryName", _GIT_NAME, "a repository name (letters, digits, . _ -)"
    )
    connection_arn = parser.optional_pattern(
        "connectionArn",
        _CONNECTION_ARN,
        "a connection ARN (arn:aws:codeconnections:REGION:ACCOUNT:connection/ID)",
    )
    owner = parser.optional_pattern(
        "repositoryOwner", _GIT_NAME, "a repository owner (letters, digits, . _ -)"
    )
    if source_type is SourceType.CODECONNECTIONS:
        for key, value in (
            ("connectionArn", connection_arn),
            ("repositoryOwner", owner),
            ("repositoryName", repository_name),
        ):
            if value is None and key not in parser.failed_keys:
                parser.error(key, 'a value when sourceType is "codeconnections"', value)
    return SourceSettings(
        type=source_type if source_type is not None else SourceType.CODECOMMIT,
        repository_name=repository_name or default_repository,
        branch=branch,
        connection_arn=connection_arn,
        repository_owner=owner,
    )


def _parse_vpc(parser: _Parser) -> dict[str, tuple[str, ...]]:
    """Subnets and security groups go together: SageMaker's VpcConfig needs both (1-16 subnets,
    1-5 groups, botocore's model of VpcConfig)."""
    subnets = parser.id_list("subnetIds", _SUBNET, "subnet ids (subnet-...)", most=16)
    groups = parser.id_list("securityGroupIds", _SECURITY_GROUP, "security group ids (sg-...)", 5)
    for key, value, other in (
        ("subnetIds", subnets, groups),
        ("securityGroupIds", groups, subnets),
    ):
        if other and not value and key not in parser.failed_keys:
            parser.error(key, "a list when subnetIds or securityGroupIds is set", None)
    return {"subnet_ids": subnets, "security_group_ids": groups}


def _parse_accuracy(parser: _Parser) -> DriftPolicy:
    """The drift alarm's ratio and window, and whether (and how often) drift retrains."""
    default = DriftPolicy()
    ratio = parser.optional_number("accuracyAlarmRatio", float, minimum=0, exclusive=True)
    window = parser.optional_number("accuracyWindowDays", int, minimum=1)
    retrain = parser.optional_bool("retrainOnDrift")
    cooldown = parser.optional_number("retrainCooldownDays", int, minimum=0)
    return DriftPolicy(
        ratio=default.ratio if ratio is None else ratio,
        window_days=default.window_days if window is None else int(window),
        retrain=default.retrain if retrain is None else retrain,
        cooldown_days=default.cooldown_days if cooldown is None else int(cooldown),
    )


class _Parser:
    """Reads context keys, converts them and records an error per bad key.

    Values given with `cdk synth -c key=value` arrive as strings, so numbers are accepted in
    string form too. An empty string counts as unset for optional keys, so `-c key=` clears
    a default.
    """

    def __init__(self, lookup: ContextLookup) -> None:
        self._lookup = lookup
        self._errors: list[str] = []
        self.failed_keys: set[str] = set()

    def error(self, key: str, expected: str, value: Any) -> None:
        self.failed_keys.add(key)
        got = "nothing (missing)" if value is None else f"{value!r}"
        self._errors.append(f'context key "{key}": expected {expected}, got {got}')

    def raise_if_errors(self) -> None:
        if self._errors:
            lines = "\n  ".join(self._errors)
            raise ConfigError(f"invalid CDK context (cdk.json or -c):\n  {lines}")

    def _required(self, key: str, expected: str) -> Any:
        value = self._lookup(key)
        if value is None or value == "":
            self.error(key, expected, None)
            return None
        return value

    def moved_to_training_file(self, moved: Mapping[str, str]) -> None:
        for key, new_key in moved.items():
            if self._lookup(key) is not None:
                self.failed_keys.add(key)
                self._errors.append(
                    f'context key "{key}" is a training setting now: set "{new_key}" in '
                    f"model_build/{TRAINING_FILE} (a push carries it) and remove it from cdk.json"
                )

    def pattern(self, key: str, regex: re.Pattern[str], expected: str) -> str:
        value = self._required(key, expected)
        if value is None:
            return ""
        if not isinstance(value, str) or not regex.fullmatch(value):
            self.error(key, expected, value)
            return ""
        return value

    def optional_pattern(self, key: str, regex: re.Pattern[str], expected: str) -> str | None:
        value = self._lookup(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not regex.fullmatch(value):
            self.error(key, f"null or {expected}", value)
            return None
        return value

    def id_list(
        self, key: str, regex: re.Pattern[str], expected: str, most: int
    ) -> tuple[str, ...]:
        """An optional JSON list of ids; ``-c key=a,b`` gives a comma-separated string."""
        value = self._lookup(key)
        if value is None or value == "" or value == []:
            return ()
        items = value.split(",") if isinstance(value, str) else value
        wanted = f"null or a list of 1-{most} {expected}"
        if not isinstance(items, list) or not 1 <= len(items) <= most:
            self.error(key, wanted, value)
            return ()
        if not all(isinstance(i, str) and regex.fullmatch(i.strip()) for i in items):
            self.error(key, wanted, value)
            return ()
        return tuple(i.strip() for i in items)

    def optional_schedule(self, key: str) -> str | None:
        value = self._lookup(key)
        if value is None or value == "":
            return None
        problem = schedule_problem(value) if isinstance(value, str) else "not a string"
        if problem:
            self.error(key, f"null or {SCHEDULE_EXPECTED} ({problem})", value)
            return None
        return str(value)

    def optional_minutes(self, key: str, most: int = 1440) -> int | None:
        value = self._lookup(key)
        if value is None or value == "":
            return None
        expected = f"null or a whole number of minutes from 1 to {most}"
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= most:
            self.error(key, expected, value)
            return None
        return int(text)

    def optional_number(
        self, key: str, kind: type[int] | type[float], *, minimum: float, exclusive: bool = False
    ) -> float | None:
        """A number (or its string form, from -c) at or above ``minimum`` (above, if exclusive)."""
        value = self._lookup(key)
        if value is None or value == "":
            return None
        bound = f"{'above' if exclusive else 'at least'} {minimum:g}"
        expected = f"null or {'a whole number' if kind is int else 'a number'} {bound}"
        try:
            number = kind(value) if not isinstance(value, bool) else None
            if number is not None and float(value) != number:  # int(2.5) is 2: refuse it
                number = None
        except (TypeError, ValueError):
            number = None
        if (
            number is None
            or not math.isfinite(number)
            or number < minimum
            or (exclusive and number == minimum)
        ):
            self.error(key, expected, value)
            return None
        return number

    def optional_bool(self, key: str) -> bool | None:
        """true/false (or "true"/"false", from -c)."""
        value = self._lookup(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        self.error(key, "null, true or false", value)
        return None

    def choice(self, key: str, enum: type[_E]) -> _E | None:
        expected = "one of " + ", ".join(f'"{member.value}"' for member in enum)
        value = self._required(key, expected)
        if value is None:
            return None
        try:
            return enum(value)
        except ValueError:
            self.error(key, expected, value)
            return None
