"""Shot segmentation + keyframes in one decoding pass.

``segment_video(path)`` decodes the video once with PyAV -- coarse-to-fine (``decode``), on
keyframe-aligned chunks in parallel where it can (``chunks``) -- turns each frame into a 64x36
YUV thumbnail for the boundary detector, and converts only the chosen keyframes to RGB.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from shotline.errors import BadInput
from shotline.video import chunks
from shotline.video.config import SegmenterConfig
from shotline.video.decode import (
    CoarseUnsupported,
    DecodeOutcome,
    Picture,
    StreamInfo,
    check_file,
    coarse_supported,
    coarse_to_fine,
    decode_frames,
    open_container,
    probe,
)
from shotline.video.detect import Boundary, BoundaryDetector
from shotline.video.keyframes import KeyframeSampler
from shotline.video.thumbnail import thumbnail

TRANSITIONS = ("start", "cut", "dissolve", "fade")


@dataclass(frozen=True)
class Shot:
    """Frames [start_frame, end_frame) -- end is EXCLUSIVE (the next shot's start_frame).

    Milliseconds follow the same convention: [start_ms, end_ms), from the frames' PTS relative
    to the stream's first timestamp (so every video starts at 0 ms). A shot entered through a
    dissolve/fade starts at the transition's midpoint. ``transition`` is how the shot begins.

    ``transition_start_frame``/``transition_end_frame`` give the span [start, end) of the
    gradual transition INTO this shot (its blended frames, half of them before ``start_frame``,
    in the previous shot); a cut or the first shot has an empty span at ``start_frame``.
    Consumers that want clean frames drop [transition_start, transition_end) from both shots
    (``transition_*_ms`` are the same span in milliseconds).
    """

    index: int
    start_frame: int
    end_frame: int
    start_ms: int
    end_ms: int
    transition: str
    transition_start_frame: int = -1  # -1: same as start_frame (set by __post_init__)
    transition_end_frame: int = -1
    transition_start_ms: int = -1
    transition_end_ms: int = -1

    def __post_init__(self) -> None:
        for name, default in (("transition_start_frame", self.start_frame),
                              ("transition_end_frame", self.start_frame),
                              ("transition_start_ms", self.start_ms),
                              ("transition_end_ms", self.start_ms)):
            if getattr(self, name) < 0:
                object.__setattr__(self, name, default)


@dataclass
class SegmentResult:
    shots: list[Shot]
    keyframes: list[list[np.ndarray]]  # per shot: RGB uint8 HxWx3, short side = keyframe size
    keyframe_ms: list[list[int]]
    fps: float
    frame_count: int
    duration_ms: int
    width: int
    height: int
    codec: str
    decode_seconds: float
    truncated: bool = False  # decoding stopped early on corrupt data; shots cover the rest
    keyframe_frames: list[list[int]] = field(default_factory=list)
    merged_fragments: int = 0  # short tails / keyframe-less fragments folded into a neighbour


def keyframe_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) scaled so the short side is ``short_side``; even numbers for swscale."""
    scale = short_side / min(width, height)
    w, h = round(width * scale), round(height * scale)
    return (short_side if width <= height else w, short_side if height < width else h)


class _ShotBuilder:
    """Turns released boundaries into Shots and asks the sampler for their keyframes.

    Every shot it emits has at least one keyframe and, except flash cuts, at least
    ``min_len`` frames: a fragment without a keyframe, or a final fragment shorter than the
    minimum (a hard cut on the last frame), is folded into the shot before it, which keeps
    its own keyframes. (Leading and inner fragments are already prevented by the detector.)
    """

    def __init__(self, sampler: KeyframeSampler, to_rgb: Callable[[av.VideoFrame], np.ndarray],
                 min_len: int = 1):
        self.sampler = sampler
        self.to_rgb = to_rgb
        self.min_len = min_len
        self.merged = 0
        self.start = 0
        self.start_kind = "start"
        self.inner_start = 0
        self.shots: list[tuple[int, int, str, int]] = []  # (start, end, kind, inner_start)
        self.spans: list[tuple[int, int]] = []  # the transition into each shot: [start, end)
        self.span = (0, 0)
        self.keyframes: list[list[np.ndarray]] = []
        self.keyframe_ms: list[list[int]] = []
        self.keyframe_frames: list[list[int]] = []

    def close(self, end: int, inner_end: int, next_kind: str, next_inner_start: int,
              final: bool = False) -> None:
        chosen = self.sampler.close_shot(self.start, end, self.inner_start, inner_end)
        short_tail = final and end - self.start < self.min_len
        if self.shots and (not chosen or short_tail):
            first, _end, kind, inner = self.shots[-1]
            self.shots[-1] = (first, end, kind, inner)  # the fragment joins the shot before
            self.merged += 1
        else:
            self.shots.append((self.start, end, self.start_kind, self.inner_start))
            self.spans.append(self.span)
            self.keyframes.append([self.to_rgb(c.image) for c in chosen])
            self.keyframe_ms.append([c.ms for c in chosen])
            self.keyframe_frames.append([c.frame for c in chosen])
        self.start, self.start_kind, self.inner_start = end, next_kind, next_inner_start

    def boundary(self, b: Boundary) -> None:
        self.close(b.frame, b.span_start, b.kind, b.span_end)
        self.span = (b.span_start, b.span_end) if b.kind in ("dissolve", "fade") else (b.frame, b.frame)


def _ms(pts: int | None, info: StreamInfo, fallback_index: int) -> int:
    if pts is None:  # no timestamp at all: derive from the frame rate
        return round(fallback_index * 1000 / info.fps) if info.fps else 0
    # integer arithmetic, rounded half to even: Fraction arithmetic cost ~50 µs a frame on the GIL
    den = info.time_base.denominator
    q, r = divmod((pts - info.start_pts) * info.time_base.numerator * 1000, den)
    return q + (2 * r > den or (2 * r == den and q & 1))


def segment_video(
    path: str | os.PathLike[str], config: SegmenterConfig | None = None
) -> SegmentResult:
    """Detect shots and pick keyframes in one decoding pass. Raises ``BadInput``."""
    config = config or SegmenterConfig()
    file = check_file(path, config)
    t0 = time.perf_counter()
    try:
        result = _segment(file, config, coarse=True)
    except CoarseUnsupported:  # timestamps that cannot place skipped frames: decode them all
        result = _segment(file, config, coarse=False)
    result.decode_seconds = time.perf_counter() - t0
    return result


def _frame_bytes(container: av.container.InputContainer, info: StreamInfo) -> int:
    """Bytes of one decoded frame (8-bit 4:2:0: 1.5 a pixel; 4:4:4 or 10-bit: 3)."""
    fmt = container.streams.video[0].codec_context.format
    try:
        planes = av.VideoFrame(info.width, info.height, fmt.name if fmt else "yuv420p").planes
        return sum(p.buffer_size for p in planes)
    except (ValueError, av.error.FFmpegError):  # an unusual format: assume the worst common one
        return 3 * info.width * info.height


def _pictures(container: av.container.InputContainer, file: Path, config: SegmenterConfig,
              info: StreamInfo, stride: int, outcome: DecodeOutcome, coarse: bool) -> Iterator[Picture]:
    thumb: Callable[[av.VideoFrame], np.ndarray] = functools.partial(
        thumbnail, width=config.detect_width, height=config.detect_height)
    if coarse and coarse_supported(container, config):
        chunked = chunks.plan(file, config, _frame_bytes(container, info), stride)
        if chunked is not None:
            yield from chunks.pictures(file, config, chunked, outcome, thumb, stride)
        else:
            yield from coarse_to_fine(container, file, config, outcome, thumb)
        return
    for i, frame in enumerate(decode_frames(container, config, outcome)):
        pts = frame.pts if frame.pts is not None else frame.dts
        yield Picture(i, pts, thumb(frame), frame)


def _segment(file: Path, config: SegmenterConfig, coarse: bool) -> SegmentResult:
    with open_container(file) as container:
        info = probe(container, config)
        detector = BoundaryDetector(config, info.fps)
        sampler = KeyframeSampler(config, info.fps, detector.lag)
        kf_w, kf_h = keyframe_size(info.width, info.height, config.keyframe_short_side)

        def to_rgb(frame: av.VideoFrame) -> np.ndarray:
            return frame.reformat(
                width=kf_w, height=kf_h, format="rgb24", interpolation="AREA"
            ).to_ndarray()

        builder = _ShotBuilder(sampler, to_rgb, detector.min_len)
        outcome = DecodeOutcome()
        frame_ms: list[int] = []  # one int per frame: small even for hours of video
        last_pts: int | None = None
        try:
            for pic in _pictures(container, file, config, info, sampler.stride, outcome, coarse):
                i, pts, frame = pic.index, pic.pts, pic.frame
                ms = _ms(pts, info, i)
                if frame_ms and ms < frame_ms[-1]:
                    ms = frame_ms[-1]  # broken timestamps: keep time monotonic
                frame_ms.append(ms)
                last_pts = pts
                wanted = frame is not None and sampler.wants(i)
                if wanted:
                    sampler.add(i, ms, frame)
                for b in detector.push(pic.small, pic.real, pic.features):
                    builder.boundary(b)
                if frame is not None and not wanted and detector.last_score >= config.cut_min_score:
                    sampler.pin(i, ms, frame)  # may start a shot too short for the grid
        except av.error.FFmpegError as exc:  # conversion failures on broken frames
            raise BadInput("decode_error", str(exc)) from exc
        n = len(frame_ms)
        if n == 0:
            raise BadInput("zero_duration", "the video stream has no frames")
        for b in detector.flush():
            builder.boundary(b)
        builder.close(n, n, "", n, final=True)
        if info.expected_frames and n < 0.98 * info.expected_frames:
            outcome.truncated = True
    frame_step = round(1000 / info.fps) if info.fps else 0
    duration_ms = frame_ms[-1] + frame_step if last_pts is not None else frame_ms[-1]
    ms_of = frame_ms + [duration_ms]
    shots = [
        Shot(j, s, e, ms_of[s], ms_of[e], kind, ts, te, ms_of[ts], ms_of[te])
        for j, ((s, e, kind, _inner), (ts, te)) in enumerate(zip(builder.shots, builder.spans, strict=True))
    ]
    return SegmentResult(
        shots=shots,
        keyframes=builder.keyframes,
        keyframe_ms=builder.keyframe_ms,
        fps=info.fps,
        frame_count=n,
        duration_ms=duration_ms,
        width=info.width,
        height=info.height,
        codec=info.codec,
        decode_seconds=0.0,
        truncated=outcome.truncated,
        keyframe_frames=builder.keyframe_frames,
        merged_fragments=builder.merged,
    )


def shots_to_json(result: SegmentResult) -> list[dict]:
    return [
        {
            "index": s.index,
            "start_frame": s.start_frame,
            "end_frame": s.end_frame,
            "start_ms": s.start_ms,
            "end_ms": s.end_ms,
            "transition": s.transition,
            "transition_start_frame": s.transition_start_frame,
            "transition_end_frame": s.transition_end_frame,
        }
        for s in result.shots
    ]
