"""QuickSight over the published forecasts: an S3 data source, a SPICE data set and an analysis
(:mod:`infra.quicksight_analysis`: forecast vs actual per series with the p10-p90 band, accuracy
over time per version).

Created only when ``quickSightPrincipalArn`` is set. QuickSight reads the manifest when the data
source is created and imports the CSVs when the data set is, so deploy with the principal set
only after the first forecasts are published (the stack's ``ForecastsManifestUri`` output names
the manifest the publish Lambda writes). The account must already be subscribed to QuickSight
(Enterprise edition for the API-created data set and its permissions).

S3 access does not rely on the account-wide QuickSight service role (which the stack cannot
manage): the data source names a role of its own (``S3Parameters.RoleArn``) that may read the
published prefix and decrypt it with the project key, and nothing else.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_quicksight as quicksight
from constructs import Construct

from infra.nag import CDK_GRANT_ACTIONS, acknowledge_wildcards
from infra.quicksight_analysis import ANALYSIS_ACTIONS, analysis_definition
from infra.storage import StorageConstruct
from lambdas.publish.publishing import PUBLISHED_COLUMNS, TIMESTAMP_FORMAT

# QuickSight's spelling of the strftime formats the publish Lambda may write.
QUICKSIGHT_DATETIME_FORMATS = {"%Y-%m-%d %H:%M:%S": "yyyy-MM-dd HH:mm:ss"}
# Column types of the published CSV. S3 sources read every column as text; the data preparation
# casts the rest, so a malformed value shows as a skipped row instead of a failed import.
COLUMN_TYPES: dict[str, str] = {
    "series_id": "STRING",
    "target": "STRING",
    "timestamp": "DATETIME",
    "horizon_step": "INTEGER",
    "p50": "DECIMAL",
    "p10": "DECIMAL",
    "p90": "DECIMAL",
    "model": "STRING",
    "model_version": "STRING",
    "actual": "DECIMAL",
    "run": "STRING",
    "synthetic": "STRING",  # "true", "false", or empty when the publisher was not told
    "utc_offset": "STRING",  # "+02:00" of the timestamp's wall clock, empty for data without one
}
DATA_SOURCE_ACTIONS = [
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource",
    "quicksight:UpdateDataSourcePermissions",
]
DATA_SET_ACTIONS = [
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:UpdateDataSetPermissions",
]
TABLE_ID = "forecasts"
# The data preparation steps (DataPrepConfiguration, which replaces the deprecated
# LogicalTableMap): import the physical table, cast its text columns, publish the result.
SOURCE_TABLE_ID = "forecasts-file"
IMPORT_STEP_ID = "import"
CAST_STEP_ID = "cast"


def datetime_format() -> str:
    """The published timestamps' format as QuickSight spells it; fails synth if it changed."""
    try:
        return QUICKSIGHT_DATETIME_FORMATS[TIMESTAMP_FORMAT]
    except KeyError:
        raise ValueError(
            f"the published timestamp format {TIMESTAMP_FORMAT!r} has no QuickSight spelling; "
            "add it to QUICKSIGHT_DATETIME_FORMATS in infra/quicksight.py"
        ) from None


def check_column_types() -> None:
    """Every published column needs a type here, or the data set would silently drop it."""
    if tuple(COLUMN_TYPES) != tuple(PUBLISHED_COLUMNS):
        raise ValueError(
            f"QuickSight column types {list(COLUMN_TYPES)} do not match the published columns "
            f"{list(PUBLISHED_COLUMNS)}; update infra/quicksight.py"
        )


def data_prep_configuration() -> quicksight.CfnDataSet.DataPrepConfigurationProperty:
    """Import the CSV's text columns, cast each to its :data:`COLUMN_TYPES` type, and expose the
    result as the ``forecasts`` table."""
    data_set = quicksight.CfnDataSet
    casts = [
        data_set.CastColumnTypeOperationProperty(
            column_name=name,
            new_column_type=column_type,
            format=datetime_format() if column_type == "DATETIME" else None,
        )
        for name, column_type in COLUMN_TYPES.items()
        if column_type != "STRING"
    ]
    return data_set.DataPrepConfigurationProperty(
        source_table_map={
            SOURCE_TABLE_ID: data_set.SourceTableProperty(physical_table_id=TABLE_ID)
        },
        transform_step_map={
            IMPORT_STEP_ID: data_set.TransformStepProperty(
                import_table_step=data_set.ImportTableOperationProperty(
                    alias=IMPORT_STEP_ID,
                    source=data_set.ImportTableOperationSourceProperty(
                        source_table_id=SOURCE_TABLE_ID
                    ),
                )
            ),
            CAST_STEP_ID: data_set.TransformStepProperty(
                cast_column_types_step=data_set.CastColumnTypesOperationProperty(
                    alias=CAST_STEP_ID,
                    source=data_set.TransformOperationSourceProperty(
                        transform_operation_id=IMPORT_STEP_ID
                    ),
                    cast_column_type_operations=casts,
                )
            ),
        },
        destination_table_map={
            TABLE_ID: data_set.DestinationTableProperty(
                alias="forecasts",
                source=data_set.DestinationTableSourceProperty(transform_operation_id=CAST_STEP_ID),
            )
        },
    )


class QuickSightConstruct(Construct):
    """The data source (the stable manifest), the SPICE data set, and the principal's access."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project_name: str,
        principal_arn: str,
        storage: StorageConstruct,
        forecasts_prefix: str,
        manifest_key: str,
    ) -> None:
        super().__init__(scope, construct_id)
        check_column_types()
        self.data_source_id = f"{project_name}-forecasts"
        self.data_set_id = f"{project_name}-forecasts"
        self.role = iam.Role(
            self,
            "S3AccessRole",
            assumed_by=iam.ServicePrincipal("quicksight.amazonaws.com"),
            description=f"{project_name}: QuickSight reads the published forecasts",
        )
        # The manifest and the CSVs are both under the published prefix; grant_read adds the
        # key's kms:Decrypt.
        storage.forecasts_bucket.grant_read(self.role, f"{forecasts_prefix}/*")
        logical_id = Stack.of(self).resolve(
            Stack.of(self).get_logical_id(storage.forecasts_bucket.node.default_child)
        )
        acknowledge_wildcards(
            self.role.node.find_child("DefaultPolicy").node.default_child,
            {
                **CDK_GRANT_ACTIONS,
                f"Resource::<{logical_id}.Arn>/{forecasts_prefix}/*": "the published forecasts "
                "prefix of the forecasts bucket, read-only, for QuickSight",
            },
        )

        self.data_source = quicksight.CfnDataSource(
            self,
            "DataSource",
            aws_account_id=Aws.ACCOUNT_ID,
            data_source_id=self.data_source_id,
            name=f"{project_name} forecasts",
            type="S3",
            data_source_parameters=quicksight.CfnDataSource.DataSourceParametersProperty(
                s3_parameters=quicksight.CfnDataSource.S3ParametersProperty(
                    manifest_file_location=quicksight.CfnDataSource.ManifestFileLocationProperty(
                        bucket=storage.forecasts_bucket.bucket_name, key=manifest_key
                    ),
                    role_arn=self.role.role_arn,
                )
            ),
            permissions=[
                quicksight.CfnDataSource.ResourcePermissionProperty(
                    principal=principal_arn, actions=DATA_SOURCE_ACTIONS
                )
            ],
        )
        # QuickSight assumes the role while creating the source: its policy must exist first.
        self.data_source.node.add_dependency(self.role)

        self.data_set = quicksight.CfnDataSet(
            self,
            "DataSet",
            aws_account_id=Aws.ACCOUNT_ID,
            data_set_id=self.data_set_id,
            name=f"{project_name} forecasts",
            import_mode="SPICE",
            physical_table_map={
                TABLE_ID: quicksight.CfnDataSet.PhysicalTableProperty(
                    s3_source=quicksight.CfnDataSet.S3SourceProperty(
                        data_source_arn=self.data_source.attr_arn,
                        input_columns=[
                            quicksight.CfnDataSet.InputColumnProperty(name=name, type="STRING")
                            for name in COLUMN_TYPES
                        ],
                        upload_settings=quicksight.CfnDataSet.UploadSettingsProperty(
                            format="CSV",
                            contains_header=True,
                            delimiter=",",
                            text_qualifier="DOUBLE_QUOTE",
                            start_from_row=1,
                        ),
                    )
                )
            },
            data_prep_configuration=data_prep_configuration(),
            permissions=[
                quicksight.CfnDataSet.ResourcePermissionProperty(
                    principal=principal_arn, actions=DATA_SET_ACTIONS
                )
            ],
        )
        self.data_set_arn = Stack.of(self).format_arn(
            service="quicksight", resource="dataset", resource_name=self.data_set_id
        )
        self.analysis_id = f"{project_name}-forecasts"
        self.analysis = quicksight.CfnAnalysis(
            self,
            "Analysis",
            aws_account_id=Aws.ACCOUNT_ID,
            analysis_id=self.analysis_id,
            name=f"{project_name} forecasts and accuracy",
            permissions=[
                quicksight.CfnAnalysis.ResourcePermissionProperty(
                    principal=principal_arn, actions=ANALYSIS_ACTIONS
                )
            ],
        )
        # The definition is the CreateAnalysis API's shape, which CloudFormation takes as is.
        self.analysis.add_property_override(
            "Definition", analysis_definition(self.data_set.attr_arn)
        )
