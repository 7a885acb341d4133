"""The AWS PyTorch container images (DLCs), from the SageMaker SDK's offline table.

The SDK stays the only source: nothing here is a hand-kept table. But importing it takes
seconds and a synth asks for over a hundred URIs (three per region), so answers are memoised
in a JSON file in the cache folder, keyed by the SDK's version and the pinned framework; a
new SDK or framework version starts a new file.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from forecasting.pipeline.settings import TRANSFORM_INSTANCE_TYPE

# The pipeline needs a training and an inference image of one release (the SDK's table must list
# both), and a Python that runs pandas 3 (3.11 or later).
FRAMEWORK_VERSION = "2.6.0"
PY_VERSION = "py312"
SCOPES = ("training", "inference")


def memo_path() -> Path:
    """``$FORECASTING_CACHE`` (or ``~/.cache/forecasting``), like the data sets' cache."""
    configured = os.environ.get("FORECASTING_CACHE")
    root = Path(configured).expanduser() if configured else Path.home() / ".cache" / "forecasting"
    sdk = metadata.version("sagemaker-core")
    return root / f"dlc-images-sdk{sdk}-pytorch{FRAMEWORK_VERSION}-{PY_VERSION}.json"


@functools.cache
def _memo() -> dict[str, Any]:
    try:
        memo: dict[str, Any] = json.loads(memo_path().read_text(encoding="utf-8"))
        return memo
    except (OSError, ValueError):
        return {}


def _remember(key: str, value: Any) -> Any:
    """Store one answer; a cache folder that cannot be written only costs speed."""
    memo = _memo()
    memo[key] = value
    path = memo_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
            json.dump(memo, handle, sort_keys=True)
        os.replace(handle.name, path)
    except OSError:
        pass
    return value


@dataclass(frozen=True)
class Images:
    """The three images a pipeline uses."""

    training: str  # for the training instance type (CPU or GPU build)
    processing: str  # CPU training image, for the processing steps
    inference: str  # CPU inference image, for Batch Transform


def lookup_images(
    region: str, training_instance_type: str, processing_instance_type: str
) -> Images:
    """The DLC URIs for ``region`` from the SageMaker SDK's table (offline)."""
    return Images(
        training=image_uri(region, training_instance_type, "training"),
        processing=image_uri(region, processing_instance_type, "training"),
        inference=image_uri(region, TRANSFORM_INSTANCE_TYPE, "inference"),
    )


def image_uri(region: str, instance_type: str, scope: str) -> str:
    """The DLC for ``scope`` (training or inference) on ``instance_type`` in ``region``."""
    key = f"{region}/{instance_type}/{scope}"
    found = _memo().get(key)
    return found if isinstance(found, str) else _remember(key, _sdk_image_uri(*key.split("/")))


def regions() -> list[str]:
    """Regions with both a training and an inference image of the pinned framework."""
    found = _memo().get("regions")
    return found if isinstance(found, list) else _remember("regions", _sdk_regions())


def registries() -> dict[str, str]:
    """Region -> the account that hosts the pinned DLCs there, for regions with both scopes
    (the SDK's table; training and inference images share the account in every region)."""
    found = _memo().get("registries")
    return found if isinstance(found, dict) else _remember("registries", _sdk_registries())


def uses_gpu(instance_type: str) -> bool:
    """Whether the SDK picks a GPU image for this type (any region gives the same answer)."""
    return "-gpu-" in image_uri("us-east-1", instance_type, "training")


def supports_volume_key(instance_type: str) -> bool:
    """Whether SageMaker accepts a volume KMS key on this type: the SDK's
    ``instance_supports_kms`` (types with local instance storage refuse one)."""
    key = f"volume-key/{instance_type}"
    found = _memo().get(key)
    if isinstance(found, bool):
        return found
    common_utils, _ = _import_sdk()
    return bool(_remember(key, common_utils.instance_supports_kms(instance_type)))


def _import_sdk() -> Any:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the SDK needs one at import
    from sagemaker.core import common_utils, image_uris

    return common_utils, image_uris


@functools.cache
def _endpoint_resolver() -> Any:
    common_utils, _ = _import_sdk()
    return common_utils._botocore_resolver()


def _sdk_image_uri(region: str, instance_type: str, scope: str) -> str:
    common_utils, image_uris = _import_sdk()
    # The SDK parses botocore's endpoint table on every lookup, and a synth makes over a
    # hundred: lend it one parsed resolver for the duration of the call.
    resolver = _endpoint_resolver()
    original = common_utils._botocore_resolver
    common_utils._botocore_resolver = lambda: resolver
    try:
        uri: str = image_uris.retrieve(
            framework="pytorch",
            region=region,
            version=FRAMEWORK_VERSION,
            py_version=PY_VERSION,
            instance_type=instance_type,
            image_scope=scope,
        )
        return uri
    finally:
        common_utils._botocore_resolver = original


def _sdk_regions() -> list[str]:
    _, image_uris = _import_sdk()
    config = image_uris.config_for_framework("pytorch")
    found = [set(config[scope]["versions"][FRAMEWORK_VERSION]["registries"]) for scope in SCOPES]
    return sorted(set.intersection(*found))


def _sdk_registries() -> dict[str, str]:
    _, image_uris = _import_sdk()
    config = image_uris.config_for_framework("pytorch")
    tables = [config[scope]["versions"][FRAMEWORK_VERSION]["registries"] for scope in SCOPES]
    common = set.intersection(*(set(table) for table in tables))
    mismatched = sorted(r for r in common if len({table[r] for table in tables}) > 1)
    if mismatched:
        raise RuntimeError(f"training and inference images differ in account in {mismatched}")
    return {region: tables[0][region] for region in sorted(common)}
