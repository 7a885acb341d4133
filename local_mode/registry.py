"""The local model registry: SageMaker model packages in SQLite (standard library only).

Not a mock: it is local mode's backend for what the cloud keeps in a model package group. Each
row holds the fields the approval event carries (group, version, ARN, approval status,
inference specification, metrics, artifact URL, image, customer metadata) plus the run that
produced it.

Safety:

* Versions are numbered per group inside one ``BEGIN IMMEDIATE`` transaction, which takes the
  database's write lock before reading the current maximum, so concurrent registrations from
  several processes get distinct, gapless versions. WAL mode lets readers (``models``) run
  while a writer holds the lock; the busy timeout makes writers queue instead of failing.
* A registration is one transaction and the row only points at an artifact that already exists
  and is never rewritten (each training attempt writes a new key), so a crash leaves either the
  whole version or nothing.

Approval rules (``TRANSITIONS``): PendingManualApproval → Approved or Rejected, Approved →
Rejected, Rejected → Approved. Nothing goes back to PendingManualApproval: SageMaker's
``UpdateModelPackage`` accepts the value, but its console and Studio offer only approve and
reject, and a package that was decided should stay decided. Setting the status a package
already has changes nothing (``changed`` is False) and is not an error, so an approval can be
sent again.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forecasting.errors import ForecastingError
from local_mode.layout import package_arn

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
STATUSES = (PENDING, APPROVED, REJECTED)
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({APPROVED, REJECTED}),
    APPROVED: frozenset({REJECTED}),
    REJECTED: frozenset({APPROVED}),
}
BUSY_TIMEOUT_SECONDS = 60.0

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS model_packages (
    group_name TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    arn TEXT NOT NULL UNIQUE,
    approval_status TEXT NOT NULL CHECK (approval_status IN {STATUSES!r}),
    approval_description TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    model_family TEXT NOT NULL,
    metrics TEXT NOT NULL,
    model_data_url TEXT NOT NULL,
    artifact_path TEXT NOT NULL,
    image TEXT NOT NULL,
    inference_specification TEXT NOT NULL,
    customer_metadata TEXT NOT NULL,
    run_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (group_name, version)
);
"""
COLUMNS = (
    "group_name, version, arn, approval_status, approval_description, description, "
    "model_family, metrics, model_data_url, artifact_path, image, inference_specification, "
    "customer_metadata, run_id, created_at, updated_at"
)


class RegistryError(ForecastingError):
    """A registry request that cannot be done as asked; the message says why."""


class UnknownVersionError(RegistryError):
    pass


class InvalidTransitionError(RegistryError):
    pass


@dataclass(frozen=True)
class ModelPackage:
    group: str
    version: int
    arn: str
    approval_status: str
    approval_description: str
    description: str
    model_family: str
    metrics: dict[str, Any]  # evaluation.json as the evaluate step wrote it
    model_data_url: str
    artifact_path: str
    image: str
    inference_specification: dict[str, Any]
    customer_metadata: dict[str, str]
    run_id: str | None
    created_at: datetime
    updated_at: datetime

    def described(self) -> dict[str, Any]:
        """``DescribeModelPackage``'s answer, as far as the project's functions read it."""
        return {
            "ModelPackageGroupName": self.group,
            "ModelPackageVersion": self.version,
            "ModelPackageArn": self.arn,
            "ModelApprovalStatus": self.approval_status,
            "InferenceSpecification": self.inference_specification,
            "CustomerMetadataProperties": self.customer_metadata,
        }

    def metric(self, name: str) -> float | None:
        value = self.metrics.get("regression_metrics", {}).get(name, {}).get("value")
        return float(value) if value is not None else None

    @property
    def synthetic(self) -> bool:
        """Trained and evaluated on the built-in synthetic demo data, not a real data set."""
        return bool(self.metrics.get("evaluation", {}).get("synthetic"))

    @property
    def data_name(self) -> str:
        """``SYNTHETIC`` for demo data, else the data file's name (``-`` when not recorded)."""
        if self.synthetic:
            return "SYNTHETIC"
        source = self.metrics.get("evaluation", {}).get("source")
        return Path(str(source)).name if source else "-"


@dataclass(frozen=True)
class StatusChange:
    before: ModelPackage
    after: ModelPackage

    @property
    def changed(self) -> bool:
        return self.before.approval_status != self.after.approval_status


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Registry:
    """One SQLite file; every method opens its own connection, so processes may share it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # --- connections and transactions -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """A connection in autocommit mode: transactions are opened explicitly below."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        return db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is held from the first read on."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(SCHEMA)
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        finally:
            db.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection | None]:
        if not self.path.exists():
            yield None  # an empty registry: nothing registered yet, nothing to create
            return
        db = self._connect()
        try:
            yield db
        finally:
            db.close()

    # --- writes -------------------------------------------------------------------------------

    def register(
        self,
        *,
        group: str,
        model_family: str,
        metrics: dict[str, Any],
        model_data_url: str,
        artifact_path: Path,
        image: str,
        inference_specification: dict[str, Any],
        description: str = "",
        customer_metadata: dict[str, str] | None = None,
        run_id: str | None = None,
        approval_status: str = PENDING,
    ) -> ModelPackage:
        """Add the next version of ``group``; the same run and artifact give the same version.

        That makes a rerun of a run whose registration finished (but whose completion marker
        was lost) a no-op instead of a duplicate version.
        """
        if approval_status not in STATUSES:
            raise RegistryError(
                f"approval status {approval_status!r} is not one of {', '.join(STATUSES)}"
            )
        if not Path(artifact_path).is_file():
            raise RegistryError(f"model artifact {artifact_path} is missing; nothing registered")
        with self._write() as db:
            if run_id is not None:
                row = db.execute(
                    f"SELECT {COLUMNS} FROM model_packages WHERE group_name = ? AND run_id = ? "
                    "AND model_data_url = ?",
                    (group, run_id, model_data_url),
                ).fetchone()
                if row:
                    return _package(row)
            (latest,) = db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM model_packages WHERE group_name = ?",
                (group,),
            ).fetchone()
            version = latest + 1
            stamp = now_utc().isoformat()
            db.execute(
                f"INSERT INTO model_packages ({COLUMNS}) "
                "VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    group,
                    version,
                    package_arn(group, version),
                    approval_status,
                    description,
                    model_family,
                    json.dumps(metrics),  # in the evaluate step's order (mse first)
                    model_data_url,
                    str(artifact_path),
                    image,
                    json.dumps(inference_specification, sort_keys=True),
                    json.dumps(customer_metadata or {}, sort_keys=True),
                    run_id,
                    stamp,
                    stamp,
                ),
            )
            return self._get(db, group, version)

    def set_status(
        self, group: str, version: int, status: str, description: str | None = None
    ) -> StatusChange:
        """Change the approval status if ``TRANSITIONS`` allows it (see the module docstring)."""
        if status not in STATUSES:
            raise RegistryError(f"approval status {status!r} is not one of {', '.join(STATUSES)}")
        with self._write() as db:
            before = self._get(db, group, version)
            if before.approval_status == status:
                return StatusChange(before, before)
            if status not in TRANSITIONS[before.approval_status]:
                allowed = " or ".join(sorted(TRANSITIONS[before.approval_status]))
                raise InvalidTransitionError(
                    f"{group} version {version} is {before.approval_status}; it can become "
                    f"{allowed}, not {status}"
                )
            db.execute(
                "UPDATE model_packages SET approval_status = ?, approval_description = ?, "
                "updated_at = ? WHERE group_name = ? AND version = ?",
                (status, description or "", now_utc().isoformat(), group, version),
            )
            return StatusChange(before, self._get(db, group, version))

    def update_metadata(
        self, group: str, version: int, properties: dict[str, str], remove: tuple[str, ...] = ()
    ) -> ModelPackage:
        """UpdateModelPackage's CustomerMetadataProperties (merged in) and ...ToRemove."""
        with self._write() as db:
            current = self._get(db, group, version).customer_metadata
            merged = {k: v for k, v in current.items() if k not in remove} | properties
            db.execute(
                "UPDATE model_packages SET customer_metadata = ?, updated_at = ? "
                "WHERE group_name = ? AND version = ?",
                (json.dumps(merged, sort_keys=True), now_utc().isoformat(), group, version),
            )
            return self._get(db, group, version)

    # --- reads --------------------------------------------------------------------------------

    def get(self, group: str, version: int) -> ModelPackage:
        with self._read() as db:
            if db is None:
                raise UnknownVersionError(
                    f"{group} has no version {version}: the registry {self.path} is empty "
                    "(register one with: python -m local_mode run)"
                )
            return self._get(db, group, version)

    def latest(self, group: str, status: str | None = None) -> ModelPackage:
        """The highest version of ``group`` (with ``status``, if given)."""
        packages = [p for p in self.list(group) if status is None or p.approval_status == status]
        if not packages:
            which = f"no {status} version" if status else "no version"
            raise UnknownVersionError(
                f"{group} has {which} in {self.path}"
                + ("" if status else " (register one with: python -m local_mode run)")
            )
        return packages[-1]

    def list(self, group: str | None = None) -> list[ModelPackage]:
        with self._read() as db:
            if db is None or not _has_table(db):
                return []
            where, args = ("WHERE group_name = ?", (group,)) if group else ("", ())
            rows = db.execute(
                f"SELECT {COLUMNS} FROM model_packages {where} ORDER BY group_name, version", args
            ).fetchall()
        return [_package(row) for row in rows]

    def _get(self, db: sqlite3.Connection, group: str, version: int) -> ModelPackage:
        row = None
        if _has_table(db):
            row = db.execute(
                f"SELECT {COLUMNS} FROM model_packages WHERE group_name = ? AND version = ?",
                (group, version),
            ).fetchone()
        if row is None:
            known = (
                [
                    number
                    for (number,) in db.execute(
                        "SELECT version FROM model_packages WHERE group_name = ? ORDER BY version",
                        (group,),
                    )
                ]
                if _has_table(db)
                else []
            )
            listed = ", ".join(map(str, known)) if known else "none"
            raise UnknownVersionError(
                f"{group} has no version {version} (versions: {listed}; see python -m "
                "local_mode models)"
            )
        return _package(row)


def _has_table(db: sqlite3.Connection) -> bool:
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'model_packages'"
    ).fetchone()
    return found is not None


def _package(row: tuple[Any, ...]) -> ModelPackage:
    (group, version, arn, status, approval_description, description, family, metrics, url,
     artifact, image, spec, metadata, run_id, created, updated) = row  # fmt: skip
    return ModelPackage(
        group=group,
        version=int(version),
        arn=arn,
        approval_status=status,
        approval_description=approval_description,
        description=description,
        model_family=family,
        metrics=json.loads(metrics),
        model_data_url=url,
        artifact_path=artifact,
        image=image,
        inference_specification=json.loads(spec),
        customer_metadata=json.loads(metadata),
        run_id=run_id,
        created_at=datetime.fromisoformat(created),
        updated_at=datetime.fromisoformat(updated),
    )
