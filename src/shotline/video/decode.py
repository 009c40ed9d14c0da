"""Open a video with PyAV, validate it against the limits, and decode every frame once.

Every failure that can never succeed becomes a ``BadInput`` with a bounded reason label.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from shotline.errors import BadInput
from shotline.video.config import SegmenterConfig


@dataclass
class StreamInfo:
    width: int
    height: int
    fps: float
    codec: str
    time_base: Fraction
    start_pts: int  # first timestamp of the stream; timecodes are reported relative to it
    expected_frames: int  # from the container header, 0 when unknown


def _looks_like_container(path: Path) -> bool:
    """A known container signature: an unreadable file that has one was cut short."""
    with open(path, "rb") as f:
        head = f.read(12)
    return head[4:8] == b"ftyp" or head[:4] in (b"\x1a\x45\xdf\xa3", b"RIFF", b"\x00\x00\x01\xba")


def check_file(path: str | os.PathLike[str], config: SegmenterConfig) -> Path:
    p = Path(path)
    if not p.is_file():
        raise BadInput("missing_file", f"no such file: {p}")
    size = p.stat().st_size
    if size == 0:
        raise BadInput("empty_file", f"file is empty: {p}")
    if size > config.max_file_bytes:
        raise BadInput("too_large", f"{size} bytes > limit {config.max_file_bytes}")
    return p


def open_container(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        if _looks_like_container(path):
            raise BadInput("truncated", f"container unreadable (cut short?): {exc}") from exc
        raise BadInput("not_a_video", f"not a readable media file: {exc}") from exc


def _first_pts(stream: av.video.stream.VideoStream) -> int:
    return stream.start_time if stream.start_time is not None else 0


def probe(container: av.container.InputContainer, config: SegmenterConfig) -> StreamInfo:
    if not container.streams.video:
        raise BadInput("no_video_stream", "the file has no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None or ctx.name in (None, "", "none"):
        raise BadInput("unsupported_codec", "no decoder for this video codec")
    width, height = ctx.width, ctx.height
    if width * height > config.max_pixels:
        raise BadInput("too_large", f"{width}x{height} > limit {config.max_pixels} pixels")
    time_base = stream.time_base or Fraction(1, 90000)
    duration_s = 0.0
    if stream.duration:
        duration_s = float(stream.duration * time_base)
    elif container.duration:
        duration_s = container.duration / av.time_base
    if duration_s > config.max_duration_s:
        raise BadInput("too_large", f"{duration_s:.0f} s > limit {config.max_duration_s:.0f} s")
    if stream.frames > config.max_frames:
        raise BadInput("too_large", f"{stream.frames} frames > limit {config.max_frames}")
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return StreamInfo(
        width=width,
        height=height,
        fps=float(rate) if rate else 0.0,
        codec=ctx.name,
        time_base=time_base,
        start_pts=_first_pts(stream),
        expected_frames=stream.frames or 0,
    )


@dataclass
class DecodeOutcome:
    """Filled in while ``decode_frames`` runs; read it after the iterator is exhausted."""

    truncated: bool = False
    error: str = ""


def decode_frames(
    container: av.container.InputContainer, config: SegmenterConfig, outcome: DecodeOutcome
) -> Iterator[av.VideoFrame]:
    """Yield every frame of the first video stream. A decode error after at least one frame
    ends the stream early with ``outcome.truncated`` set (the decodable part is still worth
    indexing); an error before any frame is ``BadInput("decode_error")``."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    if config.fast_decode:
        stream.codec_context.options = {"skip_loop_filter": "all"}
    count = 0
    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            if count == 0:
                raise BadInput("decode_error", f"no frame could be decoded: {exc}") from exc
            outcome.truncated, outcome.error = True, str(exc)
            break
        count += 1
        if count > config.max_frames:
            raise BadInput("too_large", f"more than {config.max_frames} frames")
        yield frame
