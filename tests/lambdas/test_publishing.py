"""Publishing logic on a LocalStore: parsing, validation, CSV, keys, manifest, plots, report."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import struct
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lambdas.publish import plots, publishing, report
from lambdas.publish.publishing import (
    FORECAST_COLUMNS,
    PublishError,
    join_actuals,
    manifest_key,
    parse_actuals,
    parse_forecasts,
    partition_key,
    publish,
    quicksight_manifest,
    top_series,
)
from lambdas.publish.rows import ACTUAL_COLUMNS
from lambdas.publish.stores import LocalStore

HEADER = ",".join(FORECAST_COLUMNS)
TRANSFORM = "transform/job-1"


def forecast_csv(rows: list[str]) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def tft_rows(series_id: str, base: float, steps: int = 3, version: str = "3") -> list[str]:
    return [
        f"{series_id},volume,2017-{step:02d}-01 00:00:00,{step},{base + step},"
        f"{base + step - 2},{base + step + 2},tft,{version}"
        for step in range(1, steps + 1)
    ]


ACTUALS = "\n".join(
    [
        ",".join(ACTUAL_COLUMNS),
        *(f"Agency_01/SKU_01,volume,2016-{month:02d}-01,{90 + month}" for month in range(1, 13)),
        "Agency_01/SKU_01,volume,2017-01-01T00:00:00,100",  # truth of step 1 only
        "Agency_01/SKU_01,volume,2017-02-01 00:00:00,106",  # outside p10-p90 of step 2
    ]
)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path)
    rows = tft_rows("Agency_01/SKU_01", 100) + tft_rows("Agency_02/SKU_03", 10)
    store.write(f"{TRANSFORM}/part-1.csv.out", forecast_csv(rows).encode(), "text/csv")
    store.write("data/actuals.csv", ACTUALS.encode(), "text/csv")
    return store


def publish_run(store: LocalStore, **kwargs) -> publishing.PublishResult:
    options = {
        "transform_prefix": TRANSFORM,
        "output_prefix": "forecasts",
        "run": "job-1",
        "actuals_key": "data/actuals.csv",
        "metrics": {"quantile_loss": 1.25, "mae": 0.5},
    } | kwargs
    return publish(store, **options)


def read_csv(store: LocalStore, key: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(store.read(key).decode())))


# --- happy path -------------------------------------------------------------------------------


def test_publish_writes_csv_with_actuals_beside_forecasts(store):
    result = publish_run(store)

    assert result.csv_keys == ("forecasts/model=tft/version=3/run=job-1/forecasts.csv",)
    assert (result.rows, result.series) == (6, 2)
    rows = read_csv(store, result.csv_keys[0])
    assert list(rows[0]) == [*FORECAST_COLUMNS, "actual", "run", "synthetic", "utc_offset"]
    first = rows[0]
    assert first == {
        "series_id": "Agency_01/SKU_01",
        "target": "volume",
        "timestamp": "2017-01-01 00:00:00",
        "horizon_step": "1",
        "p50": "101.0",
        "p10": "99.0",
        "p90": "103.0",
        "model": "tft",
        "model_version": "3",
        "actual": "100.0",  # joined although the actuals file wrote the time with a "T"
        "run": "job-1",
        "synthetic": "",  # no evaluation given: not known
        "utc_offset": "",  # the data has no time zone
    }
    assert [row["actual"] for row in rows] == ["100.0", "106.0", "", "", "", ""]
    assert [row["series_id"] for row in rows] == ["Agency_01/SKU_01"] * 3 + ["Agency_02/SKU_03"] * 3


def offset_rows(series_id: str, offset: str) -> list[str]:
    return [
        f"{series_id},load,2024-01-25 {hour:02d}:00:00{offset},{step},{step}.5,{step},{step + 1},"
        "informer,1"
        for step, hour in enumerate((18, 19, 20), start=1)
    ]


def test_timestamps_with_offsets_join_as_instants_and_publish_wall_clock_and_offset(tmp_path):
    """An actual at 16:00Z is the truth of the forecast for 18:00+02:00; the published
    timestamp keeps the data's wall clock (QuickSight's format) and utc_offset the offset."""
    store = LocalStore(tmp_path)
    store.write(
        f"{TRANSFORM}/part-1.csv.out",
        forecast_csv(offset_rows("HUFL", "+02:00") + offset_rows("OT", "-05:30")).encode(),
        "text/csv",
    )
    actuals = [
        ",".join(ACTUAL_COLUMNS),
        "HUFL,load,2024-01-25T16:00:00+00:00,7",  # = 18:00+02:00
        "HUFL,load,2024-01-25 17:00:00+02:00,8",  # history, before the forecast
        "OT,load,2024-01-26 00:30:00Z,9",  # = 19:00-05:30
        "OT,load,2024-01-25 19:00:00+00:00,99",  # the same wall clock, another instant
    ]
    store.write("data/actuals.csv", "\n".join(actuals).encode(), "text/csv")

    result = publish_run(store)

    rows = read_csv(store, result.csv_keys[0])
    assert [(r["series_id"], r["timestamp"], r["utc_offset"], r["actual"]) for r in rows] == [
        ("HUFL", "2024-01-25 18:00:00", "+02:00", "7.0"),
        ("HUFL", "2024-01-25 19:00:00", "+02:00", ""),
        ("HUFL", "2024-01-25 20:00:00", "+02:00", ""),
        ("OT", "2024-01-25 18:00:00", "-05:30", ""),
        ("OT", "2024-01-25 19:00:00", "-05:30", "9.0"),
        ("OT", "2024-01-25 20:00:00", "-05:30", ""),
    ]
    page = store.read(result.report_keys[0]).decode()
    assert "2024-01-25 18:00 (UTC+02:00)" in page or "2024-01-25 18:00 (UTC-05:30)" in page


@pytest.mark.parametrize(
    ("forecast_offset", "actual_stamp", "message"),
    [
        ("+02:00", "2024-01-25 17:00:00", "has no UTC offset, unlike '2024-01-25 18:00:00+02:00'"),
        ("", "2024-01-25 17:00:00+02:00", "has a UTC offset, unlike '2024-01-25 18:00:00' at "),
    ],
)
def test_offsets_and_local_times_across_forecasts_and_actuals_are_refused(
    tmp_path, forecast_offset, actual_stamp, message
):
    store = LocalStore(tmp_path)
    rows = offset_rows("HUFL", forecast_offset)
    store.write(f"{TRANSFORM}/part-1.csv.out", forecast_csv(rows).encode(), "text/csv")
    actuals = f"{','.join(ACTUAL_COLUMNS)}\nHUFL,load,{actual_stamp},7\n"
    store.write("data/actuals.csv", actuals.encode(), "text/csv")
    inputs = store.list("")

    with pytest.raises(PublishError) as caught:
        publish_run(store)
    assert "actuals.csv, line 2, column 'timestamp'" in str(caught.value)
    assert message in str(caught.value) and "part-1.csv.out, line 2" in str(caught.value)
    assert store.list("") == inputs


def test_plot_of_offset_times_shows_the_data_wall_clock():
    zone = timezone(timedelta(hours=2))
    forecast = [(datetime(2024, 1, 25, hour, tzinfo=zone), 1.0, 2.0, 3.0) for hour in (18, 19)]
    figure = plots.series_figure(title="HUFL", target="load", forecast=forecast, history=[])
    figure.canvas.draw()
    (axes,) = figure.axes

    assert axes.get_xlabel() == "time (as in the data, UTC+02:00)"
    labels = [t.get_text() for t in axes.get_xticklabels()]
    assert "18:00" in labels and "16:00" not in labels  # not drawn in UTC


def test_publish_writes_plots_report_and_manifest(store):
    result = publish_run(store)
    folder = "forecasts/reports/model=tft/version=3/run=job-1"

    # Agency_01's actuals end at step 2: a backtest plot and a future plot; Agency_02 has none
    assert result.plot_keys == (
        f"{folder}/Agency_01_SKU_01__volume-backtest.png",
        f"{folder}/Agency_01_SKU_01__volume-future.png",
        f"{folder}/Agency_02_SKU_03__volume-future.png",
    )
    assert result.report_keys == (f"{folder}/report.html",)
    assert result.manifest_keys == ("forecasts/manifests/model=tft/version=3/run=job-1.json",)
    manifest = json.loads(store.read(result.manifest_keys[0]))
    assert manifest["fileLocations"] == [{"URIPrefixes": [store.uri(result.csv_keys[0])]}]
    assert all(png_size(store.read(key)) == (900, 400) for key in result.plot_keys)


def test_manifest_is_written_last(store):
    written: list[str] = []
    original = store.write

    def recording_write(key: str, data: bytes, content_type: str) -> None:
        written.append(key)
        original(key, data, content_type)

    store.write = recording_write  # type: ignore[method-assign]
    publish_run(store)
    assert written[-1].startswith("forecasts/manifests/")
    assert sum(key.startswith("forecasts/manifests/") for key in written) == 1


def test_republishing_overwrites_the_same_keys(store, tmp_path):
    first = publish_run(store)
    contents = {key: store.read(key) for key in store.list("forecasts/")}
    second = publish_run(store)

    assert second == first
    assert {key: store.read(key) for key in store.list("forecasts/")} == contents
    assert not [path for path in tmp_path.rglob("*.tmp")]


def test_each_model_version_gets_its_own_partition_and_manifest(tmp_path):
    store = LocalStore(tmp_path)
    informer = (
        "OT,OT,2018-06-26 20:00:00,1,12.5,,,informer,local-1\n"
        "OT,OT,2018-06-26T21:00:00,2,12.75,,,informer,local-1\n"
    )
    store.write(f"{TRANSFORM}/a.csv.out", forecast_csv(tft_rows("A", 5)).encode(), "text/csv")
    store.write(f"{TRANSFORM}/b.csv.out", (HEADER + "\n" + informer).encode(), "text/csv")

    result = publish(store, transform_prefix=TRANSFORM, output_prefix="out", run="r1")

    assert result.csv_keys == (
        "out/model=informer/version=local-1/run=r1/forecasts.csv",
        "out/model=tft/version=3/run=r1/forecasts.csv",
    )
    assert len(result.manifest_keys) == 2
    rows = read_csv(store, result.csv_keys[0])
    assert [(row["p10"], row["p90"], row["actual"]) for row in rows] == [("", "", "")] * 2
    html = store.read(result.report_keys[0]).decode()
    assert "point forecast only" in html
    assert "no actuals known yet" in html


def test_transform_prefix_is_a_folder_not_a_string_prefix(store):
    other = forecast_csv(tft_rows("Z", 1))
    store.write(f"{TRANSFORM}0/x.csv.out", other.encode(), "text/csv")  # transform/job-10/
    assert publish_run(store).series == 2


# --- validation: each bad input names where it is and writes nothing ----------------------------

GOOD = tft_rows("A", 5, steps=2)
BAD_FORECASTS = [
    (
        HEADER.replace("timestamp", "time") + "\n" + GOOD[0],
        "part.csv.out, line 1: column 3 is 'time'; expected 'timestamp'",
    ),
    (HEADER + ",extra\n", "line 1: the header has 10 columns; expected 9"),
    ("", "part.csv.out: the file is empty"),
    (HEADER + "\n\n", "part.csv.out: no data rows below the header"),
    (
        forecast_csv([GOOD[0], "A,volume,2017-02-01,2,abc,1,2,tft,3"]),
        "part.csv.out, line 3, column 'p50': 'abc'; expected a finite number",
    ),
    (
        forecast_csv(["A,volume,2017-02-01,2,4,nan,5,tft,3"]),
        "line 2, column 'p10': 'nan'; expected a finite number or an empty cell",
    ),
    (
        forecast_csv(["A,volume,2017-02-01,2,4,,5,tft,3"]),
        "line 2, column 'p10': empty while the other quantile is given",
    ),
    (
        forecast_csv(["A,volume,2017-02-01,2,,1,5,tft,3"]),
        "line 2, column 'p50': empty; expected a number",
    ),
    (
        forecast_csv(["A,volume,01/02/2017,2,4,1,5,tft,3"]),
        "line 2, column 'timestamp': cannot parse timestamp '01/02/2017'; expected an ISO 8601",
    ),
    (
        forecast_csv(
            [
                "A,volume,2017-01-01T00:00:00+02:00,1,4,1,5,tft,3",
                "A,volume,2017-02-01,2,4,1,5,tft,3",
            ]
        ),
        "line 3, column 'timestamp': timestamp '2017-02-01 00:00:00' has no UTC offset, unlike "
        "'2017-01-01 00:00:00+02:00' at line 2; expected every timestamp",
    ),
    (
        forecast_csv(["A,volume,2017-02-01,0,4,1,5,tft,3"]),
        "line 2, column 'horizon_step': 0; expected an integer of at least 1",
    ),
    (
        forecast_csv(["A,volume,2017-02-01,1.5,4,1,5,tft,3"]),
        "line 2, column 'horizon_step': '1.5' is not a whole number",
    ),
    (
        forecast_csv([*GOOD, "A,volume,2017-01-01T00:00:00,1,4,1,5,tft,3"]),
        "line 4, column 'timestamp': duplicate value '2017-01-01 00:00:00' for series 'A', "
        "target 'volume', model 'tft' version '3' (first at line 2)",
    ),
    (
        forecast_csv(["A,volume,2017-02-01,1,4,1,5,tft,3,extra"]),
        "part.csv.out, line 2: 10 fields; expected 9",
    ),
    (
        forecast_csv([",volume,2017-02-01,1,4,1,5,tft,3"]),
        "line 2, column 'series_id': empty; expected a name",
    ),
    (
        forecast_csv(["A,volume,2017-02-01,1,4,1,5,tft,v=3"]),
        "line 2, column 'model_version': 'v=3' contains '/' or '='",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FORECASTS)
def test_bad_forecast_file_is_named_and_nothing_is_written(store, text, message):
    key = f"{TRANSFORM}/part.csv.out"
    store.write(key, text.encode(), "text/csv")
    inputs = store.list("")

    with pytest.raises(PublishError, match=r"part\.csv\.out") as caught:
        publish_run(store)

    assert message in str(caught.value)
    assert store.list("") == inputs


def test_duplicate_across_files_names_both(store):
    again = forecast_csv(tft_rows("Agency_02/SKU_03", 10, steps=1))
    store.write(f"{TRANSFORM}/part-2.csv.out", again.encode(), "text/csv")
    inputs = store.list("")

    with pytest.raises(PublishError, match=r"part-2\.csv\.out, line 2, column 'timestamp'") as e:
        publish_run(store)
    assert "first at file://" in str(e.value) and "part-1.csv.out, line 5" in str(e.value)
    assert store.list("") == inputs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("series_id,target,time,value\nA,v,2017-01-01,1\n", "column 3 is 'time'"),
        ("series_id,target,timestamp,value\nA,v,2017-01-01,x\n", "line 2, column 'value': 'x'"),
        (
            "series_id,target,timestamp,value\nA,v,2017-01-01,1\nA,v,2017-01-01 00:00,2\n",
            "line 3, column 'timestamp': duplicate value '2017-01-01 00:00:00'",
        ),
    ],
)
def test_bad_actuals_are_named_and_nothing_is_written(store, text, message):
    store.write("data/actuals.csv", text.encode(), "text/csv")
    inputs = store.list("")

    with pytest.raises(PublishError, match=r"actuals\.csv") as caught:
        publish_run(store)
    assert message in str(caught.value)
    assert store.list("") == inputs


def test_no_transform_outputs_is_an_error(tmp_path):
    store = LocalStore(tmp_path)
    store.write(f"{TRANSFORM}/part.csv", forecast_csv(GOOD).encode(), "text/csv")
    with pytest.raises(PublishError, match=r"job-1: no \.out files"):
        publish(store, transform_prefix=TRANSFORM, output_prefix="out", run="r")
    assert store.list("out") == []


def test_bad_run_name_is_refused_before_reading(store):
    with pytest.raises(PublishError, match="run 'a/b' contains '/'"):
        publish_run(store, run="a/b")
    assert store.list("forecasts") == []


def test_parse_accepts_the_timestamp_spellings_and_a_bom():
    text = "\ufeff" + forecast_csv(
        [
            "A,v,2017-07-01T00:00:00,1,1,,,informer,unregistered",
            "A,v,2017-07-02 00:00:00,2,1,,,informer,unregistered",
            "A,v,2017-07-03,3,1,,,informer,unregistered",
        ]
    )
    rows = parse_forecasts(text.encode(), "x.out")
    assert [row.timestamp.day for row in rows] == [1, 2, 3]
    assert rows[0].p10 is None and rows[0].line == 2


# --- pure pieces ------------------------------------------------------------------------------


def test_join_leaves_unknown_actuals_empty():
    forecasts = parse_forecasts(forecast_csv(tft_rows("A", 0, steps=2)), "f.out")
    actuals = parse_actuals("series_id,target,timestamp,value\nA,volume,2017-02-01,7\n", "a.csv")
    assert [row.actual for row in join_actuals(forecasts, actuals)] == [None, 7.0]


def test_partition_keys():
    assert partition_key("forecasts/", "tft", "3", "job") == (
        "forecasts/model=tft/version=3/run=job/forecasts.csv"
    )
    assert partition_key("", "tft", "3", "job") == "model=tft/version=3/run=job/forecasts.csv"
    assert manifest_key("f", "tft", "3", "job") == "f/manifests/model=tft/version=3/run=job.json"


@pytest.mark.parametrize(("model", "version", "run"), [("", "3", "r"), ("t", "a/b", "r")])
def test_partition_parts_are_checked(model, version, run):
    with pytest.raises(PublishError, match=r"expected a (non-empty )?name"):
        partition_key("p", model, version, run)


def test_quicksight_manifest_has_the_fields_quicksight_requires():
    uri = "s3://bucket/forecasts/model=tft/version=3/run=r/forecasts.csv"
    manifest = quicksight_manifest([uri])
    assert manifest == {
        "fileLocations": [{"URIPrefixes": [uri]}],
        "globalUploadSettings": {
            "format": "CSV",
            "delimiter": ",",
            "textqualifier": '"',
            "containsHeader": "true",
        },
    }
    json.dumps(manifest)  # plain JSON types only


@pytest.mark.parametrize("uris", [[], ["s3://b/transform/x.csv.out"], [""]])
def test_quicksight_manifest_never_points_at_transform_outputs(uris):
    with pytest.raises(ValueError, match="expected"):
        quicksight_manifest(uris)


def test_published_manifest_points_only_at_published_csv(store):
    result = publish_run(store)
    for key in result.manifest_keys:
        prefixes = json.loads(store.read(key))["fileLocations"][0]["URIPrefixes"]
        assert prefixes and all(p.endswith("/forecasts.csv") for p in prefixes)
        assert not any(".out" in p or "transform" in p for p in prefixes)


def test_top_series_ranks_by_total_absolute_p50_then_name():
    rows = parse_forecasts(
        forecast_csv(
            [
                "small,v,2017-01-01,1,1,,,m,1",
                "neg,v,2017-01-01,1,-50,,,m,1",
                "big,v,2017-01-01,1,30,,,m,1",
                "big,v,2017-01-02,2,30,,,m,1",
                "tie,v,2017-01-01,1,1,,,m,1",
            ]
        ),
        "f.out",
    )
    assert top_series(rows, 3) == [("big", "v"), ("neg", "v"), ("small", "v")]
    assert top_series(rows, 10, score=lambda r: -len(r))[0] == ("neg", "v")


def test_safe_file_names_are_unique(tmp_path):
    store = LocalStore(tmp_path)
    rows = tft_rows("a/b", 5) + tft_rows("a b", 5)
    store.write(f"{TRANSFORM}/x.out", forecast_csv(rows).encode(), "text/csv")
    result = publish(store, transform_prefix=TRANSFORM, output_prefix="o", run="r")
    names = [key.rsplit("/", 1)[1] for key in result.plot_keys]
    assert names == ["a_b__volume-future.png", "a_b__volume-future-2.png"]


# --- PNG and HTML -----------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature and its CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    (length,) = struct.unpack(">I", data[8:12])
    kind, body = data[12:16], data[16 : 16 + length]
    assert kind == b"IHDR"
    assert struct.unpack(">I", data[16 + length : 20 + length])[0] == zlib.crc32(kind + body)
    width, height = struct.unpack(">II", body[:8])
    return width, height


def test_plot_has_axis_labels_with_units_ticks_title_and_legend():
    forecast = [(datetime(2017, 1, day), 8.0, 10.0, 12.0) for day in range(1, 11)]
    history = [(datetime(2016, 12, day), 9.0) for day in range(1, 32)]
    figure = plots.series_figure(
        title="Forecast of A", target="load_kw", forecast=forecast, history=history
    )
    figure.canvas.draw()  # tick labels are only laid out when drawn
    (axes,) = figure.axes

    assert axes.get_title() == "Forecast of A"
    assert axes.get_xlabel().startswith("time")
    assert axes.get_ylabel() == "load_kw (target units)"
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "forecast p10–p90",
        "observed (history and actuals)",
        "forecast start",
        "forecast p50 (median)",
    ]
    assert [t.get_text() for t in axes.get_yticklabels() if t.get_text()]
    assert [t.get_text() for t in axes.get_xticklabels() if t.get_text()]
    png = plots.to_png(figure)
    assert png_size(png) == (900, 400)
    assert png == plots.to_png(figure)  # no timestamp: a republish writes the same bytes


def test_plot_of_synthetic_data_says_so_in_the_title():
    forecast = [(datetime(2017, 1, day), None, 10.0, None) for day in range(1, 4)]
    figure = plots.series_figure(
        title="T", target="v", forecast=forecast, history=[], synthetic=True
    )
    assert figure.axes[0].get_title() == "SYNTHETIC DATA: T"
    # a point forecast without history: only the median is drawn
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == ["forecast p50 (median)"]


def test_plot_shows_band_and_median_of_a_series():
    forecast = [(datetime(2017, 1, day), 8.0, 10.0, 12.0) for day in range(1, 11)]
    history = [(datetime(2016, 12, day), 9.0) for day in range(1, 32)]
    history += [(datetime(2017, 1, 1), 9.5), (datetime(2017, 3, 1), 7.0)]
    figure = report.plot_series(
        series_id="A",
        target="v",
        kind="backtest",
        forecast=forecast,
        history=history,
        file_name="A.png",
    )
    assert figure.has_band and figure.has_history
    # history is cut to 3 × horizon = 30 points before the forecast, 2 to 31 December, and
    # the actuals inside it; not the later ones, which belong to another forecast
    assert figure.start == datetime(2016, 12, 2) and figure.end == datetime(2017, 1, 10)
    assert png_size(figure.png) == (900, 400)


def test_report_contains_metrics_images_and_escapes_names(tmp_path):
    store = LocalStore(tmp_path)
    rows = tft_rows("<b>&co", 5)
    store.write(f"{TRANSFORM}/x.out", forecast_csv(rows).encode(), "text/csv")
    result = publish(
        store,
        transform_prefix=TRANSFORM,
        output_prefix="o",
        run="r",
        metrics={"mase<1>": 0.912345, "note": "a & b"},
    )
    html = store.read(result.report_keys[0]).decode()

    assert "<b>&co" not in html and "&lt;b&gt;&amp;co" in html
    assert "mase&lt;1&gt;</th><td>0.9123</td>" in html
    assert "a &amp; b" in html
    assert '<img src="b_co__volume-future.png"' in html
    assert "run r" in html and "tft" in html


def test_report_computes_mae_and_coverage_where_actuals_are_known(store):
    result = publish_run(store)
    html = store.read(result.report_keys[0]).decode()
    # step 1: p50 101 vs 100 (inside 99..103); step 2: p50 102 vs 106 (outside 100..104)
    assert "MAE of p50 vs actual (published rows)</th><td>2.5 (2 rows)</td><td>target units" in html
    assert "coverage (nominal 80 %)</th><td>50.0% (2 rows)" in html
    assert "quantile_loss</th><td>1.25" in html


def test_report_says_which_rows_are_a_backtest_and_which_the_future(store):
    """Agency_01's actuals end 2017-02-01: its first two steps are a backtest, the third and
    every step of Agency_02 (no actuals) forecast the future."""
    html = store.read(publish_run(store).report_keys[0]).decode()

    assert "<h3>Backtest (actuals known)</h3>" in html
    assert "<h3>Forecast past the last actual</h3>" in html
    assert (
        "<strong>Backtest</strong>: 2 rows of 1 series, 2017-01-01 00:00 to 2017-02-01 00:00"
    ) in html
    assert (
        "<strong>Future</strong>: 4 rows of 2 series, 2017-01-01 00:00 to 2017-03-01 00:00, "
        "after the data&#x27;s end (2017-02-01 00:00)"
    ) in html


def test_future_only_without_actuals(store):
    html = store.read(publish_run(store, actuals_key=None).report_keys[0]).decode()
    assert "Backtest" not in html and "this run forecast no future" not in html
    assert "<strong>Future</strong>: 6 rows of 2 series" in html and "no actuals known" in html


INFORMER_EVALUATION = {
    "regression_metrics": {"mse": {"value": 0.43}, "mae": {"value": 0.45}, "mape": {"value": 9.5}},
    "original_scale_metrics": {"mse": {"value": 4.1}, "mae": {"value": 1.6}},
    "evaluation": {
        "split": "test",
        "scale": "standardized (scaler fitted on the training rows)",
        "targets": ["OT"],
        "synthetic": True,
    },
}


def test_report_gives_each_metric_its_scale(store):
    html = store.read(publish_run(store, evaluation=INFORMER_EVALUATION).report_keys[0]).decode()
    rows = {
        "test mse</th><td>0.43</td><td>squared standardized (scaler fitted on the training rows)",
        "test mae</th><td>0.45</td><td>standardized (scaler fitted on the training rows)",
        "test mape</th><td>9.5</td><td>percent of the actual value",
        "test mse, original units</th><td>4.1</td><td>squared units of OT",
        "test mae, original units</th><td>1.6</td><td>units of OT",
    }
    assert all(row in html for row in rows), [row for row in rows if row not in html]
    assert '<th scope="col">Scale</th>' in html


def test_tft_quantile_metrics_are_ratios_and_point_metrics_target_units():
    about = {"scale": "original units of 'volume'", "targets": ["volume"]}
    assert report.metric_scale("q_risk_p50", "regression_metrics", about).startswith("ratio")
    assert report.metric_scale("mae", "regression_metrics", about) == "original units of 'volume'"
    assert report.metric_scale("mse", "regression_metrics", {}).startswith("squared not recorded")


def test_synthetic_data_is_marked_on_csv_manifest_plots_and_report(store):
    result = publish_run(store, evaluation=INFORMER_EVALUATION)

    assert {row["synthetic"] for row in read_csv(store, result.csv_keys[0])} == {"true"}
    assert result.manifest_keys == (
        "forecasts/manifests/model=tft/version=3/run=job-1.SYNTHETIC-DATA.json",
    )
    html = store.read(result.report_keys[0]).decode()
    assert "<title>SYNTHETIC DATA: Forecasts: tft version 3, run job-1</title>" in html
    assert '<p class="synthetic">SYNTHETIC DATA:' in html
    real = publish_run(store, evaluation={"evaluation": {"synthetic": False}}, run="job-2")
    assert {row["synthetic"] for row in read_csv(store, real.csv_keys[0])} == {"false"}
    assert "SYNTHETIC" not in store.read(real.report_keys[0]).decode()
    assert real.manifest_keys == ("forecasts/manifests/model=tft/version=3/run=job-2.json",)


def test_synthetic_plot_title_is_marked(store, monkeypatch):
    titles = []
    original = plots.series_figure

    def recording(**kwargs):
        figure = original(**kwargs)
        titles.append(figure.axes[0].get_title())
        return figure

    monkeypatch.setattr(plots, "series_figure", recording)
    publish_run(store, evaluation=INFORMER_EVALUATION)
    assert titles and all(title.startswith("SYNTHETIC DATA: ") for title in titles)


def test_report_says_how_many_series_are_plotted(store):
    html = store.read(publish_run(store, top_k=1).report_keys[0]).decode()
    assert "The 1 series with the largest total |p50| of 2; the data file holds all" in html
    html = store.read(publish_run(store).report_keys[0]).decode()
    assert "All 2 series." in html


def test_interpretation_images_are_published_beside_the_report(store):
    image = report.Image("interpretation_attention.png", b"\x89PNG fake", "encoder attention")
    result = publish_run(store, images=[image])
    folder = "forecasts/reports/model=tft/version=3/run=job-1"

    assert f"{folder}/interpretation/interpretation_attention.png" in result.plot_keys
    assert store.read(f"{folder}/interpretation/interpretation_attention.png") == image.png
    html = store.read(result.report_keys[0]).decode()
    assert "<h2>Model interpretation</h2>" in html
    assert '<img src="interpretation/interpretation_attention.png" alt="encoder attention">' in html
    with pytest.raises(PublishError, match=r"image file name '\.\./x\.png'"):
        publish_run(store, images=[report.Image("../x.png", b"", "")])


# --- LocalStore -------------------------------------------------------------------------------


def test_local_store_lists_by_prefix_and_refuses_keys_outside_the_root(tmp_path):
    store = LocalStore(tmp_path / "root")
    assert store.list("") == []
    store.write("a/b/c.txt", b"1", "text/plain")
    store.write("a/bc.txt", b"2", "text/plain")
    store.write("a/b/c.txt", b"3", "text/plain")

    assert store.list("a/b") == ["a/b/c.txt", "a/bc.txt"]
    assert store.list("a/b/") == ["a/b/c.txt"]
    assert store.read("a/b/c.txt") == b"3"
    assert store.uri("a/b/c.txt") == (tmp_path / "root/a/b/c.txt").resolve().as_uri()
    for key in ("../x", "/etc/passwd", ""):
        with pytest.raises(ValueError, match="expected a relative path"):
            store.write(key, b"", "text/plain")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_local_store_files_get_the_umask_mode_not_0600(tmp_path, umask):
    previous = os.umask(umask)
    try:
        LocalStore(tmp_path).write("a/b.csv", b"1", "text/csv")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a/b.csv").stat().st_mode) == 0o666 & ~umask


def test_plot_history_is_a_time_window_not_a_count_of_points():
    """A forecast past the data's end beside the backtest's older history: only the recent
    history is drawn, not a line across the months between them."""
    hour = timedelta(hours=1)
    end = datetime(2018, 6, 26, 23)
    forecast = [(end + step * hour, None, 1.0, None) for step in range(1, 25)]
    recent = [(end - step * hour, 2.0) for step in range(48)]  # fewer than 3 × 24 points
    older = [(datetime(2018, 2, 20) + step * hour, 3.0) for step in range(72)]

    shown = plots.shown_history(forecast, sorted(older + recent))
    assert shown == sorted(recent)


def test_report_says_when_nothing_was_forecast_past_the_data(store):
    rows = [
        f"{series},volume,2017-{month:02d}-01,{month}"
        for series in ("Agency_01/SKU_01", "Agency_02/SKU_03")
        for month in range(1, 4)
    ]
    store.write("data/all.csv", "\n".join([",".join(ACTUAL_COLUMNS), *rows]).encode(), "text/csv")
    html = store.read(publish_run(store, actuals_key="data/all.csv").report_keys[0]).decode()
    assert "<strong>Backtest</strong>: 6 rows of 2 series" in html
    assert "Nothing past the last actual: this run forecast no future." in html


def test_each_run_is_its_own_partition_and_nothing_overwrites(store: LocalStore) -> None:
    """Scheduled runs of one version (job names differ by input content) publish side by side:
    the second run writes new keys only, and the stable manifest's version folder reads both."""
    from lambdas.publish import data_set
    from lambdas.publish.handler import write_data_set_manifest

    first = publish_run(store, run="ts-forecasting-v3-c0a1b2c3")
    before = {key: store.read(key) for key in store.list("forecasts/")}
    day2 = tft_rows("Agency_01/SKU_01", 200)  # the next day's histories forecast other values
    store.write("transform/job-2/part-1.csv.out", forecast_csv(day2).encode(), "text/csv")
    second = publish_run(
        store, run="ts-forecasting-v3-cd4e5f60", transform_prefix="transform/job-2"
    )

    written = [*second.csv_keys, *second.plot_keys, *second.report_keys, *second.manifest_keys]
    assert not set(written) & set(before)  # nothing of the first run rewritten
    assert all(store.read(key) == body for key, body in before.items())
    assert first.csv_keys != second.csv_keys
    assert {row["run"] for row in read_csv(store, second.csv_keys[0])} == {
        "ts-forecasting-v3-cd4e5f60"
    }
    summary = write_data_set_manifest(store, "forecasts/manifest.json", "forecasts")
    assert summary["data_set_files"] == 2
    manifest = json.loads(store.read("forecasts/manifest.json"))
    (prefix,) = manifest["fileLocations"][0]["URIPrefixes"]
    assert all(
        key.startswith("forecasts/model=tft/version=3/")
        for key in (*first.csv_keys, *second.csv_keys)
    )
    assert prefix == store.uri("forecasts/model=tft/version=3/")
    assert data_set.MANIFEST_FILE_LIMIT == 1000  # one file per run: the limit the folder meets
