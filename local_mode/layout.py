"""Where local mode keeps things: one home folder holding the registry, runs and local "buckets".

``s3://bucket/key`` maps to ``<home>/s3/bucket/key``, so the cloud's requests (model artifact
URLs, transform input and output paths) are executed unchanged. A SageMaker container path
(``/opt/ml/...``) maps into the run's folder, so every step's inputs and outputs stay where
SageMaker would put them and any step can be inspected or rerun.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import forecasting.s3_uris
from forecasting.errors import ConfigError

DEFAULT_HOME = Path("local")
DEFAULT_HOSTS = 2  # simulated training hosts of a run (the TrainingInstanceCount default locally)
PROJECT = "ts-forecasting"  # cdk.json's projectName: the cloud's pipeline and package group
CONTAINER_ROOT = PurePosixPath("/opt/ml")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
REGION = "local"
ACCOUNT = "000000000000"
FORECASTS_PREFIX = "forecasts"  # the publish Lambda's FORECASTS_PREFIX default


@dataclass(frozen=True)
class Home:
    """The folders of one local installation (default ``./local``).

    The root is made absolute at once: training hosts run with the run folder as their working
    directory, so a relative home would point each of them somewhere else.
    """

    root: Path
    project: str = PROJECT

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", self.root.expanduser().absolute())

    @property
    def registry(self) -> Path:
        return self.root / "registry.db"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        check_run_id(run_id)
        return self.runs / run_id

    @property
    def buckets(self) -> Path:
        return self.root / "s3"

    @property
    def data_bucket(self) -> str:
        return f"{self.project}-data"

    @property
    def artifacts_bucket(self) -> str:
        return f"{self.project}-artifacts"

    @property
    def forecasts_bucket(self) -> str:
        return f"{self.project}-forecasts"

    def input_uri(self, family: str) -> str:
        """The transform input prefix (the Lambda's INPUT_URI) of a deployment of ``family``."""
        return f"s3://{self.data_bucket}/transform-input/{family}/"

    def actuals_uri(self, family: str) -> str:
        """The publish Lambda's ACTUALS_URI: history and truth, joined onto the forecasts."""
        return f"s3://{self.data_bucket}/actuals/{family}.csv"

    @property
    def sagemaker(self) -> Path:
        """Local stand-ins for SageMaker resources: models and transform jobs."""
        return self.root / "sagemaker"

    @property
    def events(self) -> Path:
        return self.root / "events"

    @property
    def forecasts(self) -> Path:
        return self.root / "forecasts"

    @property
    def mlflow_tracking_uri(self) -> str:
        """Where local runs are tracked: ``MLFLOW_TRACKING_URI`` if set, else a file store
        under the home (``mlflow ui --backend-store-uri`` opens it)."""
        return os.environ.get("MLFLOW_TRACKING_URI") or (self.root / "mlruns").as_uri()

    def local_path(self, uri: str) -> Path:
        """``s3://bucket/key`` → ``<home>/s3/bucket/key``."""
        bucket, key = split_s3_uri(uri)
        return self.buckets.joinpath(bucket, *PurePosixPath(key).parts)

    def uri_of(self, path: Path) -> str:
        """The inverse of :meth:`local_path`, for a path inside a local bucket."""
        try:
            relative = path.resolve().relative_to(self.buckets.resolve())
        except ValueError:
            raise ConfigError(f"{path} is not inside the local buckets {self.buckets}") from None
        bucket, *key = relative.parts
        return f"s3://{bucket}/{'/'.join(key)}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); keys may not climb out of their local bucket."""
    bucket, key = forecasting.s3_uris.split_s3_uri(uri)
    if ".." in PurePosixPath(key).parts or bucket in (".", ".."):
        raise ConfigError(f"{uri!r}: '..' is not allowed in a local bucket key")
    return bucket, key


def container_path(run_dir: Path, path: str) -> Path:
    """A SageMaker container path (``/opt/ml/...``) inside the run folder."""
    pure = PurePosixPath(path)
    if not pure.is_relative_to(CONTAINER_ROOT):
        raise ValueError(f"{path!r} is not a SageMaker container path under {CONTAINER_ROOT}")
    return run_dir.joinpath(*pure.parts[1:])


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise ConfigError(
            f"run id {run_id!r}: expected letters, digits, '.', '_' or '-' (at most 63, "
            "starting with a letter or digit)"
        )
    return run_id


def package_arn(group: str, version: int) -> str:
    """ARN-shaped id of a local model package (region ``local``, account of zeros)."""
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/{version}"
