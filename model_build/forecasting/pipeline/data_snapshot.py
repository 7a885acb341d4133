"""The input data as SageMaker's step cache needs it: an immutable prefix named by a fingerprint.

SageMaker keys a cached Processing step on its ``ProcessingInputs`` (the URIs, not what lies
under them: https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html). A
Preprocess step reading the upload prefix (``input/``) would therefore be reused after the data
there changed. The runner instead copies that prefix once to
``s3://<bucket>/snapshots/<fingerprint>/`` and the pipeline reads the copy: new data is a new
URI, the same data the same one, and each execution records exactly what it trained on.

The fingerprint is the SHA-256 over every object's relative key, size and ETag. S3 gives every
write of different content a different ETag (an MD5 for plain uploads; an opaque value under
SSE-KMS, where rewriting identical bytes may change it too, which only costs a cache miss).
A snapshot is complete when its manifest ``snapshots/<fingerprint>.json`` exists: it is written
after the last copy, so an interrupted copy is redone, never read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forecasting.errors import ConfigError
from forecasting.s3_uris import split_s3_uri

SNAPSHOT_PREFIX = "snapshots/"
# CopyObject copies up to 5 GB in one call (Amazon S3 API reference, CopyObject)
MAX_COPY_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class DataObject:
    key: str  # relative to the prefix
    size: int
    etag: str


def list_objects(s3: Any, uri: str) -> list[DataObject]:
    """Every object under ``uri``, sorted by key, across all pages."""
    bucket, prefix = split_s3_uri(uri)
    found: list[DataObject] = []
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3.list_objects_v2(**request)
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):  # folder placeholders the console creates
                relative = item["Key"][len(prefix) :]
                found.append(DataObject(relative, int(item["Size"]), str(item["ETag"])))
        token = page.get("NextContinuationToken")
        if not token:
            return sorted(found, key=lambda o: o.key)
        request["ContinuationToken"] = token


def fingerprint(objects: list[DataObject]) -> str:
    lines = "\n".join(f"{o.key}\t{o.size}\t{o.etag}" for o in objects)
    return hashlib.sha256(lines.encode()).hexdigest()


def is_snapshot(uri: str) -> bool:
    """Whether ``uri`` already names a snapshot (an override that passes one on)."""
    return split_s3_uri(uri)[1].startswith(SNAPSHOT_PREFIX)


def snapshot_uri(uri: str, digest: str) -> str:
    bucket, _ = split_s3_uri(uri)
    return f"s3://{bucket}/{SNAPSHOT_PREFIX}{digest}/"


def snapshot(
    s3: Any, uri: str, objects: list[DataObject], kms_key_id: str, echo: Callable[[str], Any]
) -> str:
    """Copy ``objects`` (listed under ``uri``) to their snapshot, unless it is complete; its URI.

    The snapshot lies in the same bucket as the data, so the jobs' read access covers it."""
    if not objects:
        raise ConfigError(f"no input data under {uri} to snapshot")
    digest = fingerprint(objects)
    target = snapshot_uri(uri, digest)
    bucket, prefix = split_s3_uri(uri)
    manifest = f"{SNAPSHOT_PREFIX}{digest}.json"
    if _exists(s3, bucket, manifest):
        echo(f"input data {uri}: unchanged, snapshot {target}")
        return target
    too_big = [o.key for o in objects if o.size > MAX_COPY_BYTES]
    if too_big:
        raise ConfigError(
            f"{uri}: {', '.join(too_big)} exceed 5 GB, the most one CopyObject copies; split "
            "them into smaller files"
        )
    for item in objects:
        s3.copy_object(
            Bucket=bucket,
            Key=f"{SNAPSHOT_PREFIX}{digest}/{item.key}",
            CopySource={"Bucket": bucket, "Key": prefix + item.key},
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key_id,
        )
    listing = [{"key": o.key, "size": o.size, "etag": o.etag} for o in objects]
    s3.put_object(
        Bucket=bucket,
        Key=manifest,
        Body=json.dumps({"source": uri, "objects": listing}, indent=1).encode(),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key_id,
    )
    echo(f"input data {uri}: {len(objects)} object(s) copied to snapshot {target}")
    return target


def _exists(s3: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True
