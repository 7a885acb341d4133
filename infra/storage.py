"""Encrypted storage: one customer-managed KMS key and the project's S3 buckets."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.settings import RemovalMode

# Server access logs land under one prefix per source bucket, so each bucket's requests
# can be read (or expired) on their own.
DATA_LOG_PREFIX = "data/"
MODEL_ARTIFACTS_LOG_PREFIX = "model-artifacts/"
FORECASTS_LOG_PREFIX = "forecasts/"


def removal_policy(mode: RemovalMode) -> RemovalPolicy:
    """What `cdk destroy` does with a stateful resource. Kept resources use CloudFormation's
    RetainExceptOnCreate: a stack whose *creation* fails and rolls back deletes them, so a
    named resource (repository, log group, key alias, model package group) cannot survive a
    failed first deploy and block the next one with AlreadyExists."""
    if mode is RemovalMode.DESTROY:
        return RemovalPolicy.DESTROY
    return RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE


class StorageConstruct(Construct):
    """The KMS key and buckets every later construct reads from and writes to.

    Data, model artifacts and forecasts are KMS-encrypted with one rotating CMK, versioned
    (a model package must keep pointing at the artifact it was registered with), TLS-only,
    closed to the public and logged to an access-log bucket. The log bucket uses S3-managed
    keys because S3 server access logging cannot deliver to a bucket encrypted with a
    customer-managed KMS key.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, project_name: str, removal_mode: RemovalMode
    ) -> None:
        super().__init__(scope, construct_id)
        self._removal_policy = removal_policy(removal_mode)
        # Emptying a bucket on delete needs a custom-resource Lambda; only add it when the
        # user asked for `cdk destroy` to remove data.
        self._auto_delete = removal_mode is RemovalMode.DESTROY

        self.key = self.setup_key(project_name)
        self.access_logs_bucket = self.setup_access_logs_bucket()
        self.data_bucket = self.setup_encrypted_bucket("DataBucket", DATA_LOG_PREFIX)
        self.model_artifacts_bucket = self.setup_encrypted_bucket(
            "ModelArtifactsBucket", MODEL_ARTIFACTS_LOG_PREFIX
        )
        self.forecasts_bucket = self.setup_encrypted_bucket("ForecastsBucket", FORECASTS_LOG_PREFIX)

    @property
    def encrypted_buckets(self) -> tuple[s3.Bucket, s3.Bucket, s3.Bucket]:
        """The KMS-encrypted buckets (all but the access-log bucket)."""
        return (self.data_bucket, self.model_artifacts_bucket, self.forecasts_bucket)

    def setup_key(self, project_name: str) -> kms.Key:
        """One CMK for all project data, so access is granted (and revoked) in one place."""
        return kms.Key(
            self,
            "DataKey",
            alias=f"alias/{project_name}",
            description=f"Encrypts the {project_name} data, model artifacts and forecasts",
            enable_key_rotation=True,
            removal_policy=self._removal_policy,
        )

    def setup_access_logs_bucket(self) -> s3.Bucket:
        """Target of the other buckets' server access logs."""
        bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # ACLs stay disabled; log delivery is granted by bucket policy (the app pins the
            # CDK flag that makes `server_access_logs_bucket` do so).
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[_abort_incomplete_uploads()],
            removal_policy=self._removal_policy,
            auto_delete_objects=self._auto_delete,
        )
        Validations.of(bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="This is the server access log bucket; logging it to itself would loop "
                "and logging it elsewhere only moves the question one bucket further.",
            )
        )
        return bucket

    def setup_encrypted_bucket(self, construct_id: str, log_prefix: str) -> s3.Bucket:
        """A versioned, KMS-encrypted, TLS-only, private bucket with access logging."""
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            # S3 Bucket Keys cut KMS requests (and cost) for the many small objects the
            # pipeline writes.
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=[_abort_incomplete_uploads()],
            removal_policy=self._removal_policy,
            auto_delete_objects=self._auto_delete,
        )


def _abort_incomplete_uploads() -> s3.LifecycleRule:
    """Failed multipart uploads (large data or artifacts) otherwise cost storage forever."""
    return s3.LifecycleRule(
        id="AbortIncompleteMultipartUploads",
        abort_incomplete_multipart_upload_after=Duration.days(7),
    )


def enable_event_bridge(bucket: s3.IBucket) -> None:
    """CloudFormation's own switch (``NotificationConfiguration.EventBridgeConfiguration``), not
    CDK's ``event_bridge_enabled``, which adds a custom-resource Lambda to set it."""
    resource = bucket.node.default_child
    assert isinstance(resource, s3.CfnBucket)
    resource.add_property_override(
        "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
    )
