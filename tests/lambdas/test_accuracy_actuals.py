"""Actuals in the training data's own columns (lambdas/accuracy/actuals.py): an ETT-shaped and a
Stallion-shaped file join the forecasts of a version whose evaluation.json recorded its columns
(forecasting.series_naming, the rule each family's serving names its series with); late and
partial files; wrong columns and bad cells are named; the format is the header's, not the name's.
"""

from __future__ import annotations

import csv
import io

import pytest

from forecasting.series_naming import SeriesNaming
from lambdas.accuracy.actuals import Arrived, ColumnContract
from lambdas.accuracy.drift import DriftPolicy
from lambdas.accuracy.scoring import AccuracyError
from lambdas.accuracy.tracking import track
from lambdas.publish.publishing import PUBLISHED_COLUMNS
from lambdas.publish.rows import PublishError
from lambdas.publish.stores import LocalStore

MODEL = "m"
# What each family's evaluation records (models/informer/evaluation.py, models/tft/evaluation.py)
ETT = SeriesNaming("date", (), ("HUFL", "OT"), target_in_id=True)
STALLION = SeriesNaming("date", ("agency", "sku"), ("volume",), target_in_id=False)


def evaluation(naming: SeriesNaming | None) -> dict:
    report: dict = {"regression_metrics": {"smape": {"value": 10.0}}, "evaluation": {}}
    if naming is not None:
        report["evaluation"]["columns"] = naming.to_dict()
    return report


def publish(root, version: str, rows: list[tuple[str, str, str, int, float]]) -> None:
    """forecasts.csv of ``version``: (series_id, target, timestamp, step, p50), as published."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PUBLISHED_COLUMNS)
    for series_id, target, stamp, step, p50 in rows:
        writer.writerow(
            [series_id, target, stamp, step, p50, "", "", MODEL, version, "", "r", "false", ""]
        )
    path = root / f"forecasts/model={MODEL}/version={version}/run=r/forecasts.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue())


def arrive(root, name: str, text: str) -> None:
    path = root / "actuals" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def run(root, namings: dict[str, SeriesNaming | None]):
    store = LocalStore(root)
    return track(
        store,
        store,
        model=MODEL,
        forecasts_prefix="forecasts",
        evaluation=lambda version: evaluation(namings[version]) if version in namings else None,
        policy=DriftPolicy(),
    )


def test_ett_shaped_actuals_join_each_target_of_the_informers_forecasts(tmp_path):
    publish(
        tmp_path,
        "1",
        [
            ("HUFL", "HUFL", "2018-06-27 00:00:00", 1, 5.0),
            ("OT", "OT", "2018-06-27 00:00:00", 1, 10.0),
            ("HUFL", "HUFL", "2018-06-27 01:00:00", 2, 6.0),
            ("OT", "OT", "2018-06-27 01:00:00", 2, 12.0),
        ],
    )
    # the training file's columns: the time, the targets and a covariate (MS mode), any order
    arrive(tmp_path, "day.csv", "date,HULL,OT,HUFL\n2018-06-27 00:00:00,1.0,11,4\n")
    tracked = run(tmp_path, {"1": ETT})
    version = tracked.scores.versions[MODEL, "1"]
    assert (version.matched, version.pending) == (2, 2)
    assert version.mae == pytest.approx(1.0)  # |5 - 4| and |10 - 11|
    assert tracked.scores.cells[MODEL, "1", "OT", "OT", 1].bias == pytest.approx(-1.0)
    assert any(
        "day.csv: column(s) 'HULL' neither the time, a series id nor a target of version 1: "
        "ignored" in note
        for note in tracked.notes
    )


def test_stallion_shaped_actuals_join_by_the_group_columns_late_and_partial(tmp_path):
    stamps = ["2018-01-01 00:00:00", "2018-02-01 00:00:00"]
    publish(
        tmp_path,
        "1",
        [
            (f"Agency_0{a}/SKU_01", "volume", stamp, step, 100.0)
            for a in (1, 2)
            for step, stamp in enumerate(stamps, start=1)
        ],
    )
    header = "agency,sku,date,volume,price_regular,soda_volume\n"
    # January for one agency only; the other's volume still empty (not observed yet)
    january = "Agency_01,SKU_01,2018-01-01,90,1.5,7\nAgency_02,SKU_01,2018-01-01,,1.5,7\n"
    arrive(tmp_path, "2018-01.csv", header + january)
    first = run(tmp_path, {"1": STALLION}).scores.versions[MODEL, "1"]
    assert (first.matched, first.pending) == (1, 3)
    # late: the rest of January (the same row again is fine) and February arrive
    late = (
        "Agency_01,SKU_01,2018-01-01,90,1.5,7\n"
        "Agency_02,SKU_01,2018-01-01,110,1.5,7\n"
        "Agency_01,SKU_01,2018-02-01,100,1.5,7\n"
    )
    arrive(tmp_path, "2018-02.csv", header + late)
    tracked = run(tmp_path, {"1": STALLION})
    later = tracked.scores.versions[MODEL, "1"]
    assert (later.matched, later.pending) == (3, 1)
    assert later.mae == pytest.approx((10 + 10 + 0) / 3)
    assert tracked.actuals == 3


def test_long_and_training_shaped_files_mix_and_must_agree(tmp_path):
    publish(tmp_path, "1", [("OT", "OT", "2018-06-27 00:00:00", 1, 10.0)])
    arrive(tmp_path, "a.csv", "series_id,target,timestamp,value\nOT,OT,2018-06-27 00:00:00,11\n")
    arrive(tmp_path, "b.csv", "date,HUFL,OT\n2018-06-27,4,11\n")
    assert run(tmp_path, {"1": ETT}).scores.versions[MODEL, "1"].matched == 1
    arrive(tmp_path, "b.csv", "date,HUFL,OT\n2018-06-27,4,12\n")
    with pytest.raises(AccuracyError, match=r"b\.csv, line 2, column 'value': 12\.0.*a\.csv"):
        run(tmp_path, {"1": ETT})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "date,HUFL\n2018-06-27,4\n",
            r"a\.csv, line 1: no column 'OT' \(a target\); expected the columns version 1 was "
            r"trained on: date, HUFL, OT \(or the long format",
        ),
        (
            "Date,HUFL,OT\n2018-06-27,4,1\n",
            r"a\.csv, line 1: no column 'date' \(the time\)",
        ),
        ("date,HUFL,OT\n2018-06-27,4,1\n27/06/2018,4,1\n", r"a\.csv, line 3, column 'date'"),
        ("date,HUFL,OT\n2018-06-27,4,hot\n", r"a\.csv, line 2, column 'OT': 'hot'"),
        ("date,HUFL,OT\n2018-06-27,4,1\n2018-06-27,4,1\n", r"a\.csv, line 3: series 'HUFL'"),
        ("date,OT,HUFL,OT\n2018-06-27,4,1,2\n", r"a\.csv, line 1: column\(s\) 'OT' more than once"),
    ],
)
def test_wrong_columns_and_bad_cells_name_file_line_and_column(tmp_path, text, message):
    publish(tmp_path, "1", [("OT", "OT", "2018-06-27 00:00:00", 1, 10.0)])
    arrive(tmp_path, "a.csv", text)
    with pytest.raises(PublishError, match=message):  # AccuracyError's base
        run(tmp_path, {"1": ETT})
    assert not (tmp_path / "forecasts/accuracy").exists()  # nothing half-written


def test_a_stallion_file_without_its_id_columns_is_named(tmp_path):
    publish(tmp_path, "1", [("Agency_01/SKU_01", "volume", "2018-01-01 00:00:00", 1, 1.0)])
    arrive(tmp_path, "a.csv", "agency,date,volume\nAgency_01,2018-01-01,1\n")
    with pytest.raises(AccuracyError, match=r"a\.csv, line 1: no column 'sku' \(a series id\)"):
        run(tmp_path, {"1": STALLION})


def test_a_version_without_recorded_columns_says_so_and_uses_the_long_files(tmp_path):
    publish(tmp_path, "1", [("OT", "OT", "2018-06-27 00:00:00", 1, 10.0)])
    arrive(tmp_path, "long.csv", "series_id,target,timestamp,value\nOT,OT,2018-06-27,11\n")
    arrive(tmp_path, "shaped.csv", "date,HUFL,OT\n2018-06-27,4,11\n")
    tracked = run(tmp_path, {"1": None})
    assert tracked.scores.versions[MODEL, "1"].matched == 1
    (note,) = tracked.notes
    assert "version 1 recorded no training columns" in note and "shaped.csv" in note


def test_the_format_is_the_headers_not_the_files_name(tmp_path):
    publish(tmp_path, "1", [("OT", "OT", "2018-06-27 00:00:00", 1, 10.0)])
    arrive(tmp_path, "series_id-target-timestamp-value.csv", "date,HUFL,OT\n2018-06-27,4,11\n")
    assert run(tmp_path, {"1": ETT}).scores.versions[MODEL, "1"].matched == 1


@pytest.mark.parametrize("naming", [ETT, STALLION])
def test_the_recorded_contract_names_series_as_the_models_rule_does(naming):
    contract = ColumnContract.from_evaluation(evaluation(naming), "evaluation.json")
    assert contract is not None and contract.columns[0] == "date"
    for ids in ([], ["k"], ["Agency_01", "SKU_01"], ["", "x"]):
        for target in naming.targets:
            assert contract.series_id(ids, target) == naming.series_id(ids, target)


def test_a_malformed_contract_names_the_evaluation():
    broken = {"evaluation": {"columns": {"time_column": "date", "targets": []}}}
    with pytest.raises(AccuracyError, match=r"v1\.json: 'evaluation\.columns' is"):
        ColumnContract.from_evaluation(broken, "v1.json")


def test_an_empty_actuals_file_is_named():
    with pytest.raises(PublishError, match=r"e\.csv: the file is empty"):
        Arrived.read([("e.csv", b"")])
