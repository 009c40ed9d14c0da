"""blob:// sources: upload keys and URIs, the blob fetcher on both kinds of backend, backend
selection from settings, and S3 errors when the server is unreachable."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from shotline.blobstore import (
    LocalBlobStore,
    S3BlobStore,
    blob_uri,
    open_blob_store,
    parse_blob_uri,
    upload_key,
)
from shotline.errors import BadInput, TransientError
from shotline.settings import Settings
from shotline.video import SourceConfig, open_source


def test_upload_key_is_one_safe_segment_per_id() -> None:
    assert upload_key("cat", "u1", "clip.MP4") == "uploads/cat/u1.mp4"
    assert upload_key("bikes/2", "u1", "noext") == "uploads/bikes%2F2/u1"
    key = upload_key("../etc?x#y", "u 2", "a.mov")
    assert key == "uploads/..%2Fetc%3Fx%23y/u%202.mov"
    assert parse_blob_uri(blob_uri(key)) == key


@pytest.mark.parametrize("uri", ["blob://", "blob://../x", "blob:///abs", "blob://a/../b"])
def test_bad_blob_uris(uri: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_blob_uri(uri)
    assert err.value.reason == "bad_blob_key"


def test_local_blob_yields_the_stored_file_itself(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    key = upload_key("v1", "u1", "a.mp4")
    store.put_file(key, io.BytesIO(b"video bytes"))
    with open_source(blob_uri(key), SourceConfig(blobs=store)) as p:
        assert p.read_bytes() == b"video bytes"
        assert p.is_relative_to(tmp_path / "blobs")
    assert p.exists()  # the store's own file is never deleted


def test_missing_blob_and_no_store(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BadInput) as err, open_source("blob://uploads/x/y.mp4", SourceConfig(blobs=store)):
        pass
    assert err.value.reason == "missing_blob"
    with pytest.raises(BadInput) as err, open_source("blob://uploads/x/y.mp4"):
        pass
    assert err.value.reason == "no_blob_store"


class _RemoteStore:
    """A backend without local files (as S3): the fetcher must download to a temp file."""

    def __init__(self, blobs: dict[str, bytes], down: bool = False):
        self.blobs, self.down = blobs, down

    def local_path(self, key: str) -> None:
        return None

    def download_to(self, key: str, out) -> int:  # noqa: ANN001
        if self.down:
            raise TransientError("blob store unreachable")
        if key not in self.blobs:
            raise BadInput("missing_blob", key)
        out.write(self.blobs[key])
        return len(self.blobs[key])


def test_remote_blob_is_downloaded_then_removed(tmp_path: Path) -> None:
    cfg = SourceConfig(blobs=_RemoteStore({"uploads/v/u.mkv": b"abc" * 1000}), temp_dir=str(tmp_path))  # type: ignore[arg-type]
    with open_source("blob://uploads/v/u.mkv", cfg) as p:
        assert p.read_bytes() == b"abc" * 1000
        assert p.suffix == ".mkv" and p.parent == tmp_path
    assert list(tmp_path.iterdir()) == []


def test_remote_store_down_is_transient_and_leaves_no_temp_file(tmp_path: Path) -> None:
    cfg = SourceConfig(blobs=_RemoteStore({}, down=True), temp_dir=str(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(TransientError), open_source("blob://uploads/v/u.mp4", cfg):
        pass
    assert list(tmp_path.iterdir()) == []


def test_backend_selection(tmp_path: Path) -> None:
    assert isinstance(open_blob_store(tmp_path), LocalBlobStore)
    local = open_blob_store(Settings(run_dir=tmp_path))
    assert isinstance(local, LocalBlobStore) and local.root == (tmp_path / "blobs").resolve()
    s3 = open_blob_store(Settings(blob_url="s3://media/shotline/dev", s3_endpoint_url="http://127.0.0.1:1",
                                  s3_access_key="ak", s3_secret_key="sk"))
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == ("media", "shotline/dev", "http://127.0.0.1:1")
    assert "hunter2-secret" not in repr(Settings(s3_secret_key="hunter2-secret"))


def test_s3_unreachable_is_transient() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    store = S3BlobStore("b", endpoint_url=f"http://127.0.0.1:{port}", access_key="a", secret_key="s",
                        timeout_s=1, retries=0)
    for op in (lambda: store.put("k", b"x"), lambda: store.get("k"), lambda: store.exists("k"),
               lambda: store.delete_prefix("k")):
        with pytest.raises(TransientError):
            op()
