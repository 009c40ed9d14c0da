"""Issue 16: SSRF and resource limits through the real APIs.

The encoder's online API runs in a real gRPC server (in this process, on a free port, with a
stand-in model: the limits act before any inference), and the segmenter's handler gets real
upload events. The SSRF target is a TCP listener started here that records every connection:
the Must-show is that it never sees one.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from PIL import Image

import services.encoder.api as api
from services.encoder.api import EncoderServicer, OnlineLimits, online_sources
from services.encoder.embedding import ShotEncoder
from services.segmenter.handler import SegmentHandler
from services.segmenter.main import SegmenterSettings
from shotline.blobstore import LocalBlobStore
from shotline.errors import BadInput
from shotline.events import new_meta
from shotline.settings import Settings
from shotline.v1 import encoder_pb2, encoder_pb2_grpc, events_pb2
from shotline.video.config import SegmenterConfig
from shotline.video.sources import SourceConfig
from tests.unit.test_service_handlers import record

FIXTURES = Path(Settings().cache_dir) / "fixtures"
pytestmark = pytest.mark.integration


class FakeModel:
    model_id, version, provider = "fake", "1", "cpu"
    dims = {"joint": 4, "visual": 4}

    def __init__(self) -> None:
        self.images_seen = 0

    def encode_text(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 4), np.float32) / 2

    def encode_images(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        self.images_seen += len(images)
        return {h: np.ones((len(images), 4), np.float32) / 2 for h in self.dims}


class Listener:
    """A TCP server on 127.0.0.1 that records each connection and each byte it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.settimeout(1)
            try:
                self.received += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


def _serve(servicer: EncoderServicer) -> tuple[grpc.Server, encoder_pb2_grpc.EncoderServiceStub, grpc.Channel]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    encoder_pb2_grpc.add_EncoderServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return server, encoder_pb2_grpc.EncoderServiceStub(channel), channel


@pytest.fixture()
def production(tmp_path: Path) -> Iterator[tuple[encoder_pb2_grpc.EncoderServiceStub, FakeModel]]:
    """The encoder API with the defaults a Kubernetes pod gets (no SHOTLINE_EGRESS_* set)."""
    settings = Settings(run_dir=tmp_path / "run", allowed_roots=[FIXTURES])
    model = FakeModel()
    servicer = EncoderServicer(ShotEncoder(model, LocalBlobStore(tmp_path)),  # type: ignore[arg-type]
                               online_sources(settings, LocalBlobStore(tmp_path)), OnlineLimits.from_settings(settings))
    server, stub, channel = _serve(servicer)
    yield stub, model
    channel.close()
    server.stop(0)


def _call(method: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        method(request, timeout=30)
    return err.value


# ---- Must show: SSRF refused before any byte is sent -----------------------------------------
@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:{port}/v.mp4",
    "http://localhost:{port}/v.mp4",
    "http://2130706433:{port}/v.mp4",            # 127.0.0.1 as a decimal number
    "http://0x7f.0.0.1:{port}/v.mp4",
    "http://[::ffff:127.0.0.1]:{port}/v.mp4",    # IPv4-mapped IPv6
    "https://127.0.0.1:{port}/v.mp4",
])
def test_encode_clip_ssrf_to_loopback_is_refused_before_any_byte(production, listener: Listener, uri: str) -> None:
    stub, model = production
    err = _call(stub.EncodeClip, encoder_pb2.EncodeClipRequest(uri=uri.format(port=listener.port)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == api.SOURCE_FAILED  # no address, no status, nothing to map the network with
    time.sleep(0.2)
    assert listener.connections == 0 and listener.received == b""
    assert model.images_seen == 0


def test_encode_clip_name_resolving_to_loopback_is_refused(production, listener: Listener,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "127.0.0.1" if host == "videos.example.com" else host, *a, **k))
    stub, _ = production
    err = _call(stub.EncodeClip, encoder_pb2.EncodeClipRequest(uri=f"http://videos.example.com:{listener.port}/v.mp4"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details() == api.SOURCE_FAILED
    assert listener.connections == 0


def test_encode_clip_errors_are_one_message(production, tmp_path: Path) -> None:
    """Not allowed, no such file, no such blob, unknown scheme, a file that is not a video:
    the caller cannot tell them apart (the log can)."""
    stub, _ = production
    for uri in ("/etc/passwd", f"file://{FIXTURES}/cockatoo.mp4", f"file://{FIXTURES}/nope.mp4",
                "blob://uploads/nope/nope.mp4", "gopher://example.com/", "http://169.254.169.254/latest/meta-data/",
                "http://10.0.0.1/v.mp4"):
        err = _call(stub.EncodeClip, encoder_pb2.EncodeClipRequest(uri=uri))
        assert (err.code(), err.details()) == (grpc.StatusCode.INVALID_ARGUMENT, api.SOURCE_FAILED), uri


def test_segmenter_upload_ssrf_to_loopback_is_dead_lettered_before_any_byte(listener: Listener, tmp_path: Path) -> None:
    s = SegmenterSettings(run_dir=tmp_path / "run", topic_prefix="t")
    handler = SegmentHandler(s, LocalBlobStore(tmp_path), SegmenterConfig(), SourceConfig.from_settings(s))
    for uri in (f"http://127.0.0.1:{listener.port}/v.mp4", f"http://[::1]:{listener.port}/v.mp4",
                "http://169.254.169.254/latest/meta-data/iam/"):
        ev = events_pb2.VideoUploaded(meta=new_meta("ssrf", "test"), uri=uri, upload_id="u1")
        with pytest.raises(BadInput) as err:
            handler.handle(record("t.videos.uploaded", ev.SerializeToString()))
        assert err.value.reason == "egress_denied"  # → the DLQ at once (BadInput), never retried
    assert listener.connections == 0


def test_local_stack_opt_in_still_reaches_loopback(listener: Listener, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """What `shotline stack up` and the chaos suite set: loopback only, explicitly."""
    monkeypatch.setenv("SHOTLINE_EGRESS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    s = SegmenterSettings(run_dir=tmp_path / "run", topic_prefix="t")
    handler = SegmentHandler(s, LocalBlobStore(tmp_path), SegmenterConfig(), SourceConfig.from_settings(s))
    ev = events_pb2.VideoUploaded(meta=new_meta("ok", "test"), uri=f"http://127.0.0.1:{listener.port}/v.mp4")
    with pytest.raises(BadInput) as err:
        handler.handle(record("t.videos.uploaded", ev.SerializeToString()))
    assert err.value.reason == "http_error" and listener.connections == 1  # the 404 it answers


# ---- limits ---------------------------------------------------------------------------------
def _png(w: int, h: int) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("L", (w, h)).save(buf, format="PNG", optimize=True)  # black compresses ~1000:1
    return buf.getvalue()


def test_image_pixel_caps_refuse_before_decoding(production) -> None:
    stub, model = production
    bomb = _png(5000, 5000)  # 25 Mpx in ~25 KB
    assert len(bomb) < 100_000
    err = _call(stub.EncodeImages, encoder_pb2.EncodeImagesRequest(images=[bomb]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image #0 is 5000x5000" in err.details() and "limit is 16777216 per image" in err.details()
    many = _png(3000, 3000)  # 9 Mpx each: fine alone, 8 of them are 72 Mpx
    err = _call(stub.EncodeImages, encoder_pb2.EncodeImagesRequest(images=[many] * 8))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "per request" in err.details()
    err = _call(stub.EncodeImages, encoder_pb2.EncodeImagesRequest(images=[_png(8, 8)] * 257))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "at most 256 images" in err.details()
    assert model.images_seen == 0
    ok = stub.EncodeImages(encoder_pb2.EncodeImagesRequest(images=[_png(64, 48)] * 3), timeout=30)
    assert len(ok.embeddings) == 3


def test_string_lengths(production) -> None:
    stub, _ = production
    err = _call(stub.EncodeText, encoder_pb2.EncodeTextRequest(texts=["a", "x" * 16385]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "text #1 has 16385 characters" in err.details()
    err = _call(stub.EncodeClip, encoder_pb2.EncodeClipRequest(uri="https://example.com/" + "a" * 3000))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "uri has 3020 characters" in err.details()
    assert len(stub.EncodeText(encoder_pb2.EncodeTextRequest(texts=["a cat"]), timeout=30).vectors) == 1


@pytest.fixture()
def blob_clip(tmp_path: Path) -> Iterator[tuple[EncoderServicer, encoder_pb2_grpc.EncoderServiceStub, list]]:
    """A 60 s video in the blob store, an encoder whose clip cap is 10 s, and a spy on decoding."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put("uploads/long/u1.mp4", (FIXTURES / "long_720p_60s.mp4").read_bytes())
    settings = Settings(run_dir=tmp_path / "run")
    servicer = EncoderServicer(ShotEncoder(FakeModel(), blobs), online_sources(settings, blobs),  # type: ignore[arg-type]
                               replace(OnlineLimits(), max_clip_s=10.0))
    decoded: list = []
    real = api.segment_video

    def spy(path, config=None):  # type: ignore[no-untyped-def]
        result = real(path, config)
        decoded.append(result)
        return result

    api.segment_video = spy
    server, stub, channel = _serve(servicer)
    yield servicer, stub, decoded
    api.segment_video = real
    channel.close()
    server.stop(0)


def test_clip_over_the_duration_cap_is_refused_before_decoding(blob_clip) -> None:
    _servicer, stub, decoded = blob_clip
    err = _call(stub.EncodeClip, encoder_pb2.EncodeClipRequest(uri="blob://uploads/long/u1.mp4"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "60 s long; the limit is 10 s" in err.details()
    assert decoded == []  # the header said 60 s: not one frame was decoded
    err = _call(stub.EncodeClip, encoder_pb2.EncodeClipRequest(uri="blob://uploads/long/u1.mp4",
                                                               start_ms=1000, end_ms=20000))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "the limit is 10 s" in err.details()
    assert decoded == []


def test_clip_range_is_cut_by_seeking(blob_clip) -> None:
    _servicer, stub, decoded = blob_clip
    res = stub.EncodeClip(encoder_pb2.EncodeClipRequest(uri="blob://uploads/long/u1.mp4",
                                                        start_ms=40_000, end_ms=48_000), timeout=120)
    assert res.shots
    for emb in res.shots:
        shot = emb.shot
        assert shot.keyframe_ms and all(40_000 <= ms < 48_000 for ms in shot.keyframe_ms)
        assert shot.end_ms > 40_000 and shot.start_ms < 48_000
    (window,) = decoded
    assert window.duration_ms < 8_000 + api.GOP_SLACK_S * 1000  # about the range, not the 60 s file
    assert window.frame_count < 60 * 25 / 2


def test_admission_control_answers_resource_exhausted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(run_dir=tmp_path / "run")
    servicer = EncoderServicer(ShotEncoder(FakeModel(), LocalBlobStore(tmp_path)),  # type: ignore[arg-type]
                               online_sources(settings, None),
                               replace(OnlineLimits(), clip_concurrency=1, admission_wait_s=0.1))
    entered, release = threading.Event(), threading.Event()

    def slow_window(*args, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        release.wait(30)
        raise BadInput("decode_error", "stand-in")

    monkeypatch.setattr(api, "clip_window", slow_window)
    server, stub, channel = _serve(servicer)
    try:
        first = stub.EncodeClip.future(encoder_pb2.EncodeClipRequest(clip=b"x" * 100), timeout=30)
        assert entered.wait(10)
        err = _call(stub.EncodeClip, encoder_pb2.EncodeClipRequest(clip=b"y" * 100))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "retry" in err.details()
        # text and images have their own gate: the busy clip slot does not block them
        assert stub.EncodeText(encoder_pb2.EncodeTextRequest(texts=["a"]), timeout=10).vectors
        release.set()
        with pytest.raises(grpc.RpcError) as done:
            first.result()
        assert done.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as again:  # the slot is free again
            stub.EncodeClip(encoder_pb2.EncodeClipRequest(clip=b"z" * 100), timeout=30)
        assert again.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        release.set()
        channel.close()
        server.stop(0)
