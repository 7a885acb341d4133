"""The code as SageMaker receives it: one reproducible ``sourcedir.tar.gz`` per step on S3.

Each step's tarball holds only the code that step runs (:mod:`forecasting.pipeline.step_code`)
and is built so that the same files always give the same bytes (sorted entries, no timestamps,
owners or umask in it). Its key carries the content digest, so unchanged code maps to the same
S3 object, the same definition and the same step cache key, and a rerun uploads nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import tarfile
from pathlib import Path
from typing import Any

from forecasting.errors import ConfigError
from forecasting.pipeline.step_code import ENTRY_POINTS, PACKAGE, step_files

log = logging.getLogger("forecasting.pipeline")

ARCHIVE_NAME = "sourcedir.tar.gz"
REQUIREMENTS = "requirements.txt"


def source_files(root: Path, step: str) -> list[tuple[str, Path]]:
    """``(archive name, path)`` of every entry of the step's tarball, its package folders
    included, sorted by name: the files :func:`forecasting.pipeline.step_code.step_files`
    finds, nothing else (no data, models or checkpoints a local run left in the folder)."""
    if not (root / PACKAGE).is_dir():
        raise ConfigError(
            f"--source-dir {root} holds no {PACKAGE}/ package; point it at the model_build folder"
        )
    if (root / REQUIREMENTS).exists():
        # the training and inference toolkits pip-install a requirements.txt they find in the
        # code, which a network-isolated job cannot: the packages belong in the image
        raise ConfigError(
            f"{root / REQUIREMENTS}: jobs install no packages when they start; add the "
            f"requirement to {root / 'image' / REQUIREMENTS} (baked into the project image, "
            "rebuilt on the next push)"
        )
    names = set(step_files(root, step))
    for name in list(names):
        parts = name.split("/")[:-1]
        names.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return [(name, root / name) for name in sorted(names)]


def _tar_info(name: str, path: Path) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        return info, None
    data = path.read_bytes()
    info.size = len(data)
    # keep only whether the file is executable: the checkout's umask must not change the bytes
    info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
    return info, data


def package_source(root: Path, step: str) -> tuple[bytes, str]:
    """The step's code from the ``model_build`` folder as a deterministic ``sourcedir.tar.gz``
    and its digest.

    The digest is the SHA-256 of the uncompressed tar stream, not of the gzip bytes: two zlib
    builds (a laptop and the CodeBuild image) may compress the same tar differently, and the
    S3 key and pipeline definition should change only when the source does.
    """
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in source_files(Path(root), step):
            info, data = _tar_info(name, path)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = tar_buffer.getvalue()
    gz_buffer = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of names and clocks
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz_buffer, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return gz_buffer.getvalue(), hashlib.sha256(raw).hexdigest()


def package_sources(root: Path) -> dict[str, tuple[bytes, str]]:
    """Every step's tarball and digest, by step name (the steps that run code)."""
    return {step: package_source(root, step) for step in ENTRY_POINTS}


def source_key(prefix: str, digest: str) -> str:
    """``{prefix}/{digest}/sourcedir.tar.gz``: one object per distinct source tree."""
    return "/".join(part for part in (prefix.strip("/"), digest, ARCHIVE_NAME) if part)


def upload_source(
    s3_client: Any,
    bucket: str,
    prefix: str,
    data: bytes,
    digest: str,
    kms_key_id: str | None = None,
) -> str:
    """Put the tarball under its digest unless it is there already; returns its ``s3://`` URI.

    The key names the content, so an existing object is the same tarball: skipping the upload
    saves time and keeps one object version per source tree in a versioned bucket.
    """
    from botocore.exceptions import ClientError

    key = source_key(prefix, digest)
    uri = f"s3://{bucket}/{key}"
    try:
        s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        # 403, not 404, is what S3 answers for a missing key without s3:ListBucket
        if err.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound", "403"}:
            raise
    else:
        log.info("source already at %s", uri)
        return uri
    extra: dict[str, str] = {}
    if kms_key_id:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    s3_client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/gzip", **extra)
    log.info("uploaded the source to %s (%d bytes)", uri, len(data))
    return uri
