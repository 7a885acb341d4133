"""Local mode end to end on the synthetic demo series with a tiny Informer and 2 simulated hosts:
run (interrupted, then resumed) → models → approve (transform + publish) → forecast; then a run
that fails its gate after resuming training from its checkpoint.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from forecasting.inference.handler import FORECAST_COLUMNS
from lambdas.publish.publishing import PUBLISHED_COLUMNS
from local_mode import cli
from local_mode.layout import Home
from local_mode.registry import APPROVED, Registry
from local_mode.runs import new_run_id

TINY = [
    "--dataset", "demo", "--max-epochs", "1",
    "-P", "seq_len=16", "-P", "pred_len=4",
    "-H", "label_len=8", "-H", "d_model=16",
    "-H", "n_heads=2", "-H", "d_ff=32", "-H", "factor=3", "-H", "batch_size=16",
    "-H", "progress_bar=false", "-H", "limit_train_batches=4", "-H", "limit_val_batches=2",
]  # fmt: skip
TARGETS, PRED_LEN, SEQ_LEN = 7, 4, 16  # the demo's 7 ETT columns are all targets


def cli_output(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(argv)
    return out.getvalue()


def training_hosts(run: Path) -> list[Path]:
    """The /opt/ml folders of the run's last training job, one per simulated host."""
    artifact = json.loads((run / "status" / "Train.json").read_text())["artifact"]
    return sorted(Path(artifact["model_dir"]).parent.parent.iterdir())


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> tuple[Home, dict[str, str]]:
    home = Home(tmp_path_factory.mktemp("local"))
    at = ["--home", str(home.root)]
    outputs = {}
    outputs["stopped"] = cli_output(
        ["run", *at, "--run-id", "e2e", "--stop-after", "Preprocess", "--hosts", "2",
         "--threshold", "100", *TINY]
    )  # fmt: skip
    outputs["versions after stop"] = str(len(Registry(home.registry).list()))
    outputs["resumed"] = cli_output(["run", *at, "--run-id", "e2e"])  # its stored options
    outputs["models"] = cli_output(["models", *at])
    outputs["approve"] = cli_output(["approve", *at, "--latest"])
    return home, outputs


def test_an_interrupted_run_resumes_with_its_stored_options(local):
    home, outputs = local
    assert "stopped after Preprocess" in outputs["stopped"]
    assert outputs["versions after stop"] == "0"
    assert "Preprocess (Processing): already complete, skipped" in outputs["resumed"]
    assert "registered:     ts-forecasting version 1 (PendingManualApproval)" in outputs["resumed"]
    assert "next: python -m local_mode approve --home" in outputs["resumed"]
    assert "data:           SYNTHETIC demo series, not a real data set" in outputs["resumed"]
    first, second = training_hosts(home.run_dir("e2e"))
    assert (first.name, second.name) == ("127.0.0.1", "127.0.0.2")
    summary = json.loads((first / "output/data/training_summary.json").read_text())
    # training.json trains on a GPU type, so the PyTorch toolkit starts torchrun on each host
    assert (summary["launcher"], summary["num_nodes"], summary["world_size"]) == ("torchrun", 2, 2)
    assert summary["ranks"][0]["param_fingerprint"] == summary["ranks"][1]["param_fingerprint"]


def test_the_run_is_laid_out_as_sagemaker_lays_out_its_containers(local):
    home, outputs = local
    run = home.run_dir("e2e")
    for folder in (
        "opt/ml/processing/output/train", "opt/ml/processing/output/test", "opt/ml/processing/test",
    ):  # fmt: skip
        assert (run / folder / "preprocessing.json").is_file(), folder
    hosts = training_hosts(run)
    for host in hosts:  # each host its own /opt/ml, as the training toolkit found it
        config = host / "input/config"
        resources = json.loads((config / "resourceconfig.json").read_text())
        assert resources["current_host"] == host.name
        assert resources["hosts"] == ["127.0.0.1", "127.0.0.2"]
        assert json.loads((config / "hyperparameters.json").read_text())["d_model"] == "16"
        # the code arrives as a channel too: an isolated job cannot fetch it from S3 itself
        assert set(json.loads((config / "inputdataconfig.json").read_text())) == {
            "train", "validation", "code",
        }  # fmt: skip
        for channel in ("train", "validation"):
            assert (host / "input/data" / channel / "preprocessing.json").is_file()
        assert (host / "code/entry_train.py").is_file()
        assert (host / "output/success").is_file()
    assert (hosts[0] / "model/code/inference.py").is_file()
    # synced up from the hosts' /opt/ml/checkpoints, under the train step's cache key
    checkpoints = home.local_path(f"s3://{home.artifacts_bucket}/{home.project}/checkpoints/")
    assert len(list(checkpoints.glob("*/*/last.ckpt"))) == 1
    assert (run / "opt/ml/processing/model/model.tar.gz").is_file()
    assert (run / "opt/ml/processing/evaluation/evaluation.json").is_file()
    markers = {p.stem for p in (run / "status").glob("*.json")}
    assert markers == {
        "Preprocess",
        "Train",
        "FindApprovedModel",
        "Evaluate",
        "CheckMetric",
        "Register",
        "TransformInput",
    }
    (second_log,) = (run / "logs").glob("train-*-127.0.0.2.log")
    assert "Reporting training SUCCESS" in second_log.read_text()  # the toolkit ran the host
    assert not second_log.read_text().count("epoch=")  # rank 0 reports
    # the code carries no requirements (the project image holds them), and that is said
    assert "requirements.txt: not in the code; the toolkit installs nothing" in outputs["resumed"]
    assert (
        "settings: " in outputs["stopped"]
        and "training.json (training on ml." in outputs["stopped"]
    )


def test_models_lists_the_registered_version(local):
    _, outputs = local
    header, row = outputs["models"].splitlines()[:2]
    assert header.split()[:5] == ["GROUP", "VERSION", "STATUS", "FAMILY", "METRICS"]
    assert row.split()[:4] == ["ts-forecasting", "1", "PendingManualApproval", "informer"]
    assert "mse=" in row and row.rstrip().endswith("model.tar.gz")
    assert header.split()[5] == "DATA" and " SYNTHETIC " in row


def test_approval_forecasts_the_history_and_publishes_it(local):
    home, outputs = local
    package = Registry(home.registry).get("ts-forecasting", 1)
    assert package.approval_status == APPROVED
    assert "PendingManualApproval -> Approved" in outputs["approve"]
    assert "published: 56 forecast rows of 7 series (SYNTHETIC DATA)" in outputs["approve"]
    inputs = home.local_path(home.input_uri("informer"))
    history = read_csv(inputs / "history.csv")
    assert len(history) == SEQ_LEN
    last_seen = datetime.fromisoformat(history[-1]["date"])
    future = read_csv(inputs / "future.csv")  # the data's last window
    assert len(future) == SEQ_LEN
    data_end = datetime.fromisoformat(future[-1]["date"])

    outs = sorted(home.local_path("s3://ts-forecasting-forecasts/transform/").rglob("*.csv.out"))
    assert [out.name for out in outs] == ["future.csv.out", "history.csv.out"]
    out = outs[1]
    forecasts = read_csv(out)
    assert list(forecasts[0]) == list(FORECAST_COLUMNS)
    assert len(forecasts) == TARGETS * PRED_LEN
    assert {(r["model"], r["model_version"]) for r in forecasts} == {("ts-forecasting", "1")}

    forecasts_bucket = home.buckets / home.forecasts_bucket
    (published,) = forecasts_bucket.glob("forecasts/model=ts-forecasting/version=1/run=*/*.csv")
    rows = read_csv(published)
    assert list(rows[0]) == list(PUBLISHED_COLUMNS)
    assert len(rows) == 2 * TARGETS * PRED_LEN
    assert {r["synthetic"] for r in rows} == {"true"}  # the demo series
    backtest = [r for r in rows if datetime.fromisoformat(r["timestamp"]) <= data_end]
    ahead = [r for r in rows if datetime.fromisoformat(r["timestamp"]) > data_end]
    assert len(backtest) == len(ahead) == TARGETS * PRED_LEN
    assert all(datetime.fromisoformat(r["timestamp"]) > last_seen for r in backtest)
    assert all(r["actual"] for r in backtest)  # the next horizon's truth is joined
    assert not any(r["actual"] for r in ahead)  # past the data's end: no truth yet
    run = published.parent.name.removeprefix("run=")
    assert {r["run"] for r in rows} == {run} and out.parent.name == run

    (manifest,) = forecasts_bucket.glob("forecasts/manifests/model=ts-forecasting/version=1/*.json")
    (prefixes,) = json.loads(manifest.read_text())["fileLocations"]
    assert prefixes["URIPrefixes"] == [published.resolve().as_uri()]
    assert manifest.name.endswith(".SYNTHETIC-DATA.json")
    report = next(forecasts_bucket.glob("forecasts/reports/**/report.html"))
    page = report.read_text()
    assert "<title>SYNTHETIC DATA: " in page and "SYNTHETIC demo series" in page
    assert "<strong>Backtest</strong>: 28 rows of 7 series" in page
    assert "<strong>Future</strong>: 28 rows of 7 series" in page
    assert "The 6 series with the largest total |p50| of 7" in page
    assert len(list(report.parent.glob("*-backtest.png"))) == 6
    assert len(list(report.parent.glob("*-future.png"))) == 6
    assert str(published) in outputs["approve"] and str(report) in outputs["approve"]
    served = json.loads(next(home.sagemaker.glob("transform-jobs/*/results.json")).read_text())
    assert served[0]["served_from"].startswith(str(home.sagemaker / "models"))  # artifact's code


def test_approving_again_redelivers_without_a_second_job(local):
    home, _ = local
    again = cli_output(["approve", "--home", str(home.root), "1"])
    assert "already Approved; sending the approval event again" in again
    assert "had completed; not run again" in again and "already published" in again


def test_forecast_serves_a_history_file_with_the_approved_model(local, tmp_path):
    home, _ = local
    history = home.local_path(home.input_uri("informer")) / "history.csv"
    target = tmp_path / "forecast.csv"
    said = cli_output(
        ["forecast", "--home", str(home.root), "--history", str(history), "--output", str(target)]
    )
    assert f"-> {target}" in said
    (out,) = home.local_path("s3://ts-forecasting-forecasts/transform/").rglob("history.csv.out")
    assert target.read_text() == out.read_text()  # same model, same input, same forecast
    assert not list(home.forecasts.rglob(".request-*"))  # nothing left behind


def test_a_failed_gate_registers_nothing_after_training_resumes(local, capsys):
    home, _ = local
    # --no-cache: the e2e run's Train has the same cache key (SageMaker's key for a training
    # step leaves out ResourceConfig), and this test is about resuming from a checkpoint
    at = ["--home", str(home.root), "--run-id", "gate", "--no-cache"]
    cli_output(["run", *at, "--hosts", "1", "--threshold", "0", "--stop-after", "Train", *TINY])
    run = home.run_dir("gate")
    (run / "status" / "Train.json").unlink()  # as if killed after its last checkpoint
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli_output(["run", *at])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "quality gate failed: test mse " in err
    assert "is above the threshold 0.0 - the model was not registered" in err
    (host,) = training_hosts(run)
    summary = json.loads((host / "output/data/training_summary.json").read_text())
    assert summary["resumed_from"] == str(host / "checkpoints" / "last.ckpt")
    assert [p.version for p in Registry(home.registry).list()] == [1]
    assert not (run / "status" / "Register.json").exists()


def test_a_plain_rerun_gets_a_new_run_id(tmp_path):
    home = Home(tmp_path)
    now = datetime(2026, 1, 2, 3, 4, 5)
    first = new_run_id(home, now)
    home.run_dir(first).mkdir(parents=True)
    assert (first, new_run_id(home, now)) == ("20260102-030405", "20260102-030405-2")


# --- approval evidence and scheduled forecasts (after the tests above, which count outputs) ---


def test_approve_prints_the_comparison_and_writes_it_into_its_report(local):
    home, outputs = local
    verdict = "version 1: no version of ts-forecasting is approved yet; nothing to compare with"
    assert f"evidence: {verdict}" in outputs["approve"]
    # the FindApprovedModel step found none: Evaluate read the marker and said so
    evaluation = json.loads(
        (home.run_dir("e2e") / "opt/ml/processing/evaluation/evaluation.json").read_text()
    )
    assert evaluation["approved"] == {
        "model_package_version": None,
        "model_package_arn": None,
        "scored": False,
        "reason": "no version of ts-forecasting is approved yet: nothing to compare with",
    }
    forecasts_bucket = home.buckets / home.forecasts_bucket
    report = next(forecasts_bucket.glob("forecasts/reports/**/report.html"))
    page = report.read_text()
    assert "<h2>Compared with the approved version</h2>" in page and verdict in page
    evidence = forecasts_bucket / "forecasts/approvals/ts-forecasting/version=1/comparison.json"
    assert json.loads(evidence.read_text())["approved_version"] is None
    metadata = Registry(home.registry).get("ts-forecasting", 1).customer_metadata
    assert metadata["comparison.approved_version"] == "none"


def test_scheduled_forecasts_publish_new_input_once_each_in_its_own_partition(local):
    """`forecast` without --history is the scheduled run: the latest approved version over the
    inference input; the same input again starts nothing; new histories get a new partition and
    nothing published before changes."""
    home, _ = local
    at = ["--home", str(home.root)]
    forecasts_bucket = home.buckets / home.forecasts_bucket
    partitions = "forecasts/model=ts-forecasting/version=1/run=*/forecasts.csv"
    before = {path: path.read_bytes() for path in forecasts_bucket.glob(partitions)}

    first = cli_output(["forecast", *at])
    again = cli_output(["forecast", *at])

    assert "scheduled forecast: ts-forecasting version 1 over 2 input object(s)" in first
    assert "published: 56 forecast rows of 7 series (SYNTHETIC DATA)" in first
    assert "scheduled forecast: nothing new: version 1 has already forecast this input" in again
    assert "already published: 56 forecast rows" in again  # where that input's forecast is
    assert "\npublished:" not in again
    after_first = {path: path.read_bytes() for path in forecasts_bucket.glob(partitions)}
    assert len(after_first) == len(before) + 1

    future = home.local_path(home.input_uri("informer")) / "future.csv"
    rows = read_csv(future)
    rows[-1]["HUFL"] = str(float(rows[-1]["HUFL"]) + 1.0)  # the newest hour, revised
    with future.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    third = cli_output(["forecast", *at])

    assert "over 2 input object(s)" in third and "\npublished: 56 forecast rows" in third
    after_third = {path: path.read_bytes() for path in forecasts_bucket.glob(partitions)}
    assert len(after_third) == len(after_first) + 1
    assert all(after_third[path] == body for path, body in after_first.items())
    runs = {path.parent.name for path in after_third}
    assert len(runs) == len(after_third)  # one run, one partition


def test_a_scheduled_forecast_with_no_approved_version_says_so(tmp_path):
    said = cli_output(["forecast", "--home", str(tmp_path)])
    assert "scheduled forecast: no Approved version of ts-forecasting yet" in said


def test_the_next_run_scores_the_approved_version_on_its_windows_and_approve_shows_it(local):
    """Version 1 is approved (above): run 2's FindApprovedModel step hands Evaluate version 1's
    model, evaluation.json holds its metrics on run 2's test windows, and approving version 2
    prints and writes the comparison on those windows."""
    home, _ = local
    at = ["--home", str(home.root)]
    said = cli_output(["run", *at, "--run-id", "e2e-next", "--threshold", "100", *TINY])
    version_1 = Registry(home.registry).get("ts-forecasting", 1)
    assert f"ModelDataUrl: {version_1.model_data_url}" in said
    evaluation = json.loads(
        (home.run_dir("e2e-next") / "opt/ml/processing/evaluation/evaluation.json").read_text()
    )
    approved = evaluation["approved"]
    assert approved["scored"] is True, approved
    assert (approved["model_package_version"], approved["model_package_arn"]) == (
        1, version_1.arn,
    )  # fmt: skip
    assert approved["evaluation"]["windows"] == evaluation["evaluation"]["windows"]
    assert approved["regression_metrics"].keys() == evaluation["regression_metrics"].keys()

    approve = cli_output(["approve", *at, "--latest"])
    verdict = next(line for line in approve.splitlines() if line.startswith("evidence: version 2"))
    assert verdict.endswith("both scored on version 2's test windows"), verdict
    mae = approved["regression_metrics"]["mae"]["value"]
    assert any(
        line.split()[1:2] == ["mae"] and f"approved {mae:.6g}".replace(" ", "") in
        line.replace(" ", "")
        for line in approve.splitlines()
    ), approve  # fmt: skip
    forecasts_bucket = home.buckets / home.forecasts_bucket
    evidence = forecasts_bucket / "forecasts/approvals/ts-forecasting/version=2/comparison.json"
    saved = json.loads(evidence.read_text())
    assert (saved["basis"], saved["approved_version"]) == ("same test windows", 1)
    pages = [p.read_text() for p in forecasts_bucket.glob("forecasts/reports/**/report.html")]
    assert any("both scored on version 2" in page for page in pages)
