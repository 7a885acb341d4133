"""The QuickSight analysis: its definition is one CreateAnalysis accepts (botocore's QuickSight
model), reads only columns the data set has, and is in the template when QuickSight is on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
from botocore.validate import validate_parameters

from infra.quicksight import COLUMN_TYPES
from infra.quicksight_analysis import CALCULATED_FIELDS, DATA_SET, analysis_definition
from tests.infra.conftest import QUICKSIGHT_PRINCIPAL
from tests.infra.synthesized import SynthesizedApp

DATA_SET_ARN = "arn:aws:quicksight:us-east-1:123456789012:dataset/ts-forecasting-forecasts"
QUICKSIGHT = botocore.session.get_session().get_service_model("quicksight")


def _columns(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "ColumnName" in value:
            yield value
        for item in value.values():
            yield from _columns(item)
    elif isinstance(value, list):
        for item in value:
            yield from _columns(item)


def test_the_definition_is_what_create_analysis_accepts() -> None:
    request = {
        "AwsAccountId": "123456789012",
        "AnalysisId": "ts-forecasting-forecasts",
        "Name": "ts-forecasting forecasts and accuracy",
        "Definition": analysis_definition(DATA_SET_ARN),
    }
    # raises ParamValidationError naming every unknown or mistyped field
    validate_parameters(request, QUICKSIGHT.operation_model("CreateAnalysis").input_shape)


def test_every_column_is_a_published_column_or_a_calculated_field() -> None:
    known = set(COLUMN_TYPES) | set(CALCULATED_FIELDS)
    used = list(_columns(analysis_definition(DATA_SET_ARN)))
    assert used and all(c["DataSetIdentifier"] == DATA_SET for c in used)
    assert {c["ColumnName"] for c in used} <= known
    for expression in CALCULATED_FIELDS.values():
        referenced = {part.split("}")[0] for part in expression.split("{")[1:]}
        assert referenced <= set(COLUMN_TYPES), expression


def test_the_band_is_p10_and_p90_dashed_around_p50_and_the_actual() -> None:
    (chart,) = analysis_definition(DATA_SET_ARN)["Sheets"][0]["Visuals"]
    configuration = chart["LineChartVisual"]["ChartConfiguration"]
    wells = configuration["FieldWells"]["LineChartAggregatedFieldWells"]
    assert [v["NumericalMeasureField"]["FieldId"] for v in wells["Values"]] == [
        "p10",
        "p50",
        "p90",
        "actual",
    ]
    dashed = {s["FieldSeriesItem"]["FieldId"] for s in configuration["Series"]}
    assert dashed == {"p10", "p90"}


def test_the_analysis_is_provisioned_with_quicksight(
    default_app: SynthesizedApp, quicksight_app: SynthesizedApp
) -> None:
    assert default_app.template.find_resources("AWS::QuickSight::Analysis") == {}
    (analysis,) = quicksight_app.template.find_resources("AWS::QuickSight::Analysis").values()
    properties = analysis["Properties"]
    data_set_id = quicksight_app.stack.resolve(
        quicksight_app.stack.quicksight.data_set.logical_id  # type: ignore[union-attr]
    )
    (declaration,) = properties["Definition"]["DataSetIdentifierDeclarations"]
    assert declaration["DataSetArn"] == {"Fn::GetAtt": [data_set_id, "Arn"]}
    (permission,) = properties["Permissions"]
    assert permission["Principal"] == QUICKSIGHT_PRINCIPAL
    assert "quicksight:QueryAnalysis" in permission["Actions"]
