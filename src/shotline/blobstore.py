"""Blob storage for uploads, keyframes and model artefacts.

Keys are '/'-separated relative paths. Two backends implement one protocol:
- ``LocalBlobStore``: a directory; writes are atomic (temp file + rename) so a reader never sees
  half a blob. The default (``<run_dir>/blobs``).
- ``S3BlobStore``: any S3-compatible server (AWS S3, versitygw, Ceph RGW, …) through boto3,
  selected by ``SHOTLINE_BLOB_URL=s3://bucket/prefix``.

Errors: a key that does not exist is ``BadInput("missing_blob")`` (the record that names it is
wrong); a store that cannot be reached, or refuses our credentials, is ``TransientError``
(shared infrastructure: the worker backs off and stops rather than dead-lettering everything).

A video uploaded as bytes lives under ``uploads/<video_id>/<upload_id><ext>`` and travels in
events as ``blob://<key>`` (see ``blob_uri`` / ``parse_blob_uri``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, urlparse

from shotline.errors import BadInput, TransientError

BLOB_SCHEME = "blob"


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> str: ...
    def put_file(self, key: str, src: BinaryIO) -> str: ...
    def get(self, key: str) -> bytes: ...
    def download_to(self, key: str, out: BinaryIO) -> int: ...
    def local_path(self, key: str) -> Path | None: ...
    def exists(self, key: str) -> bool: ...
    def delete_prefix(self, prefix: str) -> int: ...


def check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/") or "\x00" in key:
        raise BadInput("bad_blob_key", f"invalid blob key {key!r}")
    return key


# ---- blob:// URIs and upload keys ------------------------------------------------------

def blob_uri(key: str) -> str:
    return f"{BLOB_SCHEME}://{check_key(key)}"


def parse_blob_uri(uri: str) -> str:
    """The key of a ``blob://<key>`` URI, verbatim (keys are already URI-safe, see upload_key)."""
    head = f"{BLOB_SCHEME}://"
    if not uri.lower().startswith(head):
        raise BadInput("bad_uri", f"not a blob URI: {uri!r}")
    return check_key(uri[len(head):])


_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}$")


def upload_key(video_id: str, upload_id: str, filename: str = "") -> str:
    """``uploads/<video_id>/<upload_id><ext>``; ids are percent-encoded so any id is one safe segment."""
    m = _EXT.search(filename or "")
    ext = m.group(0).lower() if m else ""
    return f"uploads/{quote(video_id, safe='')}/{quote(upload_id, safe='')}{ext}"


# ---- local directory -------------------------------------------------------------------

class LocalBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return key

    def put_file(self, key: str, src: BinaryIO) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(src, f, 1 << 20)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as e:
            raise BadInput("missing_blob", f"blob {key!r} not found") from e

    def download_to(self, key: str, out: BinaryIO) -> int:
        try:
            with self._path(key).open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
                return f.tell()
        except (FileNotFoundError, IsADirectoryError) as e:
            raise BadInput("missing_blob", f"blob {key!r} not found") from e

    def local_path(self, key: str) -> Path | None:
        """The file itself (no copy): readers of big blobs use it directly."""
        path = self._path(key)
        if not path.is_file():
            raise BadInput("missing_blob", f"blob {key!r} not found")
        return path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        path = self._path(prefix.rstrip("/"))
        if path.is_dir():
            n = sum(1 for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path, ignore_errors=True)
            return n
        if path.is_file():
            path.unlink()
            return 1
        return 0


# ---- S3-compatible server --------------------------------------------------------------

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3BlobStore:
    """Blobs as objects ``<prefix>/<key>`` in one bucket of an S3-compatible server."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str = "us-east-1", access_key: str | None = None, secret_key: str | None = None,
                 timeout_s: float = 10.0, retries: int = 2, client: Any = None):
        if not bucket:
            raise ValueError("S3BlobStore needs a bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=timeout_s, read_timeout=timeout_s, region_name=region,
                retries={"max_attempts": retries + 1, "mode": "standard"},
                # Path-style addressing: custom endpoints rarely serve <bucket>.<host> names.
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                request_checksum_calculation="when_required", response_checksum_validation="when_required",
            )
            client = boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key,
                aws_secret_access_key=secret_key, config=config)
        self.client = client

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix}, endpoint={self.endpoint_url})"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, key: str, fn, *args: Any, **kwargs: Any) -> Any:  # type: ignore[no-untyped-def]
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                raise BadInput("missing_blob", f"blob {key!r} not found in s3://{self.bucket}") from e
            # Access denied, no such bucket, 5xx, throttling: the store's problem, not the record's.
            raise TransientError(f"blob store {what} {key!r} failed: {code or e}") from e
        except BotoCoreError as e:  # unreachable, timed out, no credentials
            raise TransientError(f"blob store unreachable ({what} {key!r}): {e}") from e

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (local stacks and tests; production buckets
        are provisioned with their policies elsewhere)."""
        from botocore.exceptions import ClientError

        try:
            self._call("head_bucket", "", self.client.head_bucket, Bucket=self.bucket)
        except BadInput:  # 404: no such bucket
            try:
                self._call("create_bucket", "", self.client.create_bucket, Bucket=self.bucket)
            except TransientError as e:
                cause = e.__cause__
                code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else ""
                if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):  # raced another creator
                    raise

    def put(self, key: str, data: bytes) -> str:
        self._call("put", key, self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data)
        return key

    def put_file(self, key: str, src: BinaryIO) -> str:
        # Multipart above s3transfer's threshold (8 MiB): big uploads never sit in memory.
        self._call("put", key, self.client.upload_fileobj, src, self.bucket, self._key(key))
        return key

    def get(self, key: str) -> bytes:
        resp = self._call("get", key, self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        return self._call("get", key, resp["Body"].read)

    def download_to(self, key: str, out: BinaryIO) -> int:
        start = out.tell() if out.seekable() else 0
        self._call("get", key, self.client.download_fileobj, self.bucket, self._key(key), out)
        if not out.seekable():
            return -1
        out.seek(0, os.SEEK_END)  # parts are written concurrently, at their own offsets
        return out.tell() - start

    def local_path(self, key: str) -> Path | None:
        return None  # objects are downloaded (see shotline.video.sources)

    def exists(self, key: str) -> bool:
        try:
            self._call("head", key, self.client.head_object, Bucket=self.bucket, Key=self._key(key))
            return True
        except BadInput:
            return False

    def delete_prefix(self, prefix: str) -> int:
        base = self._key(prefix.rstrip("/"))
        pages = self._call("list", prefix, lambda: list(
            self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)))
        keys = [o["Key"] for p in pages for o in p.get("Contents", [])
                if o["Key"] == base or o["Key"].startswith(base + "/")]
        for i in range(0, len(keys), 1000):
            batch = {"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True}
            self._call("delete", prefix, self.client.delete_objects, Bucket=self.bucket, Delete=batch)
        return len(keys)


# ---- selection -------------------------------------------------------------------------

def parse_s3_url(url: str) -> tuple[str, str]:
    p = urlparse(url)
    if p.scheme != "s3" or not p.netloc:
        raise ValueError(f"blob URL must look like s3://bucket/prefix, got {url!r}")
    return p.netloc, p.path.strip("/")


def open_blob_store(target: Any) -> BlobStore:
    """The blob store for ``Settings`` (``blob_url`` s3://… or a directory; default
    ``<run_dir>/blobs``), or for a plain directory path."""
    if isinstance(target, (str, os.PathLike)):
        url, settings = os.fspath(target), None
    else:
        settings = target
        url = getattr(settings, "blob_url", None) or str(settings.blob_dir)
    if url.startswith("s3://"):
        bucket, prefix = parse_s3_url(url)
        secret = (lambda v: v.get_secret_value() if v is not None else None)
        return S3BlobStore(
            bucket, prefix,
            endpoint_url=getattr(settings, "s3_endpoint_url", None),
            region=getattr(settings, "s3_region", "us-east-1"),
            access_key=secret(getattr(settings, "s3_access_key", None)),
            secret_key=secret(getattr(settings, "s3_secret_key", None)),
            timeout_s=getattr(settings, "s3_timeout_seconds", 10.0),
        )
    if url.startswith("file://"):
        url = urlparse(url).path
    return LocalBlobStore(Path(url))
