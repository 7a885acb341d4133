"""Accuracy over several days, end to end in local mode, through the real code paths:

day 1: a tiny Informer is trained, registered and approved; approval forecasts and publishes
(the backtest, whose actuals the run already put under the actuals prefix, and the future);
day 2: the first half of the future's actuals arrive, in the training data's columns (as
version 1 registered them), close to the forecast: accuracy is computed, no alarm; day 3: the
rest arrive far off (drift): the alarm fires and ``--retrain`` starts a run that registers
version 2; day 4: the same actuals again: no second alarm, no second retrain (cool-down).

The scheduled ``forecast`` command is the ops-schedule engineer's; this test forecasts through
the approval path that exists on this branch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest

from lambdas.accuracy.drift import DEFAULT_ALARM_RATIO
from lambdas.accuracy.scoring import ACCURACY_COLUMNS
from local_mode import cli
from local_mode.layout import Home
from local_mode.registry import Registry

TINY = [
    "--dataset", "demo", "--max-epochs", "1", "--hosts", "1", "--threshold", "100",
    "-P", "seq_len=16", "-P", "pred_len=4",
    "-H", "label_len=8", "-H", "d_model=16",
    "-H", "n_heads=2", "-H", "d_ff=32", "-H", "factor=3", "-H", "batch_size=16",
    "-H", "progress_bar=false", "-H", "limit_train_batches=4", "-H", "limit_val_batches=2",
]  # fmt: skip
GROUP = "ts-forecasting"


def said(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(argv)
    return out.getvalue()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def version_line(output: str, version: str) -> list[str]:
    """The version's row of the accuracy command's table (11 columns, the status last)."""
    (cells,) = [
        row.split()
        for row in output.splitlines()
        if row.split()[:1] == [version] and len(row.split()) == 11
    ]
    return cells


def arrive(home: Home, name: str, rows: list[dict[str, str]], value) -> None:
    """An actuals file for ``rows`` of the published forecasts, ``value(p50)`` each, in the
    training data's columns (the time, then each target), as version 1 registered them."""
    columns = Registry(home.registry).get(GROUP, 1).metrics["evaluation"]["columns"]
    time, targets = columns["time_column"], columns["targets"]
    by_time: dict[str, dict[str, str]] = {}
    for r in rows:
        by_time.setdefault(r["timestamp"], {})[r["target"]] = str(value(float(r["p50"])))
    lines = [",".join([time, *targets])]
    lines += [",".join([stamp, *(cells[t] for t in targets)]) for stamp, cells in by_time.items()]
    (home.local_path(f"s3://{home.data_bucket}/actuals/") / name).write_text(
        "\n".join(lines) + "\n"
    )


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> tuple[Home, dict[str, str]]:
    home = Home(tmp_path_factory.mktemp("local"))
    at = ["--home", str(home.root)]
    out: dict[str, str] = {}
    said(["run", *at, "--run-id", "day1", *TINY])
    said(["approve", *at, "--latest"])
    out["day 1"] = said(["accuracy", *at])
    # the default alarm ratio, raised above day 1's error ratio if a tiny model needs it: day 1
    # is this model's normal
    day_one_ratio = float(version_line(out["day 1"], "1")[9])
    ratio = ["--ratio", f"{max(DEFAULT_ALARM_RATIO, day_one_ratio * 1.2):.6g}", "--retrain"]

    (published,) = (home.buckets / home.forecasts_bucket).glob(
        f"forecasts/model={GROUP}/version=1/run=*/forecasts.csv"
    )
    future = [r for r in read_csv(published) if not r["actual"]]
    steps = sorted({r["horizon_step"] for r in future}, key=int)
    first, rest = steps[: len(steps) // 2], steps[len(steps) // 2 :]
    arrive(home, "day2.csv", [r for r in future if r["horizon_step"] in first], lambda p: p)
    out["day 2"] = said(["accuracy", *at, *ratio])
    drift = [r for r in future if r["horizon_step"] in rest]
    arrive(home, "day3.csv", drift, lambda p: -10 * abs(p) - 10)  # sMAPE terms near 200 %
    out["day 3"] = said(["accuracy", *at, *ratio])
    out["day 4"] = said(["accuracy", *at, *ratio])
    out["models"] = said(["models", *at])
    return home, out


def test_the_version_registered_its_training_columns(days):
    home, _ = days
    columns = Registry(home.registry).get(GROUP, 1).metrics["evaluation"]["columns"]
    assert columns == {
        "time_column": "date",
        "id_columns": [],
        "targets": ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"],
        "series_id": {"separator": "/", "target_appended": True},
    }


def test_day_one_scores_the_backtest_and_keeps_the_future_pending(days):
    _, out = days
    _, matched, pending, *_, status = version_line(out["day 1"], "1")
    assert (int(matched), int(pending)) == (28, 28)  # 7 targets x 4 steps each
    assert status == "OK"


def test_the_accuracy_table_has_every_point_once_all_actuals_arrived(days):
    home, out = days
    table = home.buckets / home.forecasts_bucket / f"forecasts/accuracy/model={GROUP}/accuracy.csv"
    assert f"accuracy table: {table}" in out["day 4"]
    rows = read_csv(table)
    assert tuple(rows[0]) == ACCURACY_COLUMNS
    assert len(rows) == 7 * 4  # per target and horizon step
    # each step was forecast twice (the backtest and the future) and both have their actual
    assert {(r["forecasts"], r["matched"], r["pending"]) for r in rows} == {("2", "2", "0")}
    manifest = json.loads(table.with_name("manifest.json").read_text())
    assert manifest["fileLocations"] == [{"URIPrefixes": [table.resolve().as_uri()]}]


def test_partial_actuals_count_only_the_points_they_match(days):
    _, out = days
    _, matched, pending, *_, status = version_line(out["day 2"], "1")
    assert (int(matched), int(pending), status) == (42, 14, "OK")
    assert "ALARM" not in out["day 2"]


def test_drift_raises_one_alarm_and_one_retrain_that_registers(days):
    home, out = days
    _, matched, pending, *_, status = version_line(out["day 3"], "1")
    assert (int(matched), int(pending), status) == (56, 0, "ALARM")
    assert out["day 3"].count("ALARM: ts-forecasting version 1") == 1
    assert "retrain: version 1's rolling sMAPE" in out["day 3"]
    assert f"retrained: {GROUP} version 2 (PendingManualApproval)" in out["day 3"]
    assert [p.version for p in Registry(home.registry).list(GROUP)] == [1, 2]
    events = list(home.events.glob("*-accuracy-alarm-*.json"))
    assert len(events) == 1


def test_the_next_day_in_alarm_neither_notifies_nor_retrains(days):
    home, out = days
    assert version_line(out["day 4"], "1")[-1] == "ALARM"
    assert "ALARM: " not in out["day 4"]
    assert "no retrain: cool-down after the retrain of" in out["day 4"]
    assert [p.version for p in Registry(home.registry).list(GROUP)] == [1, 2]


def test_a_bad_actuals_file_is_one_line_naming_file_line_and_column(tmp_path, capsys):
    """No training needed: one published partition written as the publish code writes it."""
    from lambdas.publish.publishing import PUBLISHED_COLUMNS

    home = Home(tmp_path)
    partition = home.buckets / home.forecasts_bucket / f"forecasts/model={GROUP}/version=1/run=r"
    partition.mkdir(parents=True)
    row = ["s", "y", "2026-01-01 00:00:00", "1", "1.5", "", "", GROUP, "1", "", "r", "", ""]
    (partition / "forecasts.csv").write_text(",".join(PUBLISHED_COLUMNS) + "\n" + ",".join(row))
    actuals = home.local_path(f"s3://{home.data_bucket}/actuals/")
    actuals.mkdir(parents=True)
    (actuals / "late.csv").write_text("series_id,target,timestamp,value\ns,y,2026-01-01,1,5\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["accuracy", "--home", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "late.csv, line 2: 5 fields; expected 4" in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["accuracy", "--home", str(tmp_path), "--ratio", "0"])
    assert exit_info.value.code == 2 and "alarm ratio 0.0" in capsys.readouterr().err
