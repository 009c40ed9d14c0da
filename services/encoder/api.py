"""The encoder's online gRPC API: text, images and short clips → embeddings.

Only the encoder loads models; the query service calls this for text and clip queries. The
same process runs the ingest worker, so every call is bounded before it costs anything
(``OnlineLimits``, from ``SHOTLINE_ONLINE_*``):
- counts and string lengths are checked first (INVALID_ARGUMENT);
- images are measured from their headers, per image and per request, before any is decoded;
- a clip's duration is read from its container header before a frame is decoded; a longer video
  needs a range of at most ``max_clip_s``, which is cut out by seeking and copying packets (no
  decode), so only that window is ever decoded;
- ``EncodeClip(uri)`` fetches through the egress policy (no internal addresses) with its own
  download cap and deadline, and every failure to fetch or read the source answers one generic
  message (details in the log), so the API tells nothing about the internal network or files;
- admission control: at most ``concurrency`` text/image and ``clip_concurrency`` clip calls run
  at once; a call that waits longer than ``admission_wait_s`` gets RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import functools
import io
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import grpc
import numpy as np
from PIL import Image, UnidentifiedImageError

from services.encoder.embedding import ShotEncoder, decode_image
from shotline import logs
from shotline.blobstore import BlobStore
from shotline.errors import BadInput, RetryableInput, TransientError
from shotline.events import shot_id
from shotline import grpcserver
from shotline.grpcserver import guard_all, still_wanted
from shotline.models.runtime import mean_pool_shots
from shotline.v1 import common_pb2, encoder_pb2, encoder_pb2_grpc, events_pb2
from shotline.video.config import SegmenterConfig
from shotline.video.decode import open_container
from shotline.video.shots import SegmentResult, segment_video
from shotline.video.sources import SourceConfig, open_source

log = logs.get("encoder.api")

SOURCE_FAILED = "video source not reachable, not allowed or not a readable video"
GOP_SLACK_S = 30.0  # a window starts at the keyframe before start_ms: this much extra may be decoded
MAX_FPS = 120       # bounds the frames decoded when a stream has no usable duration

# Kept for importers; the live values are OnlineLimits fields.
MAX_TEXTS = 256
MAX_IMAGES = 256
MAX_CLIP_BYTES = 32 * 1024 * 1024
MAX_CLIP_SECONDS = 120.0


@dataclass(frozen=True)
class OnlineLimits:
    max_texts: int = MAX_TEXTS
    max_text_chars: int = 16384
    max_images: int = MAX_IMAGES
    max_image_pixels: int = 4096 * 4096
    max_request_pixels: int = 64 * 1024**2
    max_clip_bytes: int = MAX_CLIP_BYTES
    max_clip_s: float = MAX_CLIP_SECONDS
    max_uri_chars: int = 2048
    concurrency: int = 4
    clip_concurrency: int = 1
    admission_wait_s: float = 1.0

    @classmethod
    def from_settings(cls, s: Any) -> OnlineLimits:
        return cls(max_texts=s.online_max_texts, max_text_chars=s.online_max_text_chars,
                   max_images=s.online_max_images, max_image_pixels=s.online_max_image_pixels,
                   max_request_pixels=s.online_max_request_pixels, max_clip_bytes=s.online_max_clip_bytes,
                   max_clip_s=s.online_max_clip_seconds, max_uri_chars=s.online_max_uri_chars,
                   concurrency=s.online_concurrency, clip_concurrency=s.online_clip_concurrency,
                   admission_wait_s=s.online_admission_wait_seconds)


def online_sources(settings: Any, blobs: BlobStore | None) -> SourceConfig:
    """Sources for ``EncodeClip(uri)``: the online schemes (no local files by default), the
    egress policy, and a download cap and deadline sized for a query, not for an upload."""
    return SourceConfig.from_settings(
        settings, blobs=blobs, schemes=settings.online_uri_schemes,
        max_download_bytes=min(settings.online_max_download_bytes, settings.max_download_bytes),
        deadline_s=settings.online_download_deadline_seconds)


def _vec(v: np.ndarray) -> events_pb2.Vector:
    return events_pb2.Vector(values=v.astype(np.float32).tolist())


class _Overloaded(Exception):  # noqa: N818
    pass


def _admitted(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Admission control around an already-guarded method: RESOURCE_EXHAUSTED when the
    ``kind`` gate stays full for ``admission_wait_s`` (the guard would turn an abort raised
    inside it into INTERNAL, so this wraps it from outside)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        method = fn.__name__

        @functools.wraps(fn)
        def wrapper(self: EncoderServicer, request: Any, context: grpc.ServicerContext) -> Any:
            gate, size = self._gates[kind]
            if not gate.acquire(timeout=self.limits.admission_wait_s):
                # counted where every call is (shotline_grpc_requests_total{code="RESOURCE_EXHAUSTED"})
                grpcserver.RPC_REQUESTS.labels("encoder", method, grpc.StatusCode.RESOURCE_EXHAUSTED.name).inc()
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              f"encoder busy: {size} online {kind} call(s) already running; retry with backoff")
            try:
                return fn(self, request, context)
            finally:
                gate.release()

        return wrapper

    return deco


# shotline.auth: the permission each method needs (a method missing here is refused). Callers are
# the other services (the `service` role) and operators (`admin`).
ENCODER_PERMISSIONS = {"EncodeText": "encode", "EncodeImages": "encode", "EncodeClip": "encode",
                       "GetModelInfo": "encode"}


@guard_all("encoder")
class EncoderServicer(encoder_pb2_grpc.EncoderServiceServicer):
    def __init__(self, encoder: ShotEncoder, sources: SourceConfig, limits: OnlineLimits | None = None):
        self.encoder = encoder
        self.model = encoder.model
        self.sources = sources
        self.limits = limits or OnlineLimits()
        self.ref = common_pb2.ModelRef(model_id=self.model.model_id, version=self.model.version)
        self._gates = {"encode": (threading.BoundedSemaphore(self.limits.concurrency), self.limits.concurrency),
                       "clip": (threading.BoundedSemaphore(self.limits.clip_concurrency),
                                self.limits.clip_concurrency)}

    def EncodeText(self, request: encoder_pb2.EncodeTextRequest, context: grpc.ServicerContext):  # noqa: N802
        lim = self.limits
        if not request.texts:
            raise BadInput("empty_request", "texts must not be empty")
        if len(request.texts) > lim.max_texts:
            raise BadInput("too_many", f"at most {lim.max_texts} texts per call")
        for i, t in enumerate(request.texts):
            if len(t) > lim.max_text_chars:
                raise BadInput("text_too_long", f"text #{i} has {len(t)} characters; the limit is {lim.max_text_chars}")
        vectors = self.model.encode_text(list(request.texts))
        return encoder_pb2.EncodeTextResponse(model=self.ref, vectors=[_vec(v) for v in vectors])

    def EncodeImages(self, request: encoder_pb2.EncodeImagesRequest, context: grpc.ServicerContext):  # noqa: N802
        lim = self.limits
        if not request.images:
            raise BadInput("empty_request", "images must not be empty")
        if len(request.images) > lim.max_images:
            raise BadInput("too_many", f"at most {lim.max_images} images per call")
        total = 0
        for i, data in enumerate(request.images):  # headers only: nothing is decoded yet
            w, h = image_size(data, i)
            if w * h > lim.max_image_pixels:
                raise BadInput("image_too_large", f"image #{i} is {w}x{h} = {w * h} pixels; "
                                                  f"the limit is {lim.max_image_pixels} per image")
            total += w * h
            if total > lim.max_request_pixels:
                raise BadInput("request_too_large", f"images #0-#{i} hold {total} pixels; the limit is "
                                                    f"{lim.max_request_pixels} per request (send fewer per call)")
        images = [decode_image(data, f"#{i}") for i, data in enumerate(request.images)]
        still_wanted(context)  # inference is the costly part: not for a caller that is gone
        per_head = self.model.encode_images(images)
        return encoder_pb2.EncodeImagesResponse(model=self.ref, embeddings=[
            events_pb2.ShotEmbedding(vectors={h: _vec(per_head[h][i]) for h in per_head})
            for i in range(len(images))
        ])

    def EncodeClip(self, request: encoder_pb2.EncodeClipRequest, context: grpc.ServicerContext):  # noqa: N802
        lim = self.limits
        if bool(request.clip) == bool(request.uri):
            raise BadInput("bad_request", "give exactly one of clip bytes or uri")
        if len(request.clip) > lim.max_clip_bytes:
            raise BadInput("clip_too_large", f"clip is {len(request.clip)} bytes; limit {lim.max_clip_bytes}")
        if len(request.uri) > lim.max_uri_chars:
            raise BadInput("uri_too_long", f"uri has {len(request.uri)} characters; the limit is {lim.max_uri_chars}")
        if request.start_ms < 0 or request.end_ms < 0:
            raise BadInput("bad_range", "start_ms and end_ms must be >= 0")
        if request.end_ms and request.end_ms <= request.start_ms:
            raise BadInput("bad_range", "end_ms must be greater than start_ms")
        if request.end_ms and (request.end_ms - request.start_ms) / 1000 > lim.max_clip_s:
            raise BadInput("clip_too_long", f"the range is {(request.end_ms - request.start_ms) / 1000:g} s; "
                                            f"the limit is {lim.max_clip_s:g} s")
        start_ms, end_ms = int(request.start_ms), int(request.end_ms) or None
        if request.clip:
            with tempfile.TemporaryDirectory(prefix="shotline-clip-") as tmp:
                path = Path(tmp) / "clip.bin"
                path.write_bytes(request.clip)
                result, offset = clip_window(path, start_ms, end_ms, lim.max_clip_s, Path(tmp))
        else:
            result, offset = self._uri_window(request.uri, start_ms, end_ms)
        still_wanted(context)  # the fetch and decode may have outlived the caller: no inference then
        return self._encode_result(result, offset, start_ms, end_ms)

    def _uri_window(self, uri: str, start_ms: int, end_ms: int | None) -> tuple[SegmentResult, int]:
        try:
            with open_source(uri, self.sources) as path, \
                    tempfile.TemporaryDirectory(prefix="shotline-clip-", dir=self.sources.temp_dir) as tmp:
                return clip_window(path, start_ms, end_ms, self.limits.max_clip_s, Path(tmp))
        except _ClipLimit:
            raise
        except TransientError as e:  # the blob store: shared infrastructure, UNAVAILABLE
            log.warning("clip source unavailable", uri=uri[:300], error=str(e))
            raise TransientError("video source temporarily unavailable") from None
        except (BadInput, RetryableInput) as e:
            # One answer for "not allowed", "not found", "refused", "timed out" and "not a video":
            # anything finer would map the internal network or the file system for the caller.
            log.warning("clip source failed", uri=uri[:300], reason=e.reason, error=e.message)
            raise BadInput("source_failed", SOURCE_FAILED) from None

    def _encode_result(self, result: SegmentResult, offset: int, start_ms: int,
                       end_ms: int | None) -> encoder_pb2.EncodeClipResponse:
        images, owner, shots = [], [], []
        for s, frames, frame_ms in zip(result.shots, result.keyframes, result.keyframe_ms, strict=True):
            keep = [(img, ms + offset) for img, ms in zip(frames, frame_ms, strict=True)
                    if ms + offset >= start_ms and (end_ms is None or ms + offset < end_ms)]
            if not keep:
                continue
            shots.append(common_pb2.Shot(shot_id=shot_id("clip", s.index), video_id="clip", index=s.index,
                                         start_frame=s.start_frame, end_frame=s.end_frame,
                                         start_ms=s.start_ms + offset, end_ms=s.end_ms + offset,
                                         transition=s.transition, keyframe_ms=[ms for _, ms in keep]))
            images.extend(img for img, _ in keep)
            owner.extend([s.index] * len(keep))
        if not images:
            raise BadInput("empty_range", "no frames of the clip fall inside the requested range")
        per_head = self.model.encode_images(images)
        pooled = {h: mean_pool_shots(e, owner) for h, e in per_head.items()}
        return encoder_pb2.EncodeClipResponse(model=self.ref, shots=[
            events_pb2.ShotEmbedding(shot=shot, vectors={
                h: _vec(p.embeddings[p.shot_ids.index(shot.index)]) for h, p in pooled.items()})
            for shot in shots
        ])

    def GetModelInfo(self, request: encoder_pb2.GetModelInfoRequest, context: grpc.ServicerContext):  # noqa: N802
        return encoder_pb2.ModelInfo(model=self.ref, head_dims=self.model.dims, provider=self.model.provider)


# Admission control wraps the guarded methods from outside (see _admitted).
EncoderServicer.EncodeText = _admitted("encode")(EncoderServicer.EncodeText)  # type: ignore[method-assign]
EncoderServicer.EncodeImages = _admitted("encode")(EncoderServicer.EncodeImages)  # type: ignore[method-assign]
EncoderServicer.EncodeClip = _admitted("clip")(EncoderServicer.EncodeClip)  # type: ignore[method-assign]


def image_size(data: bytes, index: int) -> tuple[int, int]:
    """(width, height) from an image's header; nothing is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as e:
        raise BadInput("image_too_large", f"image #{index}: {e}") from e
    except (UnidentifiedImageError, OSError) as e:
        raise BadInput("bad_image", f"image #{index} is not a readable image: {e}") from e


# ---- clips: the duration from the header, then only the requested window is decoded ----------
class _ClipLimit(BadInput):
    """A limit the caller must see as such even for a uri source (not folded into SOURCE_FAILED)."""


def _header_seconds(container: av.container.InputContainer) -> float | None:
    stream = container.streams.video[0]
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def clip_window(path: Path, start_ms: int, end_ms: int | None, max_s: float,
                tmp: Path) -> tuple[SegmentResult, int]:
    """Segment only [start_ms, end_ms) of ``path``, never more than ``max_s`` (+ a GOP) of it.

    Returns the result and the offset (ms) to add to its times. The duration comes from the
    container header before any frame is decoded: a video within ``max_s`` is segmented as is;
    a longer one needs a range, which is cut out by seeking to the keyframe before ``start_ms``
    and copying packets up to ``end_ms`` (demux only). Streams without a duration are decoded
    under a frame cap. Over a limit: ``_ClipLimit`` / ``BadInput("clip_too_long")``."""
    window_cfg = SegmenterConfig(keyframes_per_shot=3, max_duration_s=max_s + GOP_SLACK_S,
                                 max_frames=int((max_s + GOP_SLACK_S) * MAX_FPS))
    with open_container(path) as container:
        if not container.streams.video:
            raise BadInput("no_video_stream", "the file has no video stream")
        seconds = _header_seconds(container)
        if seconds is not None and start_ms >= seconds * 1000:
            raise _ClipLimit("empty_range", f"start_ms {start_ms} is past the end of the video ({seconds:.1f} s)")
        if seconds is not None and seconds <= max_s:
            container.close()
            return segment_video(path, replace(window_cfg, max_duration_s=max_s)), 0
        if end_ms is None:
            if seconds is not None:
                raise _ClipLimit("clip_too_long", f"the video is {seconds:.0f} s long; the limit is {max_s:g} s: "
                                                  "give start_ms/end_ms for a range of at most that")
            container.close()
            return segment_video(path, replace(window_cfg, max_duration_s=max_s,
                                               max_frames=int(max_s * MAX_FPS))), 0
        out = tmp / "window.mkv"
        try:
            offset = _copy_window(container, out, start_ms, end_ms)
        except av.error.FFmpegError as e:
            raise BadInput("decode_error", f"cannot cut the requested range: {e}") from e
    try:
        return segment_video(out, window_cfg), offset
    except BadInput as e:
        if e.reason == "too_large":
            raise _ClipLimit("clip_too_long", f"the range needs more than {max_s + GOP_SLACK_S:g} s decoded "
                                              "(keyframes too far apart)") from e
        raise


def _copy_window(container: av.container.InputContainer, out: Path, start_ms: int, end_ms: int) -> int:
    """Copy the packets of [keyframe before start_ms, end_ms + 1 s) into ``out`` (Matroska);
    returns the window's first timestamp (ms from the stream start)."""
    ist = container.streams.video[0]
    tb = ist.time_base or Fraction(1, 90000)
    base = ist.start_time or 0
    if start_ms > 0:
        container.seek(base + int(start_ms / 1000 / tb), stream=ist, backward=True, any_frame=False)
    stop_ms = end_ms + 1000  # B-frames: packets come in decode order, a little past end_ms is kept
    first: int | None = None
    shift: int | None = None
    with av.open(str(out), "w", format="matroska") as dst:
        ost = dst.add_stream_from_template(ist)
        for pkt in container.demux(ist):
            ts = pkt.pts if pkt.pts is not None else pkt.dts
            if ts is None:
                continue  # the demuxer's flush packet
            ms = int((ts - base) * tb * 1000)
            if ms >= stop_ms:
                break
            first = ms if first is None else min(first, ms)
            if shift is None:  # the window starts near 0, so its header duration is its length
                shift = pkt.dts if pkt.dts is not None else ts
            if pkt.pts is not None:
                pkt.pts -= shift
            if pkt.dts is not None:
                pkt.dts -= shift
            pkt.stream = ost
            dst.mux(pkt)
    if first is None:
        raise _ClipLimit("empty_range", "no frames of the video fall inside the requested range")
    return max(first, 0)
