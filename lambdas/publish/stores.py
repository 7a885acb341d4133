"""Where publishing reads and writes: S3 in the Lambda, a folder in local mode.

Keys are ``/``-separated, relative, and listed by plain string prefix, as S3 does, so the
publishing logic cannot tell the two apart.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Protocol


class Store(Protocol):
    """The four operations publishing needs from a storage location."""

    def list(self, prefix: str) -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes, content_type: str) -> None: ...

    def uri(self, key: str) -> str:
        """Where the key lives, for messages and QuickSight manifests."""
        ...


class LocalStore:
    """A folder on disk; writes are atomic so a reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def list(self, prefix: str) -> list[str]:
        if not self.root.is_dir():
            return []
        keys = (
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not _is_temporary(path)
        )
        return sorted(key for key in keys if key.startswith(prefix))

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def write(self, key: str, data: bytes, content_type: str) -> None:
        """Write to a temporary file beside the target, then rename over it."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            # mkstemp creates the file 0600; a published file gets the mode any new file
            # would get under the umask, so the people it is published for can read it.
            os.chmod(temporary, 0o666 & ~_umask())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def uri(self, key: str) -> str:
        """A ``file://`` URI; a prefix (even the empty one) names a folder, for messages."""
        return self.root.joinpath(*PurePosixPath(key).parts).resolve().as_uri()

    def _path(self, key: str) -> Path:
        """The file of a key; keys may not climb out of the root."""
        parts = PurePosixPath(key).parts
        if not key or key.startswith("/") or ".." in parts:
            raise ValueError(f"key {key!r}; expected a relative path inside {self.root}")
        return self.root.joinpath(*parts)


class S3Store:
    """One S3 bucket through a boto3 client the caller creates (and tests replace).

    With ``kms_key_id`` every object is written with SSE-KMS under that key, as the project's
    bucket policy and key grants expect.
    """

    def __init__(self, client: Any, bucket: str, kms_key_id: str | None = None) -> None:
        if not bucket:
            raise ValueError("empty bucket name; expected an S3 bucket")
        self.client = client
        self.bucket = bucket
        self.kms_key_id = kms_key_id

    def list(self, prefix: str) -> list[str]:
        """All keys under ``prefix``, following continuation tokens past 1,000 objects."""
        keys: list[str] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self.client.list_objects_v2(**request)
            keys.extend(item["Key"] for item in page.get("Contents", ()))
            if not page.get("IsTruncated"):
                return sorted(keys)
            request["ContinuationToken"] = page["NextContinuationToken"]

    def read(self, key: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=key)
        body: bytes = response["Body"].read()
        return body

    def write(self, key: str, data: bytes, content_type: str) -> None:
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
        }
        if self.kms_key_id:
            request["ServerSideEncryption"] = "aws:kms"
            request["SSEKMSKeyId"] = self.kms_key_id
        self.client.put_object(**request)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _is_temporary(path: Path) -> bool:
    """A LocalStore write in progress (or one a crash left behind)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")
