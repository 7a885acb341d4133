"""The failure path of batch inference: a notification topic, one dead-letter queue and its alarm.

Whatever cannot be delivered or keeps failing (EventBridge targets, the forecast schedule, the
Lambdas' asynchronous invocations) lands in one queue whose depth alarms the topic, so no
failure is only a log line. Built in the scope of the batch-inference construct, so the
resources keep their logical IDs.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Aws, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def notifications_topic(
    scope: Construct, *, project_name: str, email: str | None, removal_policy: RemovalPolicy
) -> tuple[sns.Topic, kms.Key]:
    """Failure notices: DLQ alarms and failed transform jobs; e-mail when one is set.

    A customer-managed key of its own, because CloudWatch alarms cannot publish to a topic
    under the AWS-managed SNS key, and letting CloudWatch use the data key would widen the
    policy that guards every bucket. Like every key of the project, it is kept by
    `cdk destroy` unless removalPolicy is destroy.
    """
    key = kms.Key(
        scope,
        "NotificationsKey",
        alias=f"alias/{project_name}-notifications",
        description=f"Encrypts the {project_name} failure notifications",
        enable_key_rotation=True,
        removal_policy=removal_policy,
    )
    topic = sns.Topic(
        scope,
        "Notifications",
        display_name=f"{project_name} batch inference failures",
        master_key=key,
        enforce_ssl=True,
    )
    if email:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    return topic, key


def dead_letter_queue(scope: Construct) -> sqs.Queue:
    """One queue for every event that could not be delivered or kept failing.

    It is the EventBridge targets' and the schedule's DLQ (undeliverable events, with the error
    as message attributes) and both Lambdas' on-failure destination (the event plus the
    function's error, after Lambda's retries). One queue, one alarm: anything in it is a
    forecast that did not happen. SQS-managed encryption: the messages are event envelopes
    (names, ARNs, S3 URIs, error text), never forecast data, and EventBridge can deliver to
    it without a KMS key policy opened to the events service.
    """
    queue = sqs.Queue(
        scope,
        "DeadLetterQueue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),  # SQS's maximum: time to read and redrive
    )
    acknowledge_rule(
        queue,
        "AwsSolutions-SQS3",
        "This queue is itself the dead-letter queue of the EventBridge targets and the "
        "Lambdas' on-failure destination; cdk-nag only recognises SQS redrive policies.",
    )
    return queue


def dead_letter_alarm(
    scope: Construct, *, project_name: str, queue: sqs.Queue, topic: sns.Topic, key: kms.Key
) -> cloudwatch.Alarm:
    """Any message in the DLQ notifies the topic; the alarm stays raised until it is read."""
    alarm = cloudwatch.Alarm(
        scope,
        "DeadLetterAlarm",
        alarm_description=f"{project_name}: a batch-inference event failed; "
        "read the dead-letter queue",
        metric=queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5), statistic="Maximum"
        ),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    # CloudWatch encrypts the alarm message it publishes (as documented for alarms that
    # notify an encrypted topic), as the service.
    allow_service_to_publish(key, "CloudWatchAlarms", "cloudwatch", "alarm:*")
    # The topic policy CDK writes (TLS only) replaces SNS's default one, so the alarm needs
    # its own allow; pinned to this alarm.
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowDeadLetterAlarm",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "ArnEquals": {"aws:SourceArn": alarm.alarm_arn},
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            },
        )
    )
    return alarm


def allow_service_to_publish(key: kms.Key, name: str, service: str, resource: str) -> None:
    """Let an AWS service encrypt what it publishes to the topic with the topic's key, for
    this account's resources only (the confused-deputy conditions). Not the one alarm or
    rule ARN: each refers to the topic, which refers to the key, and the key policy naming
    them would close a dependency cycle."""
    stack = Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=f"Allow{name}ToPublish",
            principals=[iam.ServicePrincipal(f"{service}.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service=service,
                        resource=resource,
                        arn_format=ArnFormat.NO_RESOURCE_NAME,
                    )
                },
            },
        )
    )


def acknowledge_rule(construct: Construct, rule: str, reason: str) -> None:
    """Acknowledge one whole cdk-nag rule on one construct, with the reason written down."""
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))
