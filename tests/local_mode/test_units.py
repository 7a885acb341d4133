"""Local mode's pure parts: URI mapping, host environments, events and inputs."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from forecasting.data.panel import PanelSchema
from forecasting.data.scaling import StandardScaler
from forecasting.distributed import num_cpus
from forecasting.errors import ConfigError
from forecasting.families import FAMILIES
from forecasting.models.informer.preprocessing import InformerPreprocessing
from forecasting.models.informer.serving import example_request as informer_input
from forecasting.models.tft.preprocessing import Cutoffs, TFTPreprocessing
from forecasting.models.tft.serving import example_request as tft_input
from lambdas.batch_transform.planning import TransformPlan, plan_transform
from local_mode.approval import (
    ApprovalError,
    interpretation_images,
    local_settings,
    package_event,
    report_metrics,
)
from local_mode.hosts import (
    config_files,
    cores_per_host,
    gpu_listing,
    gpus_per_host,
    host_names,
    rendezvous_port_free,
    visible_gpus,
)
from local_mode.inputs import future_input
from local_mode.layout import Home, container_path
from local_mode.registry import APPROVED, ModelPackage
from local_mode.runs import RunConfig, resolve_config
from local_mode.transform import container_environment, output_key
from tests.lambdas.batch_transform_events import EVENT


def evaluation(mse: float) -> dict:
    return {"regression_metrics": {"mse": {"value": mse}, "mae": {"value": 0.5}}}


# --- layout ---------------------------------------------------------------------------------


def test_s3_uris_map_into_the_local_buckets_and_back(tmp_path):
    home = Home(tmp_path)
    path = home.local_path("s3://data/transform-input/informer/history.csv")
    assert path == tmp_path / "s3" / "data" / "transform-input" / "informer" / "history.csv"
    path.parent.mkdir(parents=True)
    path.write_text("x")
    assert home.uri_of(path) == "s3://data/transform-input/informer/history.csv"


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "s3://", "s3://bucket/../../etc", "x"])
def test_uris_outside_a_local_bucket_are_refused(tmp_path, uri):
    with pytest.raises(ConfigError):
        Home(tmp_path).local_path(uri)


def test_container_paths_map_into_the_run_folder(tmp_path):
    assert container_path(tmp_path, "/opt/ml/processing/output/train") == (
        tmp_path / "opt" / "ml" / "processing" / "output" / "train"
    )
    with pytest.raises(ValueError, match="not a SageMaker container path"):
        container_path(tmp_path, "/etc/passwd")


# --- run options ----------------------------------------------------------------------------


def test_run_settings_use_family_gates_and_refuse_unknown_metrics():
    assert RunConfig().settings().metric_name == "mse"
    tft = RunConfig(model="tft").settings()
    assert (tft.metric_name, tft.metric_threshold) == ("q_risk_p50", 0.5)
    assert RunConfig(max_epochs=3).settings().hyperparameters == {"max_epochs": "3"}
    with pytest.raises(ConfigError, match="not written by the evaluate step"):
        RunConfig(metric="quantile_loss").settings()
    with pytest.raises(ConfigError, match="--hosts"):
        RunConfig(hosts=0)


def test_a_run_takes_the_codebuild_runners_training_file_with_its_options_on_top(tmp_path):
    from local_mode import runs

    trained = runs.training_file()  # model_build/training.json, as CodeBuild reads it
    settings = RunConfig(hosts=4, hyperparameters={"d_model": "16"}).settings()
    assert settings.training_instance_type == trained.training_instance_type
    assert (settings.use_spot, settings.max_runtime_seconds) == (
        trained.use_spot, trained.max_runtime_seconds,
    )  # fmt: skip
    assert (settings.training_instance_count, settings.hyperparameters["d_model"]) == (4, "16")
    assert (settings.metric_name, settings.metric_threshold) == (
        trained.metric_name, trained.metric_threshold,
    )  # fmt: skip
    other = "tft" if trained.model != "tft" else "informer"
    assert RunConfig(model=other).settings().metric_name == FAMILIES[other].default_gate[0]
    said = RunConfig(model=other, hosts=3).settings_sources()
    assert str(runs.TRAINING_SOURCE) in said and "--hosts 3 (TrainingInstanceCount" in said
    assert f"so {other} takes its family's defaults" in said


def test_a_resumed_run_keeps_its_options_and_refuses_other_ones(tmp_path):
    from local_mode import files

    home = Home(tmp_path)
    config = RunConfig(max_epochs=1, hyperparameters={"d_model": "16"})
    files.atomic_write_json(home.run_dir("r1") / "run.json", config.to_dict())
    assert resolve_config(home, "r1", {}, RunConfig()) == config
    assert resolve_config(home, "r1", {"max_epochs": 1}, RunConfig()) == config
    with pytest.raises(ConfigError, match="max_epochs was 1, now 2"):
        resolve_config(home, "r1", {"max_epochs": 2}, RunConfig())
    assert resolve_config(home, "new", {"hosts": 3}, RunConfig()).hosts == 3


# --- simulated hosts ------------------------------------------------------------------------


# What the training toolkit derives from the files local mode writes, read by the toolkit itself
# (SAGEMAKER_BASE_DIR is read at its import, so in a fresh interpreter), and what the training
# code then derives from the variables the toolkit exports.
TOOLKIT_READS = """
import json, os
from sagemaker_training import environment
from sagemaker_pytorch_container import training
from forecasting.distributed import resolve_cluster
env = environment.Environment()
training._set_distributed_environment(env)  # what the PyTorch toolkit exports before the script
exported = {**os.environ, **env.to_env_vars()}
spec = resolve_cluster(exported, processes_per_host=1)
print(json.dumps({
    "current_host": env.current_host, "master": env.master_hostname, "hosts": env.hosts,
    "channels": env.channel_input_dirs, "args": env.to_cmd_args(),
    "program": env.user_entry_point, "module_dir": env.module_dir,
    "cluster": [spec.launcher, spec.num_nodes, spec.node_rank, spec.master_addr, spec.master_port],
}))
"""


def test_the_training_toolkit_reads_each_host_as_sagemaker_describes_it(tmp_path):
    request = {
        "AlgorithmSpecification": {"TrainingImage": "local", "TrainingInputMode": "File"},
        "HyperParameters": {
            "sagemaker_program": '"entry_train.py"',
            "sagemaker_submit_directory": '"s3://b/source/sourcedir.tar.gz"',
            "max_epochs": "3", "revin": "false", "x": "a b", "model": "informer",
        },
        "InputDataConfig": [
            {"ChannelName": c, "DataSource": {"S3DataSource": {"S3Uri": f"s3://b/{c}"}}}
            for c in ("train", "validation")
        ],
        "ResourceConfig": {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 2},
    }  # fmt: skip
    names = host_names(2)
    base = tmp_path / names[1]
    for name, content in config_files(names[1], names, request).items():
        (base / "input/config").mkdir(parents=True, exist_ok=True)
        (base / "input/config" / name).write_text(json.dumps(content))
    assert (
        json.loads((base / "input/config/hyperparameters.json").read_text())
        == (request["HyperParameters"])
    )  # exactly as requested: every value a string
    done = subprocess.run(
        [sys.executable, "-c", TOOLKIT_READS], env={**os.environ, "SAGEMAKER_BASE_DIR": str(base)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    read = json.loads(done.stdout.splitlines()[-1])
    assert (read["current_host"], read["master"], read["hosts"]) == (names[1], names[0], names)
    assert read["channels"] == {c: str(base / "input/data" / c) for c in ("train", "validation")}
    # sagemaker_training.mapping.to_cmd_args: sorted, JSON-decoded, then str() ("false" → False);
    # a one-letter name gets one dash (local mode's own copy of this rule had two)
    assert read["args"] == ["--max_epochs", "3", "--model", "informer", "--revin", "False",
                            "-x", "a b"]  # fmt: skip
    assert (read["program"], read["module_dir"]) == (
        "entry_train.py", "s3://b/source/sourcedir.tar.gz",
    )  # fmt: skip
    # the second host finds the first on the toolkit's fixed port
    assert read["cluster"] == ["sagemaker", 2, 1, "127.0.0.1", 7777]


def test_a_listening_rendezvous_port_is_busy_but_an_ended_jobs_is_not():
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        assert not rendezvous_port_free(port)  # another run's store
        accepted.close()  # the server's side closes first: its connection waits (TIME_WAIT)
        client.close()
    assert rendezvous_port_free(port)  # torch's store reuses the address, and so may the next job


@pytest.mark.parametrize(
    ("hosts", "cores", "expected"),
    [(2, [0, 1], [[0], [1]]), (2, [0, 1, 2, 3, 4], [[0, 1], [2, 3]]), (3, [0, 1], [[0], [1], [0]])],
)
def test_each_simulated_host_runs_on_its_own_cores(hosts, cores, expected):
    assert cores_per_host(hosts, cores) == expected


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
def test_the_training_code_counts_only_the_cores_its_host_runs_on(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert num_cpus({"SM_NUM_CPUS": "8"}) == 1  # the toolkit's SM_NUM_CPUS counts the machine
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert num_cpus({"SM_NUM_CPUS": "8"}) == 8


@pytest.mark.parametrize(
    ("hosts", "gpus", "expected"),
    [
        (2, [], [[], []]),
        (2, ["0"], [[], []]),  # one GPU is not shared: NCCL refuses two ranks on one device
        (1, ["0"], [["0"]]),
        (2, ["0", "1", "2", "3"], [["0", "1"], ["2", "3"]]),
        (2, ["4", "6"], [["4"], ["6"]]),  # the names CUDA_VISIBLE_DEVICES gave this process
    ],
)
def test_each_simulated_host_owns_its_gpus(hosts, gpus, expected):
    assert gpus_per_host(hosts, gpus) == expected


@pytest.mark.parametrize("own", [[], ["1"], ["2", "3"]])
def test_a_hosts_nvidia_smi_lists_only_its_gpus_as_the_toolkit_counts_them(
    tmp_path, monkeypatch, own
):
    machine = tmp_path / "machine"
    machine.mkdir()
    real = machine / "nvidia-smi"  # a 4-GPU machine's listing
    real.write_text("#!/bin/sh\n" + "".join(
        f"echo 'GPU {i}: NVIDIA H100 (UUID: GPU-{i}abc)'\n" for i in range(4)
    ))  # fmt: skip
    real.chmod(0o755)
    monkeypatch.setenv("PATH", f"{machine}{os.pathsep}{os.environ['PATH']}")
    assert gpu_listing(tmp_path / "bin", own)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    from sagemaker_training.environment import num_gpus

    assert num_gpus() == len(own)  # the toolkit's SM_NUM_GPUS


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert visible_gpus({}) == ["0", "1"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "5,7"}) == ["5", "7"]


# --- approval event and transform -----------------------------------------------------------


def package(tmp_path: Path, status: str = APPROVED) -> ModelPackage:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return ModelPackage(
        group="ts-forecasting",
        version=3,
        arn="arn:aws:sagemaker:local:000000000000:model-package/ts-forecasting/3",
        approval_status=status,
        approval_description="",
        description="ts-forecasting: gated on mse <= threshold",
        model_family="informer",
        metrics=evaluation(0.4),
        model_data_url="s3://ts-forecasting-artifacts/run/train/output/model.tar.gz",
        artifact_path=str(tmp_path / "model.tar.gz"),
        image="local",
        inference_specification={
            "Containers": [
                {
                    "Image": "local",
                    "ModelDataUrl": "s3://ts-forecasting-artifacts/run/train/output/model.tar.gz",
                    "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
                }
            ]
        },
        customer_metadata={"model_family": "informer"},
        run_id="run",
        created_at=moment,
        updated_at=moment,
    )


def test_the_local_event_has_the_cloud_shape_and_plans_the_same_requests(tmp_path):
    home = Home(tmp_path)
    event = package_event(package(tmp_path), event_id="e-1", at=datetime.now(UTC))
    assert set(event) == set(EVENT)
    assert set(event["detail"]) == set(EVENT["detail"])
    assert event["detail"]["CreationTime"] == 1767323045000  # epoch milliseconds
    plan = plan_transform(event, local_settings(home, package(tmp_path)))
    assert isinstance(plan, TransformPlan)
    assert plan.model_name == "ts-forecasting-v3"
    job = plan.create_transform_job
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://ts-forecasting-data/transform-input/informer/"
    )
    assert plan.output_path == f"s3://ts-forecasting-forecasts/transform/{plan.job_name}/"
    rejected = package_event(package(tmp_path, "Rejected"), event_id="e-2", at=datetime.now(UTC))
    assert not isinstance(
        plan_transform(rejected, local_settings(home, package(tmp_path))), TransformPlan
    )


def test_outputs_keep_the_input_key_below_the_prefix():
    assert output_key("in/a/X.csv", "in/", "transform/job/") == "transform/job/a/X.csv.out"
    assert output_key("in/X.csv", "in/X.csv", "out") == "out/X.csv.out"


def test_the_container_imports_the_artifacts_own_code(tmp_path):
    from local_mode.transform import LocalModel

    model = LocalModel(
        "m", tmp_path / "model", {"SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}, True
    )
    env = container_environment(model)
    assert env["SAGEMAKER_SUBMIT_DIRECTORY"] == str(tmp_path / "model" / "code")
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path / "model" / "code")
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"


# --- inference inputs -----------------------------------------------------------------------


def test_informer_input_is_the_last_window_before_a_known_horizon():
    index = pd.date_range("2024-01-01", periods=40, freq="h", name="date")
    test = pd.DataFrame({"load": np.arange(40.0), "temp": np.arange(40.0) * 2}, index=index)
    preprocessing = InformerPreprocessing(
        source="test.csv", synthetic=False, time_column="date", freq="h",
        columns=("load", "temp"), targets=("load",), covariates=("temp",),
        scaler=StandardScaler.fit(test), split="ratio", split_rule=None, bounds={},
        context_length=16, pred_len=4, n_time_features=4,
    )  # fmt: skip
    config = {
        "preprocessing": preprocessing.to_dict(),
        "model": {"family": "informer", "hparams": {"seq_len": 16, "label_len": 8, "pred_len": 4}},
    }
    made = informer_input(test, config)
    assert list(made.request.columns) == ["date", "load", "temp"]
    assert len(made.request) == 16
    assert made.request["date"].iloc[-1] == "2024-01-02 11:00:00"  # row 35 of 40
    assert list(made.actuals.columns) == ["series_id", "target", "timestamp", "value"]
    assert made.actuals["value"].tolist() == list(np.arange(20.0, 40.0))
    assert set(made.actuals["series_id"]) == {"load"}


def tft_config(schema: PanelSchema, horizon: int, encoder: int) -> dict[str, Any]:
    """config.json as the train step writes it, for a TFT with these lengths (no weights)."""
    preprocessing = TFTPreprocessing(
        source="test.csv", synthetic=False, schema=schema, time_origin="2020-01-01",
        cutoffs=Cutoffs(0, 0, 0, "holdout"), max_encoder_length=encoder, min_encoder_length=1,
        horizon=horizon, target_normalizer="encoder", nonnegative_target=False,
        trained_series=(), dataset_parameters={},
    )  # fmt: skip
    return {"preprocessing": preprocessing.to_dict()}


def test_tft_input_leaves_the_horizon_target_empty_and_keeps_known_covariates():
    from forecasting.data.panel import TIME_IDX

    schema = PanelSchema(
        group_columns=("shop",), time_column="date", target="sales", freq="MS",
        static_categoricals=("shop",), known_reals=(TIME_IDX, "price"), unknown_reals=("temp",),
    )  # fmt: skip
    months = pd.date_range("2020-01-01", periods=12, freq="MS")
    test = pd.concat(
        pd.DataFrame({"shop": shop, "date": months, TIME_IDX: range(12), "sales": range(12),
                      "price": 1.5, "temp": 20.0})
        for shop in ("a", "b")
    )  # fmt: skip
    made = tft_input(test, tft_config(schema, horizon=3, encoder=4))
    assert len(made.request) == 2 * 7 and made.series == 2
    horizon = made.request.groupby("shop").tail(3)
    assert (horizon["sales"] == "").all() and (horizon["temp"] == "").all()
    assert (horizon["price"] == 1.5).all()
    assert set(made.actuals["series_id"]) == {"a", "b"}
    assert made.actuals["timestamp"].iloc[-1] == "2020-12-01 00:00:00"


def test_a_stallion_request_carries_the_raw_special_day_flags():
    """Preprocess turns the flags into names; the handler's request wants the file's 0/1."""
    from forecasting.data.panel import TIME_IDX
    from forecasting.data.stallion import (
        STALLION_COLUMNS,
        STALLION_SCHEMA,
        STALLION_SPECIAL_DAYS,
        stallion_features,
    )
    from forecasting.data.validation import Location

    months = pd.date_range("2017-01-01", periods=12, freq="MS")
    raw = pd.DataFrame({column: 1.0 for column in STALLION_COLUMNS}, index=range(12))
    raw["agency"], raw["sku"], raw["date"] = "Agency_01", "SKU_01", months
    raw[list(STALLION_SPECIAL_DAYS)] = 0
    raw.loc[3, "easter_day"] = 1
    channel = stallion_features(raw, Location("test")).assign(**{TIME_IDX: range(12)})
    request = tft_input(channel, tft_config(STALLION_SCHEMA, horizon=2, encoder=10)).request
    assert list(request.columns) == list(STALLION_COLUMNS)
    assert request["easter_day"].tolist() == [1 if i == 3 else 0 for i in range(12)]
    assert request["christmas"].eq(0).all()


def test_the_tft_interpretation_plots_go_into_the_report(tmp_path):
    home = Home(tmp_path)
    evaluation = container_path(home.run_dir("run"), "/opt/ml/processing/evaluation")
    evaluation.mkdir(parents=True)
    assert interpretation_images(home, package(tmp_path)) == []  # Informer: none
    names = ["interpretation_attention.png", "interpretation_encoder_variables.png"]
    (evaluation / "interpretation.json").write_text(json.dumps({"figures": names}))
    for name in names:
        (evaluation / name).write_bytes(name.encode())

    images = interpretation_images(home, package(tmp_path))
    assert [(i.file_name, i.png) for i in images] == [(n, n.encode()) for n in names]
    assert images[0].caption.startswith("Encoder attention")
    assert images[1].caption.startswith("Variable importance: encoder variables")
    (evaluation / names[1]).unlink()
    with pytest.raises(ApprovalError, match=r"interpretation_encoder_variables\.png is missing"):
        interpretation_images(home, package(tmp_path))


def test_synthetic_data_is_named_in_the_registry_listing_and_the_report(tmp_path):
    real = dataclasses.replace(
        package(tmp_path), metrics={"evaluation": {"source": "/data/ETTh1.csv"}}
    )
    assert (real.synthetic, real.data_name, report_metrics(real)["data"]) == (
        False,
        "ETTh1.csv",
        "ETTh1.csv",
    )
    demo = dataclasses.replace(real, metrics={"evaluation": {"synthetic": True}})
    assert (demo.synthetic, demo.data_name) == (True, "SYNTHETIC")
    assert report_metrics(demo)["data"].startswith("SYNTHETIC demo series")


def test_the_tft_says_why_it_forecasts_no_future():
    """Its known covariates (prices, promotions) are not in the data past its end."""
    reason = future_input([], {"model": {"family": "tft", "hparams": {}}}, backtest=None)
    assert isinstance(reason, str) and "known covariates" in reason


def test_local_mode_takes_the_steps_from_the_definition_it_executes():
    """The step list is the definition builder's input; local mode reads the built definition
    (forecasting.pipeline.definition), never a second copy of the steps."""
    package = Path(__file__).resolve().parents[2] / "local_mode"
    readers = [
        p.name for p in package.glob("*.py") if "forecasting.pipeline.steps" in p.read_text()
    ]
    assert readers == []


# --- the serving container's handler service ------------------------------------------------

# An artifact's inference.py: upper-cases each request; a request holding "bad" fails.
TOY_INFERENCE = """
def model_fn(model_dir):
    return open(model_dir + "/weights.txt").read().strip()

def input_fn(body, content_type):
    assert content_type == "text/csv", content_type
    if "bad" in body:
        raise ValueError("this request is bad")
    return body

def predict_fn(data, model):
    return model + ":" + data.strip().upper()

def output_fn(prediction, accept):
    return prediction
"""


@pytest.fixture
def toy_model(tmp_path):
    from local_mode.transform import LocalModel

    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "code" / "inference.py").write_text(TOY_INFERENCE)
    (model_dir / "weights.txt").write_text("w")
    env = {"SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code", "SAGEMAKER_PROGRAM": "inference.py"}
    return LocalModel("toy", model_dir, env, True)


@pytest.mark.parametrize(
    ("split", "strategy", "assemble", "expected"),
    [
        ("None", "MultiRecord", "None", "w:A\nB"),  # the whole file, one request
        ("Line", "SingleRecord", "Line", "w:A\nw:B\n"),  # a request per line, one answer a line
        ("Line", "MultiRecord", "None", "w:A\nB"),  # both lines fit one request
    ],
)
def test_a_transform_splits_batches_and_assembles_as_the_request_says(
    tmp_path, toy_model, split, strategy, assemble, expected
):
    from local_mode.transform import invoke

    source, target = tmp_path / "in.csv", tmp_path / "out" / "in.csv.out"
    source.write_text("a\nb\n")
    (result,) = invoke(
        toy_model, [(source, target)], content_type="text/csv", accept="text/csv",
        max_payload_mb=1, work_dir=tmp_path / "job", split_type=split,
        batch_strategy=strategy, assemble_with=assemble,
    )  # fmt: skip
    assert result["ok"], result
    assert target.read_text() == expected


def test_a_request_the_handler_refuses_fails_its_file_with_the_handlers_message(
    tmp_path, toy_model
):
    from local_mode.transform import invoke

    source, target = tmp_path / "in.csv", tmp_path / "in.csv.out"
    source.write_text("bad\n")
    (result,) = invoke(
        toy_model, [(source, target)], content_type="text/csv", accept="text/csv",
        max_payload_mb=1, work_dir=tmp_path / "job",
    )  # fmt: skip
    assert not result["ok"] and "this request is bad" in result["error"]
    assert not target.exists()


@pytest.mark.parametrize(
    ("setting", "value"),
    [("split_type", "RecordIO"), ("assemble_with", "Text"), ("batch_strategy", "All")],
)
def test_a_transform_setting_local_mode_lacks_is_refused_by_name(
    tmp_path, toy_model, setting, value
):
    from local_mode.transform import TransformError, invoke

    with pytest.raises(TransformError, match=f"{value!r} is not supported locally"):
        invoke(
            toy_model, [], content_type="text/csv", accept="text/csv", max_payload_mb=1,
            work_dir=tmp_path, **{setting: value},
        )  # fmt: skip


# --- the toolkit's pip install -r requirements.txt ----------------------------------------


@pytest.mark.parametrize(
    ("requirements", "constraints", "variables", "said", "withheld"),
    [
        (None, None, {}, "not in the code; the toolkit installs nothing", False),
        ("packaging\n", None, {"PIP_NO_INDEX": "1"}, "runs offline (PIP_NO_INDEX=1)", False),
        ("-c constraints.txt\npackaging\n", "torch==0.0.1\n", {}, "pins the AWS container's "
         "torch==0.0.1", True),
    ],
)  # fmt: skip
def test_the_toolkits_pip_install_is_decided_and_said_before_it_starts(
    tmp_path, requirements, constraints, variables, said, withheld
):
    from types import SimpleNamespace

    from local_mode import training

    bases = {host: tmp_path / host for host in host_names(2)}
    for base in bases.values():
        (base / "code").mkdir(parents=True)
        for name, text in (("requirements.txt", requirements), ("constraints.txt", constraints)):
            if text is not None:
                (base / "code" / name).write_text(text)
    lines: list[str] = []
    runner = SimpleNamespace(say=lines.append)
    assert training._pip_decision(runner, "Train", bases) == variables
    assert said in lines[0]
    for base in bases.values():  # the toolkit runs pip only where code/requirements.txt is
        assert (base / "code/requirements.txt").is_file() == (
            requirements is not None and not withheld
        )
        assert (base / training.WITHHELD).is_file() == withheld


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        ('ExecuteUserScriptError:\nExitCode 2\nErrorMessage "usage: ..."\nCommand "python x"', 2),
        # under torchrun the toolkit sees torchrun's exit code, as in SageMaker
        ('ExecuteUserScriptError:\nExitCode 1\nErrorMessage ""\nCommand "torchrun ..."', 1),
        ("Framework Error: \nTraceback ...", 1),
    ],
)
def test_the_programs_exit_code_is_read_from_the_toolkits_failure_file(failure, code):
    from local_mode import training

    assert training._program_exit_code(failure) == code


def test_a_requirement_this_environment_lacks_fails_the_step_by_name(tmp_path):
    from local_mode import jobs
    from local_mode.interpreter import StepError

    (tmp_path / "requirements.txt").write_text("packaging\nno-such-package-here==1.0\n")
    with pytest.raises(
        StepError, match=r"step Train: .*no-such-package-here==1.0 \(none installed\)"
    ):
        jobs.check_requirements(tmp_path, "Train")
