"""Scheduled forecasting: an EventBridge Scheduler schedule invokes the batch-transform Lambda.

EventBridge Scheduler rather than a scheduled rule: the EventBridge user guide calls scheduled
rules a legacy feature and recommends Scheduler, which adds its own retry policy and
dead-letter queue per target. The schedule (``forecastSchedule`` in cdk.json, evaluated in UTC)
sends a ``Forecast Scheduled`` event (:func:`lambdas.batch_transform.events.scheduled_event`,
with Scheduler's time and execution id filled in); the Lambda forecasts the current input with
the group's latest Approved version, once per version and input content
(:mod:`lambdas.batch_transform.schedule`), and the publish rule publishes the finished job as it
does an approval's.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge_wildcards
from lambdas.batch_transform.events import scheduled_event

# Scheduler retries a failed invocation (the Lambda service refusing it) with backoff; a
# function error is Lambda's own asynchronous retry and on-failure destination.
SCHEDULE_RETRY_ATTEMPTS = 8
SCHEDULE_MAX_EVENT_AGE = Duration.hours(2)  # as the rules' targets: later, start it by hand


def forecast_schedule(
    scope: Construct,
    *,
    project_name: str,
    group_name: str,
    expression: str,
    function: lambda_.IFunction,
    dead_letter_queue: sqs.IQueue,
) -> scheduler.Schedule:
    """The schedule, its target (the Lambda, invoked asynchronously) and Scheduler's role.

    The role is this construct's own (CDK's default is one role per stack, shared by every
    schedule): ``lambda:InvokeFunction`` on this one function and ``sqs:SendMessage`` on the
    dead-letter queue, assumable by Scheduler for this account's schedules only.
    """
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
    schedule = scheduler.Schedule(
        scope,
        "ForecastSchedule",
        description=f"{project_name}: forecast the inference input with the latest approved "
        "version",
        schedule=scheduler.ScheduleExpression.expression(expression),
        target=target,
    )
    function_id = stack.resolve(stack.get_logical_id(function.node.default_child))
    acknowledge_wildcards(
        role.node.find_child("DefaultPolicy").node.default_child,
        {
            f"Resource::<{function_id}.Arn>:*": "CDK's invoke grant: the versions and aliases "
            "of the one forecast Lambda",
        },
    )
    return schedule
