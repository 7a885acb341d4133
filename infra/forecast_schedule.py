"""Scheduled forecasting: an EventBridge Scheduler schedule invokes the batch-transform Lambda;
optionally, new input under the inference prefix does too, debounced.

EventBridge Scheduler rather than a scheduled rule: the EventBridge user guide calls scheduled
rules a legacy feature and recommends Scheduler, which adds its own retry policy and
dead-letter queue per target. The schedule (``forecastSchedule`` in cdk.json, evaluated in UTC)
sends a ``Forecast Scheduled`` event (:func:`lambdas.batch_transform.events.scheduled_event`,
with Scheduler's time and execution id filled in); the Lambda forecasts the current input with
the group's latest Approved version, once per version and input content
(:mod:`lambdas.batch_transform.schedule`), and the publish rule publishes the finished job as it
does an approval's.

New input (``forecastOnNewData``: quiet minutes): S3 sends ``Object Created`` to EventBridge for
the data bucket; a rule sends those under the inference prefix to the same Lambda, which
(re)sets one one-time schedule ``at(upload time + quiet minutes)`` with Scheduler's role below
(:mod:`lambdas.batch_transform.debounce`): the forecast runs once the uploads are quiet.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge_wildcards
from infra.storage import enable_event_bridge
from lambdas.batch_transform.debounce import OBJECT_CREATED, SCHEDULE_GROUP, schedule_name
from lambdas.batch_transform.events import scheduled_event

# Scheduler retries a failed invocation (the Lambda service refusing it) with backoff; a
# function error is Lambda's own asynchronous retry and on-failure destination.
SCHEDULE_RETRY_ATTEMPTS = 8
SCHEDULE_MAX_EVENT_AGE = Duration.hours(2)  # as the rules' targets: later, start it by hand


def scheduler_role(
    scope: Construct,
    *,
    project_name: str,
    function: lambda_.IFunction,
    dead_letter_queue: sqs.IQueue,
) -> iam.Role:
    """Scheduler's execution role for this project's schedules: ``lambda:InvokeFunction`` on
    the one forecast function and ``sqs:SendMessage`` on the dead-letter queue, assumable by
    Scheduler for this account's schedules only. The construct's own (CDK's default is one role
    per stack, shared by every schedule)."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "ForecastScheduleRole",
        description=f"{project_name}: EventBridge Scheduler invokes the forecast Lambda",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="scheduler", resource="schedule", resource_name="*"
                    )
                },
            },
        ),
    )
    # Explicit grants: the one-time schedules the Lambda sets have no CDK target to add them.
    function.grant_invoke(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[dead_letter_queue.queue_arn])
    )
    function_id = stack.resolve(stack.get_logical_id(function.node.default_child))
    acknowledge_wildcards(
        role.node.find_child("DefaultPolicy").node.default_child,
        {
            f"Resource::<{function_id}.Arn>:*": "CDK's invoke grant: the versions and aliases "
            "of the one forecast Lambda",
        },
    )
    return role


def forecast_schedule(
    scope: Construct,
    *,
    project_name: str,
    group_name: str,
    expression: str,
    function: lambda_.IFunction,
    dead_letter_queue: sqs.IQueue,
    role: iam.IRole,
) -> scheduler.Schedule:
    """The recurring schedule and its target (the Lambda, invoked asynchronously)."""
    event = scheduled_event(
        group_name,
        time=scheduler.ContextAttribute.scheduled_time,
        event_id=scheduler.ContextAttribute.execution_id,
    )
    target = scheduler_targets.LambdaInvoke(
        function,
        input=scheduler.ScheduleTargetInput.from_object(event),
        dead_letter_queue=dead_letter_queue,
        retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
        max_event_age=SCHEDULE_MAX_EVENT_AGE,
        role=role,
    )
    return scheduler.Schedule(
        scope,
        "ForecastSchedule",
        description=f"{project_name}: forecast the inference input with the latest approved "
        "version",
        schedule=scheduler.ScheduleExpression.expression(expression),
        target=target,
    )


def new_data_trigger(
    scope: Construct,
    *,
    project_name: str,
    group_name: str,
    quiet_minutes: int,
    data_bucket: s3.IBucket,
    input_prefix: str,
    function: lambda_.Function,
    role: iam.IRole,
    dead_letter_queue: sqs.IQueue,
) -> events.Rule:
    """The rule on new input objects, and what the Lambda needs to (re)set the one-time
    schedule: its settings, ``scheduler:CreateSchedule``/``UpdateSchedule`` on that one
    schedule, and passing Scheduler's role to Scheduler."""
    enable_event_bridge(data_bucket)
    rule = events.Rule(
        scope,
        "NewInputRule",
        description=f"{project_name}: new inference input -> forecast once uploads are quiet",
        event_pattern=events.EventPattern(
            source=["aws.s3"],
            detail_type=[OBJECT_CREATED],
            detail={
                "bucket": {"name": [data_bucket.bucket_name]},
                "object": {"key": [{"prefix": input_prefix}]},
            },
        ),
    )
    function.add_environment("FORECAST_ON_NEW_DATA_MINUTES", str(quiet_minutes))
    function.add_environment("SCHEDULER_ROLE_ARN", role.role_arn)
    function.add_environment("DEAD_LETTER_QUEUE_ARN", dead_letter_queue.queue_arn)
    assert function.role is not None
    function.role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="DebounceNewInput",
            actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule"],
            resources=[
                Stack.of(scope).format_arn(
                    service="scheduler",
                    resource="schedule",
                    resource_name=f"{SCHEDULE_GROUP}/{schedule_name(group_name)}",
                )
            ],
        )
    )
    function.role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PassSchedulerRole",
            actions=["iam:PassRole"],
            resources=[role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        )
    )
    return rule
