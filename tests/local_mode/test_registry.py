"""The SQLite registry: numbering, approval rules, concurrent writers and crashes."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from local_mode.registry import (
    APPROVED,
    PENDING,
    REJECTED,
    InvalidTransitionError,
    Registry,
    RegistryError,
    UnknownVersionError,
)

GROUP = "ts-forecasting"
METRICS = {"regression_metrics": {"mse": {"value": 0.4}, "mae": {"value": 0.5}}}


def register(registry: Registry, artifact: Path, group: str = GROUP, **extra):
    fields = {
        "group": group,
        "model_family": "informer",
        "metrics": METRICS,
        "model_data_url": f"s3://artifacts/{artifact.name}",
        "artifact_path": artifact,
        "image": "local",
        "inference_specification": {"Containers": [{"Image": "local"}]},
        **extra,
    }
    return registry.register(**fields)


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "model.tar.gz"
    path.write_bytes(b"archive")
    return path


def test_versions_count_up_per_group(tmp_path, artifact):
    registry = Registry(tmp_path / "registry.db")
    first, second = register(registry, artifact), register(registry, artifact)
    other = register(registry, artifact, group="other-group")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.approval_status == PENDING
    assert first.arn == f"arn:aws:sagemaker:local:000000000000:model-package/{GROUP}/1"
    assert registry.get(GROUP, 1).metric("mse") == 0.4
    assert [p.version for p in registry.list(GROUP)] == [1, 2]
    assert registry.latest(GROUP).version == 2


def test_the_same_run_and_artifact_register_once(tmp_path, artifact):
    """A rerun whose registration had committed before its marker was written adds nothing."""
    registry = Registry(tmp_path / "registry.db")
    first = register(registry, artifact, run_id="run-1")
    again = register(registry, artifact, run_id="run-1")
    retrained = register(registry, artifact, run_id="run-1", model_data_url="s3://a/new.tar.gz")
    assert (first.version, again.version, retrained.version) == (1, 1, 2)


def test_a_missing_artifact_registers_nothing(tmp_path):
    registry = Registry(tmp_path / "registry.db")
    with pytest.raises(RegistryError, match="is missing"):
        register(registry, tmp_path / "absent.tar.gz")
    assert registry.list() == []


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ([APPROVED], True),
        ([REJECTED], True),
        ([APPROVED, REJECTED], True),
        ([REJECTED, APPROVED], True),
        ([APPROVED, PENDING], False),
        ([REJECTED, PENDING], False),
    ],
)
def test_approval_transitions(tmp_path, artifact, path, allowed):
    registry = Registry(tmp_path / "registry.db")
    register(registry, artifact)
    *steps, last = path
    for status in steps:
        assert registry.set_status(GROUP, 1, status).changed
    if allowed:
        change = registry.set_status(GROUP, 1, last, "reviewed")
        assert change.changed and change.after.approval_status == last
        assert change.after.approval_description == "reviewed"
    else:
        with pytest.raises(InvalidTransitionError, match=f"it can become .*, not {last}"):
            registry.set_status(GROUP, 1, last)
        assert registry.get(GROUP, 1).approval_status == steps[-1]


def test_setting_the_current_status_again_changes_nothing(tmp_path, artifact):
    registry = Registry(tmp_path / "registry.db")
    register(registry, artifact)
    registry.set_status(GROUP, 1, APPROVED)
    change = registry.set_status(GROUP, 1, APPROVED)
    assert not change.changed and change.after.approval_status == APPROVED


def test_unknown_versions_and_statuses_are_named(tmp_path, artifact):
    registry = Registry(tmp_path / "registry.db")
    with pytest.raises(UnknownVersionError, match=r"registry .* is empty"):
        registry.get(GROUP, 1)
    with pytest.raises(UnknownVersionError, match="no version"):
        registry.latest(GROUP)
    register(registry, artifact)
    with pytest.raises(UnknownVersionError, match=r"no version 4 \(versions: 1;"):
        registry.set_status(GROUP, 4, APPROVED)
    with pytest.raises(RegistryError, match="'Maybe' is not one of"):
        registry.set_status(GROUP, 1, "Maybe")
    with pytest.raises(UnknownVersionError, match="no Approved version"):
        registry.latest(GROUP, APPROVED)


def _register_many(database: str, artifact: str, count: int) -> None:
    registry = Registry(Path(database))
    for _ in range(count):
        register(registry, Path(artifact))


def test_concurrent_registrations_get_distinct_versions(tmp_path, artifact):
    database = tmp_path / "registry.db"
    context = multiprocessing.get_context("spawn")  # separate interpreters, as separate CLIs
    workers = [
        context.Process(target=_register_many, args=(str(database), str(artifact), 5))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    versions = [p.version for p in Registry(database).list(GROUP)]
    assert versions == list(range(1, 21))
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


class _FailingConnection:
    """Passes everything to SQLite but fails at COMMIT: a crash inside the transaction."""

    def __init__(self, db: sqlite3.Connection, crash: bool) -> None:
        self.db, self.crash = db, crash

    def execute(self, sql: str, *args):
        if sql == "COMMIT":
            if self.crash:
                os._exit(3)  # the process dies with the transaction open
            raise RuntimeError("simulated failure before commit")
        return self.db.execute(sql, *args)

    def close(self) -> None:
        self.db.close()


class _CrashingRegistry(Registry):
    crash = False

    def _connect(self):
        return _FailingConnection(super()._connect(), self.crash)


def _crash_while_registering(database: str, artifact: str) -> None:
    registry = _CrashingRegistry(Path(database))
    registry.crash = True
    register(registry, Path(artifact))


def test_an_error_mid_registration_leaves_no_row(tmp_path, artifact):
    database = tmp_path / "registry.db"
    register(Registry(database), artifact)
    with pytest.raises(RuntimeError, match="simulated"):
        register(_CrashingRegistry(database), artifact)
    assert [p.version for p in Registry(database).list()] == [1]
    assert register(Registry(database), artifact).version == 2


def test_a_process_killed_mid_registration_leaves_no_row(tmp_path, artifact):
    database = tmp_path / "registry.db"
    register(Registry(database), artifact)
    worker = multiprocessing.get_context("spawn").Process(
        target=_crash_while_registering, args=(str(database), str(artifact))
    )
    worker.start()
    worker.join(timeout=120)
    assert worker.exitcode == 3
    registry = Registry(database)
    assert [p.version for p in registry.list()] == [1]
    assert register(registry, artifact).version == 2
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
