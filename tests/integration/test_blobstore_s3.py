"""The blob store contract against a real S3-compatible server (versitygw, Apache-2.0, built
by scripts/install_s3_server.sh), and the upload path end to end: `shotline upload` puts the
bytes in S3 and publishes a blob:// URI on the real broker; the segmenter's source resolution
turns that URI back into a local file with the same bytes."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from shotline.blobstore import S3BlobStore, open_blob_store
from shotline.errors import BadInput, TransientError
from shotline.settings import Settings
from shotline.stack import local
from shotline.stack.s3 import VersityS3Server
from shotline.v1 import events_pb2
from shotline.video.sources import SourceConfig, open_source

pytestmark = pytest.mark.integration


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VersityS3Server]:
    srv = VersityS3Server(tmp_path_factory.mktemp("s3"), free_port(), access_key="test-ak",
                          secret_key="test-secret-key")
    srv.start()
    try:
        yield srv
    finally:
        assert srv.stop()
        assert not port_open(srv.port), "versitygw still listening"


def make_store(srv: VersityS3Server, bucket: str, prefix: str = "") -> S3BlobStore:
    store = S3BlobStore(bucket, prefix, endpoint_url=srv.endpoint_url, access_key=srv.access_key,
                        secret_key=srv.secret_key, timeout_s=5, retries=0)
    store.ensure_bucket()
    return store


@pytest.fixture
def store(server: VersityS3Server) -> S3BlobStore:
    return make_store(server, "shotline-" + uuid.uuid4().hex[:8], "env/dev")


def test_put_get_exists(store: S3BlobStore) -> None:
    assert store.put("keyframes/v1/u1/00000_00.jpg", b"\xff\xd8jpeg") == "keyframes/v1/u1/00000_00.jpg"
    assert store.get("keyframes/v1/u1/00000_00.jpg") == b"\xff\xd8jpeg"
    assert store.exists("keyframes/v1/u1/00000_00.jpg")
    assert not store.exists("keyframes/v1/u1/00000_01.jpg")
    store.put("keyframes/v1/u1/00000_00.jpg", b"v2")  # overwrite
    assert store.get("keyframes/v1/u1/00000_00.jpg") == b"v2"
    assert store.local_path("keyframes/v1/u1/00000_00.jpg") is None


def test_big_blob_streams_both_ways(store: S3BlobStore) -> None:
    data = os.urandom(1 << 20) * 20  # 20 MiB: a multipart upload
    store.put_file("uploads/v/u.mp4", io.BytesIO(data))
    out = io.BytesIO()
    assert store.download_to("uploads/v/u.mp4", out) == len(data)
    assert out.getvalue() == data


def test_delete_prefix_removes_that_tree_only(store: S3BlobStore) -> None:
    for k in ("keyframes/v1/a/1.jpg", "keyframes/v1/a/2.jpg", "keyframes/v1/b/1.jpg", "keyframes/v10/a/1.jpg"):
        store.put(k, b"x")
    assert store.delete_prefix("keyframes/v1/a") == 2
    assert not store.exists("keyframes/v1/a/1.jpg") and store.exists("keyframes/v1/b/1.jpg")
    assert store.delete_prefix("keyframes/v1/") == 1
    assert store.exists("keyframes/v10/a/1.jpg")  # a sibling sharing the string prefix is untouched
    assert store.delete_prefix("keyframes/none") == 0


def test_missing_key_is_bad_input(store: S3BlobStore) -> None:
    for op in (lambda: store.get("uploads/none.mp4"), lambda: store.download_to("uploads/none.mp4", io.BytesIO())):
        with pytest.raises(BadInput) as err:
            op()
        assert err.value.reason == "missing_blob"
    with pytest.raises(BadInput) as err, open_source("blob://uploads/none.mp4", SourceConfig(blobs=store)):
        pass
    assert err.value.reason == "missing_blob"


def test_wrong_credentials_are_transient(server: VersityS3Server, store: S3BlobStore) -> None:
    bad = S3BlobStore(store.bucket, endpoint_url=server.endpoint_url, access_key=server.access_key,
                      secret_key="wrong", timeout_s=5, retries=0)
    with pytest.raises(TransientError):
        bad.put("k", b"x")


def test_server_down_is_transient(tmp_path: Path) -> None:
    srv = VersityS3Server(tmp_path, free_port()).start()
    store = make_store(srv, "down-test")
    store.put("uploads/v/u.mp4", b"bytes")
    srv.stop()
    for op in (lambda: store.put("k", b"x"), lambda: store.get("uploads/v/u.mp4"),
               lambda: store.exists("uploads/v/u.mp4"), lambda: store.delete_prefix("uploads")):
        with pytest.raises(TransientError):
            op()
    with pytest.raises(TransientError), open_source("blob://uploads/v/u.mp4", SourceConfig(blobs=store)):
        pass


def test_cli_upload_to_s3_then_open_source(server: VersityS3Server, stack: local.Endpoints, prefix: str,
                                           tmp_path: Path) -> None:
    bucket = "uploads-" + uuid.uuid4().hex[:8]
    make_store(server, bucket)
    local.ensure_topics(stack.kafka, 1, prefix)
    video = tmp_path / "My Clip.mp4"  # outside every allowed root: only its bytes travel
    payload = os.urandom(300_000)
    video.write_bytes(payload)
    env = {**os.environ, **server.env(), "KAFKA_BOOTSTRAP_SERVERS": stack.kafka, "SHOTLINE_TOPIC_PREFIX": prefix,
           "SHOTLINE_BLOB_URL": f"s3://{bucket}/shotline"}
    res = subprocess.run([sys.executable, "-c", "from shotline.cli import app; app()", "upload", "--json",
                          "--video-id", "clip/1", str(video)], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    (row,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert (row["video_id"], row["mode"], row["bytes"], row["error"]) == ("clip/1", "bytes", len(payload), "")
    assert row["uri"] == f"blob://uploads/clip%2F1/{row['upload_id']}.mp4"

    c = KafkaConsumer(f"{prefix}.videos.uploaded", bootstrap_servers=stack.kafka, auto_offset_reset="earliest",
                      group_id=None, consumer_timeout_ms=20_000)
    recs = [r for r in c][:1]
    c.close()
    assert recs, "no videos.uploaded event"
    ev = events_pb2.VideoUploaded()
    ev.ParseFromString(recs[0].value)
    assert (recs[0].key, ev.meta.video_id, ev.uri, ev.upload_id) == (b"clip/1", "clip/1", row["uri"], row["upload_id"])

    settings = Settings(blob_url=f"s3://{bucket}/shotline", s3_endpoint_url=server.endpoint_url,
                        s3_access_key=server.access_key, s3_secret_key=server.secret_key)
    blobs = open_blob_store(settings)
    with open_source(ev.uri, SourceConfig(blobs=blobs, temp_dir=str(tmp_path / "dl"))) as path:
        assert path.read_bytes() == payload
        assert path.suffix == ".mp4"
    assert not path.exists()
    # the object really is in the bucket, under the prefix
    raw = S3BlobStore(bucket, endpoint_url=server.endpoint_url, access_key=server.access_key,
                      secret_key=server.secret_key)
    assert raw.get(f"shotline/uploads/clip%2F1/{row['upload_id']}.mp4") == payload


def test_grpc_upload_video_streams_to_s3_and_publishes(server: VersityS3Server, stack: local.Endpoints,
                                                       prefix: str, tmp_path: Path) -> None:
    """QueryService.UploadVideo on a real gRPC server: S3 store, real broker. The servicer's
    search dependencies are not used by this call, so placeholders stand in for them."""
    from types import SimpleNamespace

    import grpc
    from kafka import KafkaProducer

    from services.query.servicer import QueryServicer
    from shotline.grpcserver import GrpcServer
    from shotline.v1 import common_pb2, query_pb2, query_pb2_grpc

    bucket = "grpc-" + uuid.uuid4().hex[:8]
    blobs = make_store(server, bucket, "api")
    local.ensure_topics(stack.kafka, 1, prefix)
    settings = Settings(topic_prefix=prefix, kafka_bootstrap_servers=stack.kafka)
    producer = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    servicer = QueryServicer(settings, SimpleNamespace(dims={"joint": 8}), common_pb2.ModelRef(), None, None,
                             producer, blobs=blobs, max_upload_bytes=3_000_000)
    name = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
    srv = GrpcServer("127.0.0.1:0", [name], max_workers=4)
    query_pb2_grpc.add_QueryServiceServicer_to_server(servicer, srv.server)
    srv.start()
    try:
        stub = query_pb2_grpc.QueryServiceStub(grpc.insecure_channel(f"127.0.0.1:{srv.port}"))
        payload = os.urandom(2_500_000)

        def stream(data: bytes, video_id: str = "grpc-vid", meta_twice: bool = False):  # type: ignore[no-untyped-def]
            yield query_pb2.UploadVideoRequest(metadata=query_pb2.UploadVideoMetadata(
                video_id=video_id, title="T", catalog_id="cat", filename="movie.MKV"))
            for i in range(0, len(data), 1 << 20):
                yield query_pb2.UploadVideoRequest(chunk=data[i:i + (1 << 20)])
            if meta_twice:
                yield query_pb2.UploadVideoRequest(metadata=query_pb2.UploadVideoMetadata())

        res = stub.UploadVideo(stream(payload), timeout=60)
        assert (res.video_id, res.bytes) == ("grpc-vid", len(payload))
        assert res.uri == f"blob://uploads/grpc-vid/{res.upload_id}.mkv"
        with open_source(res.uri, SourceConfig(blobs=blobs)) as path:
            assert path.read_bytes() == payload

        c = KafkaConsumer(f"{prefix}.videos.uploaded", bootstrap_servers=stack.kafka, auto_offset_reset="earliest",
                          group_id=None, consumer_timeout_ms=20_000)
        rec = next(iter(c))
        c.close()
        ev = events_pb2.VideoUploaded()
        ev.ParseFromString(rec.value)
        assert (rec.key, ev.uri, ev.upload_id, ev.catalog_id, ev.title, ev.meta.event_id) == (
            b"grpc-vid", res.uri, res.upload_id, "cat", "T", res.event_id)

        anonymous = stub.UploadVideo(stream(b"abc", video_id=""), timeout=30)
        assert anonymous.video_id and anonymous.bytes == 3

        for bad, code, words in [
            (stream(os.urandom(3_100_000)), grpc.StatusCode.INVALID_ARGUMENT, "over the limit"),
            (stream(b""), grpc.StatusCode.INVALID_ARGUMENT, "no bytes"),
            (stream(b"abc", meta_twice=True), grpc.StatusCode.INVALID_ARGUMENT, "only once"),
            (iter([query_pb2.UploadVideoRequest(chunk=b"abc")]), grpc.StatusCode.INVALID_ARGUMENT, "first message"),
        ]:
            with pytest.raises(grpc.RpcError) as err:
                stub.UploadVideo(bad, timeout=30)
            assert err.value.code() == code and words in err.value.details()
    finally:
        srv.stop(1)
        producer.close()
