"""The QuickSight analysis over the forecasts data set: what a person opens to look.

Two sheets, in QuickSight's analysis definition (the CreateAnalysis API's ``Definition``, which
CloudFormation takes unchanged as ``AWS::QuickSight::Analysis`` ``Definition``; the tests
validate it against botocore's QuickSight model):

* **Forecast vs actual**: per series (a drop-down) and run (a drop-down: runs from different
  days forecast the same hours), p50 and the actual over time, with p10 and p90 dashed around
  them: the p10-p90 band.
* **Accuracy over time**: the daily mean absolute error and mean error (bias, p50 - actual) of
  each model version, from the rows whose actual has arrived.

The SPICE data set beneath it is refreshed by the publish Lambda after every publish, so the
analysis shows each run once it is published. Pure data, no CDK import.
"""

from __future__ import annotations

from typing import Any

DATA_SET = "forecasts"  # the data set's identifier inside the definition
FORECAST_SHEET, ACCURACY_SHEET = "forecast-vs-actual", "accuracy-over-time"
# Calculated fields: QuickSight's expression language; null while the actual is unknown.
CALCULATED_FIELDS = {
    "absolute_error": "abs({p50} - {actual})",
    "error": "{p50} - {actual}",
}
ANALYSIS_ACTIONS = [
    "quicksight:RestoreAnalysis",
    "quicksight:UpdateAnalysisPermissions",
    "quicksight:DeleteAnalysis",
    "quicksight:DescribeAnalysisPermissions",
    "quicksight:QueryAnalysis",
    "quicksight:DescribeAnalysis",
    "quicksight:UpdateAnalysis",
]


def _column(name: str) -> dict[str, str]:
    return {"DataSetIdentifier": DATA_SET, "ColumnName": name}


def _time(field_id: str, granularity: str) -> dict[str, Any]:
    return {
        "DateDimensionField": {
            "FieldId": field_id,
            "Column": _column("timestamp"),
            "DateGranularity": granularity,
        }
    }


def _measure(field_id: str, column: str, aggregation: str) -> dict[str, Any]:
    return {
        "NumericalMeasureField": {
            "FieldId": field_id,
            "Column": _column(column),
            "AggregationFunction": {"SimpleNumericalAggregation": aggregation},
        }
    }


def _title(text: str) -> dict[str, Any]:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


def _line_chart(
    visual_id: str,
    title: str,
    *,
    category: dict[str, Any],
    values: list[dict[str, Any]],
    colors: list[dict[str, Any]] | None = None,
    dashed: tuple[str, ...] = (),
) -> dict[str, Any]:
    field_wells: dict[str, Any] = {"Category": [category], "Values": values}
    if colors:
        field_wells["Colors"] = colors
    configuration: dict[str, Any] = {
        "FieldWells": {"LineChartAggregatedFieldWells": field_wells},
        "Type": "LINE",
        "Legend": {"Visibility": "VISIBLE"},
    }
    if dashed:
        configuration["Series"] = [
            {
                "FieldSeriesItem": {
                    "FieldId": field_id,
                    "AxisBinding": "PRIMARY_YAXIS",
                    "Settings": {"LineStyleSettings": {"LineStyle": "DASHED"}},
                }
            }
            for field_id in dashed
        ]
    return {
        "LineChartVisual": {
            "VisualId": visual_id,
            "Title": _title(title),
            "ChartConfiguration": configuration,
        }
    }


def _dropdown_filter(column: str, sheet: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A category filter on ``column`` for one sheet, and its single-select drop-down."""
    filter_id = f"{column}-filter"
    group = {
        "FilterGroupId": f"{column}-filter-group",
        "Filters": [
            {
                "CategoryFilter": {
                    "FilterId": filter_id,
                    "Column": _column(column),
                    "Configuration": {
                        "FilterListConfiguration": {
                            "MatchOperator": "CONTAINS",
                            "SelectAllOptions": "FILTER_ALL_VALUES",
                        }
                    },
                }
            }
        ],
        "ScopeConfiguration": {
            "SelectedSheets": {
                "SheetVisualScopingConfigurations": [{"SheetId": sheet, "Scope": "ALL_VISUALS"}]
            }
        },
        "Status": "ENABLED",
        "CrossDataset": "SINGLE_DATASET",
    }
    control = {
        "Dropdown": {
            "FilterControlId": f"{column}-control",
            "Title": column,
            "SourceFilterId": filter_id,
            "Type": "SINGLE_SELECT",
        }
    }
    return group, control


def analysis_definition(data_set_arn: str) -> dict[str, Any]:
    """The analysis's ``Definition`` over the forecasts data set."""
    series_group, series_control = _dropdown_filter("series_id", FORECAST_SHEET)
    run_group, run_control = _dropdown_filter("run", FORECAST_SHEET)
    forecast_chart = _line_chart(
        "forecast-vs-actual-chart",
        "Forecast (p50, p10-p90 dashed) and actual, one series and run",
        category=_time("hour", "HOUR"),
        values=[
            _measure("p10", "p10", "AVERAGE"),
            _measure("p50", "p50", "AVERAGE"),
            _measure("p90", "p90", "AVERAGE"),
            _measure("actual", "actual", "AVERAGE"),
        ],
        dashed=("p10", "p90"),
    )
    version = {
        "CategoricalDimensionField": {"FieldId": "version", "Column": _column("model_version")}
    }
    accuracy_charts = [
        _line_chart(
            "absolute-error-chart",
            "Mean absolute error per day and model version (rows with an actual)",
            category=_time("day", "DAY"),
            values=[_measure("absolute_error", "absolute_error", "AVERAGE")],
            colors=[version],
        ),
        _line_chart(
            "bias-chart",
            "Mean error (p50 - actual) per day and model version: above 0 forecasts too high",
            category=_time("bias-day", "DAY"),
            values=[_measure("error", "error", "AVERAGE")],
            colors=[
                {
                    "CategoricalDimensionField": {
                        "FieldId": "bias-version",
                        "Column": _column("model_version"),
                    }
                }
            ],
        ),
    ]
    return {
        "DataSetIdentifierDeclarations": [{"Identifier": DATA_SET, "DataSetArn": data_set_arn}],
        "CalculatedFields": [
            {"DataSetIdentifier": DATA_SET, "Name": name, "Expression": expression}
            for name, expression in CALCULATED_FIELDS.items()
        ],
        "FilterGroups": [series_group, run_group],
        "Sheets": [
            {
                "SheetId": FORECAST_SHEET,
                "Name": "Forecast vs actual",
                "FilterControls": [series_control, run_control],
                "Visuals": [forecast_chart],
            },
            {
                "SheetId": ACCURACY_SHEET,
                "Name": "Accuracy over time",
                "Visuals": accuracy_charts,
            },
        ],
    }
