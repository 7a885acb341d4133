"""The join of published forecasts with actuals that arrive late and in parts, and each measure
against a hand computation (lambdas/accuracy/scoring.py)."""

from __future__ import annotations

import csv
import io
import math

import pytest

from lambdas.accuracy.actuals import Arrived
from lambdas.accuracy.scoring import (
    ACCURACY_COLUMNS,
    AccuracyError,
    format_accuracy_csv,
    score,
)
from lambdas.publish.publishing import PUBLISHED_COLUMNS
from lambdas.publish.rows import PublishError

ACTUALS_HEADER = "series_id,target,timestamp,value\n"


def merge_actuals(files):
    """The long-format actuals of ``files`` (no version's training columns needed)."""
    return Arrived.read(files).for_version(None, "1")


def published(rows: list[tuple[str, int, float, str, str, str]], offset: str = "") -> bytes:
    """forecasts.csv of model m, version 1, run r1, series a/y: (time, step, p50, p10, p90, v)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PUBLISHED_COLUMNS)
    for stamp, step, p50, p10, p90, version in rows:
        writer.writerow(
            ["a", "y", stamp, step, p50, p10, p90, "m", version, "", "r1", "false", offset]
        )
    return out.getvalue().encode()


FORECASTS = published(
    [
        ("2026-01-01 00:00:00", 1, 10.0, "8", "11", "1"),
        ("2026-01-02 00:00:00", 2, 20.0, "15", "25", "1"),
        ("2026-01-03 00:00:00", 3, 30.0, "", "", "1"),
    ]
)


def test_only_matched_points_count_and_late_actuals_join_when_they_arrive():
    forecasts = FORECASTS
    day_one = (ACTUALS_HEADER + "a,y,2026-01-01 00:00:00,12\n").encode()
    early = score(forecasts, "f.csv", merge_actuals([("actuals/1.csv", day_one)]))
    assert (early.versions["m", "1"].matched, early.versions["m", "1"].pending) == (1, 2)
    # the next delivery repeats day 1 (same value: fine) and adds day 2; day 3 stays pending
    day_two = (ACTUALS_HEADER + "a,y,2026-01-01 00:00:00,12\na,y,2026-01-02 00:00:00,20\n").encode()
    late = score(
        forecasts, "f.csv", merge_actuals([("actuals/1.csv", day_one), ("actuals/2.csv", day_two)])
    )
    version = late.versions["m", "1"]
    assert (version.forecasts, version.matched, version.pending) == (3, 2, 1)
    # hand computation: errors -2 and 0
    assert version.mae == pytest.approx(1.0)
    assert version.bias == pytest.approx(-1.0)
    assert version.smape == pytest.approx((200 * 2 / 22 + 0) / 2)
    assert version.coverage == pytest.approx(0.5)  # 12 outside [8, 11]; 20 inside [15, 25]
    step_one = late.cells["m", "1", "a", "y", 1]
    assert (step_one.mae, step_one.bias, step_one.smape, step_one.coverage) == (
        2.0,
        -2.0,
        pytest.approx(18.181818),
        0.0,
    )
    step_three = late.cells["m", "1", "a", "y", 3]
    assert (step_three.matched, step_three.mae, step_three.coverage) == (0, None, None)


def test_smape_leaves_out_points_where_forecast_and_actual_are_both_zero():
    forecasts = published(
        [
            ("2026-01-01 00:00:00", 1, 0.0, "", "", "1"),
            ("2026-01-02 00:00:00", 2, 1, "", "", "1"),
        ]
    )
    actuals = (ACTUALS_HEADER + "a,y,2026-01-01,0\na,y,2026-01-02,3\n").encode()
    version = score(forecasts, "f.csv", merge_actuals([("a.csv", actuals)])).versions["m", "1"]
    assert (version.matched, version.smape_points) == (2, 1)
    assert version.smape == pytest.approx(200 * 2 / 4)
    assert version.mae == pytest.approx(1.0) and version.coverage is None


def test_actuals_join_as_instants_across_utc_offsets():
    forecasts = published([("2026-01-01 18:00:00", 1, 10.0, "", "", "1")], offset="+02:00")
    actuals = (ACTUALS_HEADER + "a,y,2026-01-01 16:00:00+00:00,11\n").encode()
    version = score(forecasts, "f.csv", merge_actuals([("a.csv", actuals)])).versions["m", "1"]
    assert version.matched == 1 and version.mae == pytest.approx(1.0)


def test_actuals_without_offsets_for_forecasts_with_offsets_are_an_error():
    forecasts = published([("2026-01-01 18:00:00", 1, 10.0, "", "", "1")], offset="+02:00")
    actuals = (ACTUALS_HEADER + "a,y,2026-01-01 16:00:00,11\n").encode()
    with pytest.raises(AccuracyError, match=r"a\.csv, line 2, column 'timestamp'.*offset"):
        score(forecasts, "f.csv", merge_actuals([("a.csv", actuals)]))


def test_two_files_that_disagree_about_a_point_are_named():
    first = (ACTUALS_HEADER + "a,y,2026-01-01,12\n").encode()
    second = (ACTUALS_HEADER + "a,y,2026-01-02,1\na,y,2026-01-01,13\n").encode()
    with pytest.raises(AccuracyError, match=r"b\.csv, line 3, column 'value'.*a\.csv, line 2"):
        merge_actuals([("a.csv", first), ("b.csv", second)])


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ("a,y,yesterday,1", "line 2, column 'timestamp'"),
        ("a,y,2026-01-01,12 kW", "line 2, column 'value'"),
        ("a,,2026-01-01,1", "line 2, column 'target'"),
    ],
)
def test_a_bad_actual_names_its_file_line_and_column(row, where):
    with pytest.raises(PublishError, match=rf"actuals/day\.csv, {where}"):
        merge_actuals([("actuals/day.csv", (ACTUALS_HEADER + row + "\n").encode())])


def test_a_misspelt_long_header_is_read_as_training_columns_and_named():
    """Not the long header: the file is in the training data's columns, and names what lacks."""
    from lambdas.accuracy.actuals import ColumnContract

    contract = ColumnContract("date", (), ("OT",), "/", True)
    arrived = Arrived.read([("x.csv", b"series_id,target,timestamp,valu\na,OT,2026-01-01,1\n")])
    with pytest.raises(
        AccuracyError,
        match=r"x\.csv, line 1: no column 'date' \(the time\), "
        r"'OT' \(a target\); expected the columns version 1 was trained on: "
        r"date, OT \(or the long format 'series_id,target,timestamp,value'\)",
    ):
        arrived.for_version(contract, "1")


@pytest.mark.parametrize(
    ("old", "new", "column"),
    [
        (b",20.0,", b",twenty,", "p50"),
        (b",20.0,", b",inf,", "p50"),
        (b",20.0,15,", b",20.0,nan,", "p10"),
        (b",20.0,15,25,", b",20.0,15,1e999,", "p90"),
        (b",2,20.0,", b",two,20.0,", "horizon_step"),
    ],
)
def test_a_bad_published_cell_names_file_line_and_column(old, new, column):
    bad = FORECASTS.replace(old, new)
    assert bad != FORECASTS
    with pytest.raises(AccuracyError, match=rf"f\.csv, line 3, column '{column}'"):
        score(bad, "f.csv", {})


def test_blank_quantiles_are_a_point_forecast_and_blanks_around_numbers_are_read():
    padded = FORECASTS.replace(b",20.0,15,25,", b", 20.0 ,15 , 25,").replace(
        b",30.0,,,", b",30.0, , ,"
    )
    assert padded != FORECASTS
    actuals = (ACTUALS_HEADER + "a,y,2026-01-02,20\na,y,2026-01-03,30\n").encode()
    scores = score(padded, "f.csv", merge_actuals([("a.csv", actuals)]))
    assert scores.cells["m", "1", "a", "y", 2].coverage == 1.0
    assert scores.cells["m", "1", "a", "y", 3].coverage is None
    assert scores.versions["m", "1"].mae == 0.0


def test_the_accuracy_table_has_one_row_per_version_series_target_and_step():
    forecasts = FORECASTS
    actuals = (ACTUALS_HEADER + "a,y,2026-01-01,12\n").encode()
    text = format_accuracy_csv(score(forecasts, "f.csv", merge_actuals([("a.csv", actuals)])))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == ACCURACY_COLUMNS
    assert [r["horizon_step"] for r in rows] == ["1", "2", "3"]
    first = rows[0]
    assert (first["matched"], first["pending"], first["mae"], first["bias"]) == (
        "1",
        "0",
        "2.0",
        "-2.0",
    )
    assert math.isclose(float(first["smape"]), 200 * 2 / 22)
    assert rows[1]["mae"] == "" and rows[1]["pending"] == "1"
    assert first["first_timestamp"] == "2026-01-01 00:00:00"


def test_the_accuracy_lambda_needs_no_matplotlib_and_agrees_with_publishing():
    """Only the publish Lambda has the plotting layer; the accuracy code takes the two facts it
    shares with lambdas.publish.publishing from their light home, lambdas.publish.keys."""
    import subprocess
    import sys

    from lambdas.accuracy import tracking
    from lambdas.publish import publishing

    check = "import sys, lambdas.accuracy.handler; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], check=False).returncode == 0
    assert tracking.FORECASTS_FILE == publishing.FORECASTS_FILE
    uri = "s3://bucket/forecasts/accuracy/model=m/accuracy.csv"
    assert tracking.quicksight_manifest([uri]) == publishing.quicksight_manifest([uri])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (12.345, "12.345"),
        (-0.5, "-0.5"),
        (100.0, "100.0"),
        (1e-05, "0.00001"),
        (1.5e16, "15000000000000000"),
        (float("inf"), "Infinity"),
        (None, ""),
    ],
)
def test_numbers_in_the_table_are_plain_decimals_that_read_back_exactly(value, text):
    """QuickSight reads scientific notation as text; the digits are the shortest round trip."""
    from lambdas.accuracy.scoring import decimal_text

    assert decimal_text(value) == text
    if value is not None:
        assert float(text) == value
