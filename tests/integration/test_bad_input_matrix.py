"""Issue 16: the bad-input matrix, through the real stack.

Every row is one class of bad input and the outcome it must get, written here by hand (not taken
from the code's constants): a `dlq.reason` on `shotline.videos.uploaded.dlq` for events and
uploaded files, a gRPC status for API calls, or "indexed" where a damaged input is still a video.
Events are produced on one partition with good uploads between them; files go through the real
`UploadVideo`; calls go to the real query and encoder servers. Good work submitted in between
must be unaffected: the good uploads are indexed and served, and the APIs answer good calls.

The services run under the test stack's supervisord exactly as `make up` runs them (the local
stack admits loopback egress for its own fault-injection servers, so the loopback SSRF rows run on
an encoder API and a segmenter handler with the Kubernetes defaults, as tests/integration/
test_security.py does).
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from PIL import Image

from services.segmenter.handler import SegmentHandler
from services.segmenter.main import SegmenterSettings
from shotline.blobstore import LocalBlobStore
from shotline.errors import BadInput
from shotline.events import new_meta
from shotline.settings import Settings
from shotline.stack import local
from shotline.taxonomy import load_taxonomy
from shotline.v1 import encoder_pb2, encoder_pb2_grpc, events_pb2, query_pb2, query_pb2_grpc
from shotline.video.config import SegmenterConfig
from shotline.video.sources import SourceConfig
from tests.integration.test_security import Listener, production  # noqa: F401 - fixtures
from tests.unit.test_service_handlers import record

from .conftest import wait_for
from .test_pipeline import services  # noqa: F401 - module fixture: the stack's services

pytestmark = pytest.mark.integration

FIXTURES = Path(Settings().cache_dir) / "fixtures"
RUN = "mx" + uuid.uuid4().hex[:8]
TOPIC = "shotline.videos.uploaded"
PARTITION = 0
C = grpc.StatusCode


def md() -> list[tuple[str, str]]:
    token = os.environ.get("SHOTLINE_API_TOKEN")
    return [("authorization", f"Bearer {token}")] if token else []


# ---- the stack --------------------------------------------------------------------------------
def _channel(port: int) -> grpc.Channel:
    ch = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)])
    grpc.channel_ready_future(ch).result(timeout=120)
    return ch


@pytest.fixture(scope="module")
def query(services: local.StackSettings) -> query_pb2_grpc.QueryServiceStub:
    return query_pb2_grpc.QueryServiceStub(_channel(services.query_port))


@pytest.fixture(scope="module")
def encoder(services: local.StackSettings) -> encoder_pb2_grpc.EncoderServiceStub:
    return encoder_pb2_grpc.EncoderServiceStub(_channel(services.encoder_port))


# ---- bad files, made here with ffmpeg -------------------------------------------------------------
def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args], check=True, timeout=120)


def make_files(d: Path) -> dict[str, Path]:
    """class → file. Each is a different way for bytes to not be a usable video."""
    good = d / "good.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(good))
    data = good.read_bytes()
    out: dict[str, Path] = {}

    def put(name: str, content: bytes) -> None:
        out[name] = d / name
        out[name].write_bytes(content)

    put("zero_length.mp4", b"")
    put("text_as_video.mp4", b"this is not a video\n" * 200)
    put("random_bytes.mkv", random.Random(1207).randbytes(64 << 10))  # seeded: FFmpeg sniffs some buffers as a format
    tail = d / "moov_at_end.mp4"  # moov at the end, cut in half: no index survives
    ffmpeg("-i", str(good), "-c", "copy", str(tail))
    put("truncated.mp4", tail.read_bytes()[: tail.stat().st_size // 2])
    head = bytearray(data)  # the index (moov) zeroed: the container cannot be read
    i = head.find(b"moov")
    head[i:i + 400] = bytes(400)
    put("corrupt_index.mp4", bytes(head))
    body = bytearray(data)  # frame data damaged from a third of the way: decoders conceal, shots remain
    for j in range(len(body) // 3, len(body) - 100, 97):
        body[j] ^= 0x5A
    put("corrupt_frames.mp4", bytes(body))
    out["audio_only.m4a"] = d / "audio_only.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", str(out["audio_only.m4a"]))
    out["huge_resolution.mp4"] = d / "huge_resolution.mp4"  # 4096x4096 > the 3840x2160 pixel cap
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=4096x4096:rate=25", "-frames:v", "1", "-c:v", "libx264",
           "-preset", "ultrafast", str(out["huge_resolution.mp4"]))
    mkv = d / "h264.mkv"  # a Matroska codec id FFmpeg has no decoder for
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "1", "-c:v", "libx264", str(mkv))
    put("unsupported_codec.mkv", mkv.read_bytes().replace(b"V_MPEG4/ISO/AVC", b"V_SHOTLINE/XYZ9", 1))
    put("no_frames.y4m", b"YUV4MPEG2 W320 H240 F25:1 C420\n")
    png = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 30, 30)).save(png, format="PNG")
    put("image_as_video.mp4", png.getvalue())
    out["good"] = good
    return out


# class → expected outcome of the upload ("indexed" = the video completes in the index)
FILE_ROWS = {
    "zero_length.mp4": "INVALID_ARGUMENT at upload",  # UploadVideo refuses an empty stream
    "text_as_video.mp4": "not_a_video",
    "random_bytes.mkv": "not_a_video",
    "truncated.mp4": "truncated",
    "corrupt_index.mp4": "truncated",        # the container can't be read: reported as cut short
    "audio_only.m4a": "no_video_stream",
    "huge_resolution.mp4": "too_large",
    "unsupported_codec.mkv": "unsupported_codec",
    "no_frames.y4m": "zero_duration",
    "corrupt_frames.mp4": "indexed",         # the decodable part is a video: its shots are indexed
    "image_as_video.mp4": "indexed",         # a still image is a one-frame, one-shot video
    "traversal_filename": "indexed",         # filename ../../../../etc/cron.d/x.mp4: only its extension is kept
}


# ---- bad events, produced straight onto the segmenter's topic -------------------------------------
def _event(video_id: str, uri: str, **kw: Any) -> events_pb2.VideoUploaded:
    return events_pb2.VideoUploaded(meta=new_meta(video_id, "matrix"), uri=uri, upload_id=str(uuid.uuid4()), **kw)


def event_rows(run_dir: Path, escape_dir: Path) -> dict[str, tuple[bytes, str, list[tuple[str, bytes]]]]:
    """class → (value, expected dlq.reason, headers)."""
    ok = FIXTURES / "cockatoo.mp4"
    no_meta = events_pb2.VideoUploaded(uri=str(ok)).SerializeToString()
    no_event_id = _event(f"{RUN}-x", str(ok))
    no_event_id.meta.event_id = ""
    no_video_id = _event("", str(ok))
    future = _event(f"{RUN}-f", str(ok))
    future.meta.schema_version = 99
    run_file = next(p for p in sorted(run_dir.rglob("*")) if p.is_file())
    wrong_type = events_pb2.ShotsIndexed(meta=new_meta(f"{RUN}-w", "matrix"), shot_ids=["a/1"], video_complete=True)
    return {
        "garbage bytes": (os.urandom(200), "malformed_event", []),
        "empty value": (b"", "malformed_event", []),
        "NUL bytes": (b"\x00" * 1000, "malformed_event", []),
        "invalid UTF-8 in a string field": (b"\x0a\x04\x0a\x02\xff\xfe", "malformed_event", []),
        "no envelope (meta)": (no_meta, "malformed_event", []),
        "missing event id": (no_event_id.SerializeToString(), "malformed_event", []),
        "missing video id": (no_video_id.SerializeToString(), "malformed_event", []),
        "newer schema version": (future.SerializeToString(), "unsupported_schema", []),
        "another topic's event (ShotsIndexed)": (wrong_type.SerializeToString(), "bad_uri", []),
        "video id with NUL": (_event(f"{RUN}\x00x", str(ok)).SerializeToString(), "bad_video_id", []),
        "oversize video id (300 chars)": (_event("v" * 300, str(ok)).SerializeToString(), "bad_video_id", []),
        "no uri": (_event(f"{RUN}-nouri", "").SerializeToString(), "bad_uri", []),
        "path traversal out of an allowed root": (
            _event(f"{RUN}-trav", f"{FIXTURES}/../../../../etc/passwd").SerializeToString(), "uri_not_allowed", []),
        "symlink escaping an allowed root": (
            _event(f"{RUN}-link", str(escape_dir / "escape.mp4")).SerializeToString(), "uri_not_allowed", []),
        "the stack's run dir (Redis AOF, Milvus db)": (
            _event(f"{RUN}-run", str(run_file)).SerializeToString(), "uri_not_allowed", []),
        "unsupported scheme (gopher)": (
            _event(f"{RUN}-gopher", "gopher://example.com/v.mp4").SerializeToString(), "unsupported_scheme", []),
        "SSRF: cloud metadata address": (
            _event(f"{RUN}-meta", "http://169.254.169.254/latest/meta-data/").SerializeToString(), "egress_denied", []),
        "SSRF: private address": (
            _event(f"{RUN}-priv", "http://10.0.0.1/v.mp4").SerializeToString(), "egress_denied", []),
        "blob key traversal": (
            _event(f"{RUN}-blob", "blob://../../etc/passwd").SerializeToString(), "bad_blob_key", []),
        "missing blob": (
            _event(f"{RUN}-noblob", "blob://uploads/none/none.mp4").SerializeToString(), "missing_blob", []),
        "zero-length file by reference": (
            _event(f"{RUN}-empty", str(escape_dir / "empty.mp4")).SerializeToString(), "empty_file", []),
        "missing file under an allowed root": (
            _event(f"{RUN}-nofile", str(FIXTURES / "no-such-video.mp4")).SerializeToString(), "missing_file", []),
    }


# Good uploads with forged worker headers: an outside producer can set any header. Expected: the
# video is processed like any other (before the fix, these crash-looped the segmenter).
FORGED = {
    "forged retry headers (non-numeric)": [("retry.not_before_ms", b"soon"), ("retry.attempt", b"x"),
                                           ("retry.origin", b"nowhere")],
    "forged retry header (not before +inf)": [("retry.not_before_ms", b"inf"), ("retry.attempt", b"2")],
}


@dataclass
class Submitted:
    expect: str
    partition: int = -1
    offset: int = -1
    video_id: str = ""
    upload_id: str = ""


def read_all(bootstrap: str, topic: str, consumer: list[KafkaConsumer]) -> list[Any]:
    if not consumer:
        c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                          consumer_timeout_ms=500)
        parts = c.partitions_for_topic(topic) or set()
        c.assign([TopicPartition(topic, p) for p in parts])
        c.seek_to_beginning()
        consumer.append(c)
    return list(consumer[0])


@pytest.fixture(scope="module")
def submitted(stack: local.Endpoints, services: local.StackSettings, query: query_pb2_grpc.QueryServiceStub,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Submitted]]:
    d = tmp_path_factory.mktemp("matrix")
    files = make_files(d)
    escape_dir = FIXTURES / f"matrix-{RUN}"  # an allowed root; the link inside points out of it
    escape_dir.mkdir()
    (escape_dir / "escape.mp4").symlink_to("/etc/hostname")
    (escape_dir / "empty.mp4").write_bytes(b"")
    rows: dict[str, Submitted] = {}
    p = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")

    def good(name: str, headers: list[tuple[str, bytes]] | None = None) -> None:
        ev = _event(f"{RUN}-{name}", str(FIXTURES / "cockatoo.mp4"), title="good")
        p.send(TOPIC, key=ev.meta.video_id.encode(), value=ev.SerializeToString(), partition=PARTITION,
               headers=headers or []).get(30)
        rows[name] = Submitted("indexed", video_id=ev.meta.video_id, upload_id=ev.upload_id)

    try:
        good("good-first")
        events = event_rows(services.run_dir, escape_dir)
        assert list(events) == EVENT_NAMES and {n: e[1] for n, e in events.items()} == EVENT_EXPECT
        for i, (name, (value, reason, headers)) in enumerate(events.items()):
            meta = p.send(TOPIC, key=f"{RUN}-{i}".encode(), value=value, partition=PARTITION, headers=headers).get(30)
            rows[name] = Submitted(reason, meta.partition, meta.offset)
            if i == 10:
                good("good-between")  # behind ten bad records on the same partition
        for name, headers in FORGED.items():
            good(name, headers)
        for name, expect in FILE_ROWS.items():
            path = files[name] if name in files else files["good"]
            filename = "../../../../etc/cron.d/x.mp4" if name == "traversal_filename" else path.name
            vid = f"{RUN}-file-{len(rows)}"

            def parts(path: Path = path, vid: str = vid, filename: str = filename) -> Iterator[query_pb2.UploadVideoRequest]:
                yield query_pb2.UploadVideoRequest(metadata=query_pb2.UploadVideoMetadata(
                    video_id=vid, title=name, filename=filename))
                yield query_pb2.UploadVideoRequest(chunk=path.read_bytes())
            try:
                res = query.UploadVideo(parts(), timeout=60, metadata=md())
            except grpc.RpcError as e:
                rows[name] = Submitted(expect, video_id=vid, upload_id=f"{e.code().name} at upload")
                continue
            assert res.uri.startswith(f"blob://uploads/{vid}/") and ".." not in res.uri, res.uri
            rows[name] = Submitted(expect, video_id=vid, upload_id=res.upload_id)
        good("good-last")
        p.close()

        dlq: list[KafkaConsumer] = []
        indexed: list[KafkaConsumer] = []
        seen_dlq: list[Any] = []
        seen_indexed: list[Any] = []

        def outcome(s: Submitted) -> str | None:
            if s.upload_id.endswith(" at upload"):  # the API refused it: nothing was published
                return s.upload_id
            for r in seen_dlq:
                h = {k: v.decode(errors="replace") for k, v in r.headers}
                if (s.offset >= 0 and h.get("dlq.topic") == TOPIC and h.get("dlq.partition") == str(s.partition)
                        and h.get("dlq.offset") == str(s.offset)) or (s.video_id and r.key and r.key.decode() == s.video_id):
                    return h.get("dlq.reason")
            for r in seen_indexed:
                ev = events_pb2.ShotsIndexed.FromString(r.value)
                if s.video_id and ev.meta.video_id == s.video_id and ev.upload_id == s.upload_id and ev.video_complete:
                    return "indexed"
            return None

        def all_done() -> bool:
            seen_dlq.extend(read_all(stack.kafka, TOPIC + ".dlq", dlq))
            seen_indexed.extend(read_all(stack.kafka, "shotline.shots.indexed", indexed))
            return all(outcome(s) for s in rows.values())

        try:
            wait_for(all_done, 300, interval=1.0, what="every matrix row's outcome")
        except AssertionError:
            pass  # the rows without an outcome fail one by one below, with their names
        for c in dlq + indexed:
            c.close()
        yield {name: Submitted(outcome(s) or "no outcome", s.partition, s.offset, s.video_id, s.upload_id)
               for name, s in rows.items()}
    finally:
        shutil.rmtree(escape_dir, ignore_errors=True)


EVENT_NAMES = ["garbage bytes", "empty value", "NUL bytes", "invalid UTF-8 in a string field", "no envelope (meta)",
               "missing event id", "missing video id", "newer schema version", "another topic's event (ShotsIndexed)",
               "video id with NUL", "oversize video id (300 chars)", "no uri", "path traversal out of an allowed root",
               "symlink escaping an allowed root", "the stack's run dir (Redis AOF, Milvus db)",
               "unsupported scheme (gopher)", "SSRF: cloud metadata address", "SSRF: private address",
               "blob key traversal", "missing blob", "zero-length file by reference",
               "missing file under an allowed root"]
EVENT_EXPECT = {  # the same outcomes as event_rows, listed once more by hand for the README table
    "garbage bytes": "malformed_event", "empty value": "malformed_event", "NUL bytes": "malformed_event",
    "invalid UTF-8 in a string field": "malformed_event", "no envelope (meta)": "malformed_event",
    "missing event id": "malformed_event", "missing video id": "malformed_event",
    "newer schema version": "unsupported_schema", "another topic's event (ShotsIndexed)": "bad_uri",
    "video id with NUL": "bad_video_id", "oversize video id (300 chars)": "bad_video_id", "no uri": "bad_uri",
    "path traversal out of an allowed root": "uri_not_allowed", "symlink escaping an allowed root": "uri_not_allowed",
    "the stack's run dir (Redis AOF, Milvus db)": "uri_not_allowed", "unsupported scheme (gopher)": "unsupported_scheme",
    "SSRF: cloud metadata address": "egress_denied", "SSRF: private address": "egress_denied",
    "blob key traversal": "bad_blob_key", "missing blob": "missing_blob",
    "zero-length file by reference": "empty_file", "missing file under an allowed root": "missing_file",
}
PIPELINE_ROWS = EVENT_NAMES + list(FORGED) + list(FILE_ROWS)


@pytest.mark.parametrize("name", PIPELINE_ROWS)
def test_event_and_file_rows(submitted: dict[str, Submitted], name: str) -> None:
    expected = FILE_ROWS.get(name) or EVENT_EXPECT.get(name) or "indexed"
    got = submitted[name].expect
    assert got == expected, f"{name}: expected {expected}, got {got}"


def test_good_uploads_between_bad_ones_are_unaffected(submitted: dict[str, Submitted],
                                                      query: query_pb2_grpc.QueryServiceStub) -> None:
    """The good uploads before, between and after the bad records of the same partition are
    indexed and get their categories served."""
    for name in ("good-first", "good-between", "good-last"):
        assert submitted[name].expect == "indexed", name
        vid = submitted[name].video_id
        cats = wait_for(lambda vid=vid: _categories(query, vid), 90, interval=1.0, what=f"{name} categories")
        assert cats.video_id == vid and cats.taxonomy_version


def _categories(query: query_pb2_grpc.QueryServiceStub, vid: str) -> query_pb2.VideoCategories | None:
    try:
        return query.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id=vid), timeout=10, metadata=md())
    except grpc.RpcError as e:
        assert e.code() == C.NOT_FOUND, e
        return None


# ---- gRPC calls ---------------------------------------------------------------------------------------
def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (w, h)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _upload(*parts: query_pb2.UploadVideoRequest) -> Iterator[query_pb2.UploadVideoRequest]:
    yield from parts


LONG = "x" * (1 << 20)
GRPC_ROWS: list[tuple[str, str, str, Any, C]] = [
    # (class, api, method, request, expected status)
    ("PNG decompression bomb (25 Mpx in ~25 kB)", "encoder", "EncodeImages",
     lambda: encoder_pb2.EncodeImagesRequest(images=[_png(5000, 5000)]), C.INVALID_ARGUMENT),
    ("many small PNG bombs (over the per-request pixels)", "encoder", "EncodeImages",
     lambda: encoder_pb2.EncodeImagesRequest(images=[_png(4000, 4000)] * 8), C.INVALID_ARGUMENT),
    ("too many images in one call", "encoder", "EncodeImages",
     lambda: encoder_pb2.EncodeImagesRequest(images=[_png(8, 8)] * 300), C.INVALID_ARGUMENT),
    ("image bytes that are not an image", "encoder", "EncodeImages",
     lambda: encoder_pb2.EncodeImagesRequest(images=[b"\x89PNG\r\n\x1a\n" + os.urandom(100)]), C.INVALID_ARGUMENT),
    ("oversize text to embed (1 MiB)", "encoder", "EncodeText",
     lambda: encoder_pb2.EncodeTextRequest(texts=[LONG]), C.INVALID_ARGUMENT),
    ("clip bytes that are not a video", "encoder", "EncodeClip",
     lambda: encoder_pb2.EncodeClipRequest(clip=os.urandom(4096)), C.INVALID_ARGUMENT),
    ("clip over the size cap (33 MiB)", "encoder", "EncodeClip",
     lambda: encoder_pb2.EncodeClipRequest(clip=b"\x00" * (33 << 20)), C.INVALID_ARGUMENT),
    ("clip URI to a local file", "encoder", "EncodeClip",
     lambda: encoder_pb2.EncodeClipRequest(uri="file:///etc/passwd"), C.INVALID_ARGUMENT),
    ("SSRF through SearchSimilar(video.uri): metadata address", "query", "SearchSimilar",
     lambda: query_pb2.SearchSimilarRequest(video=query_pb2.VideoRange(uri="http://169.254.169.254/latest/meta-data/")),
     C.INVALID_ARGUMENT),
    ("oversize search query (1 MiB)", "query", "SearchText",
     lambda: query_pb2.SearchTextRequest(query=LONG), C.INVALID_ARGUMENT),
    ("top_k out of range", "query", "SearchText",
     lambda: query_pb2.SearchTextRequest(query="a dog", top_k=100_000), C.INVALID_ARGUMENT),
    ("oversize label name", "query", "SubmitLabels",
     lambda: query_pb2.SubmitLabelsRequest(label="L" * 10_000, description="x"), C.INVALID_ARGUMENT),
    ("malformed shot id in a label", "query", "SubmitLabels",
     lambda: query_pb2.SubmitLabelsRequest(label=f"{RUN}-l", labels=[events_pb2.ShotLabel(
         shot_id="../../x", value=events_pb2.LABEL_VALUE_POSITIVE)]), C.INVALID_ARGUMENT),
    ("oversize video id", "query", "GetVideoCategories",
     lambda: query_pb2.GetVideoCategoriesRequest(video_id="v" * 10_000), C.INVALID_ARGUMENT),
    ("unknown video", "query", "GetVideoCategories",
     lambda: query_pb2.GetVideoCategoriesRequest(video_id=f"{RUN}-never"), C.NOT_FOUND),
    ("too many ids in a batch", "query", "BatchGetVideoCategories",
     lambda: query_pb2.BatchGetVideoCategoriesRequest(video_ids=[f"v{i}" for i in range(501)]), C.INVALID_ARGUMENT),
    ("upload: chunk before metadata", "query", "UploadVideo",
     lambda: _upload(query_pb2.UploadVideoRequest(chunk=b"abc")), C.INVALID_ARGUMENT),
    ("upload: metadata only, no bytes", "query", "UploadVideo",
     lambda: _upload(query_pb2.UploadVideoRequest(metadata=query_pb2.UploadVideoMetadata(video_id=f"{RUN}-e"))),
     C.INVALID_ARGUMENT),
    ("oversize category annotator (1 MiB)", "query", "LabelVideoCategories",
     lambda: query_pb2.LabelVideoCategoriesRequest(video_id=f"{RUN}-none", annotator=LONG, labels=[
         query_pb2.CategoryLabel(category_id=next(iter(load_taxonomy().ids)), value=events_pb2.LABEL_VALUE_POSITIVE)]),
     C.INVALID_ARGUMENT),
    ("oversize description (1 MiB)", "query", "SubmitLabels",
     lambda: query_pb2.SubmitLabelsRequest(label=f"{RUN}-desc", description=LONG), C.INVALID_ARGUMENT),
    ("oversize annotator (1 MiB)", "query", "SubmitLabels",
     lambda: query_pb2.SubmitLabelsRequest(label=f"{RUN}-ann", annotator=LONG, labels=[events_pb2.ShotLabel(
         shot_id=f"{RUN}-none/0", value=events_pb2.LABEL_VALUE_POSITIVE)]), C.INVALID_ARGUMENT),
    ("deploy an unknown classifier version", "query", "DeployClassifier",
     lambda: query_pb2.DeployClassifierRequest(label=f"{RUN}-nolabel", version=7), C.NOT_FOUND),
]
def _code(stub: Any, method: str, request: Any) -> C:
    try:
        getattr(stub, method)(request, timeout=60, metadata=md())
    except grpc.RpcError as e:
        return e.code()
    return C.OK


def _still_serves(query: query_pb2_grpc.QueryServiceStub, encoder: encoder_pb2_grpc.EncoderServiceStub) -> None:
    assert encoder.GetModelInfo(encoder_pb2.GetModelInfoRequest(), timeout=30, metadata=md()).model.model_id
    assert encoder.EncodeText(encoder_pb2.EncodeTextRequest(texts=["a red bike"]), timeout=30, metadata=md()).vectors
    assert query.SearchText(query_pb2.SearchTextRequest(query="a bird", top_k=3), timeout=30, metadata=md()).model.model_id


@pytest.mark.parametrize(("name", "api", "method", "build", "expected"), GRPC_ROWS, ids=[r[0] for r in GRPC_ROWS])
def test_grpc_rows(query: query_pb2_grpc.QueryServiceStub, encoder: encoder_pb2_grpc.EncoderServiceStub,
                   name: str, api: str, method: str, build: Any, expected: C) -> None:
    stub = query if api == "query" else encoder
    assert _code(stub, method, build()) == expected, name
    _still_serves(query, encoder)  # and the good call right after is unaffected


def test_unparseable_request_bytes(query: query_pb2_grpc.QueryServiceStub, encoder: encoder_pb2_grpc.EncoderServiceStub,
                                   services: local.StackSettings) -> None:
    """Garbage protobuf bytes to the API: INVALID_ARGUMENT (not gRPC's INTERNAL), and the server lives on."""
    ch = grpc.insecure_channel(f"127.0.0.1:{services.query_port}")
    raw = ch.unary_unary("/shotline.v1.QueryService/SearchText", request_serializer=None, response_deserializer=None)
    try:
        raw(b"\x0a\x05\xff\xfe\xfd\xfc\xfb", timeout=10, metadata=md())
        code = C.OK
    except grpc.RpcError as e:
        code = e.code()
    ch.close()
    _still_serves(query, encoder)
    assert code == C.INVALID_ARGUMENT


# ---- SSRF to loopback with the Kubernetes defaults (the local stack admits loopback) ---------------
def test_ssrf_to_loopback_is_refused_before_any_byte(production, tmp_path: Path) -> None:  # noqa: F811
    stub, _ = production
    lst = Listener()
    try:
        assert _code(stub, "EncodeClip", encoder_pb2.EncodeClipRequest(uri=f"http://127.0.0.1:{lst.port}/v.mp4")) \
            == C.INVALID_ARGUMENT
        s = SegmenterSettings(run_dir=tmp_path / "run", topic_prefix="t")
        handler = SegmentHandler(s, LocalBlobStore(tmp_path), SegmenterConfig(), SourceConfig.from_settings(s))
        ev = events_pb2.VideoUploaded(meta=new_meta("ssrf", "matrix"), uri=f"http://[::1]:{lst.port}/v.mp4")
        with pytest.raises(BadInput) as err:
            handler.handle(record("t.videos.uploaded", ev.SerializeToString()))
        assert err.value.reason == "egress_denied"
        time.sleep(0.2)
        assert lst.connections == 0 and lst.received == b""
    finally:
        lst.close()


def test_matrix_size() -> None:
    """The issue asks for at least 25 classes across events, calls and files."""
    classes = len(EVENT_NAMES) + len(FORGED) + len(FILE_ROWS) + len(GRPC_ROWS) + 2  # + raw bytes, loopback SSRF
    assert classes >= 25
    print(f"bad-input matrix: {classes} classes")
