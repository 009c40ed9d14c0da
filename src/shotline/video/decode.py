"""Open a video with PyAV, validate it against the limits, and decode every frame once.

Every failure that can never succeed becomes a ``BadInput`` with a bounded reason label.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np

from shotline.errors import BadInput
from shotline.video.config import SegmenterConfig

T = TypeVar("T")


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


# AVFMT_NOTIMESTAMPS: FFmpeg's raw elementary-stream demuxers (raw H.263/H.264/HEVC/MPEG-4/MJPEG).
_NO_TIMESTAMPS = 0x80


def open_container(path: Path) -> av.container.InputContainer:
    """The file opened by FFmpeg, refused when it is no media container.

    Two kinds are refused besides what FFmpeg cannot open: a bare elementary stream (no
    container, so no timestamps; FFmpeg also sniffs ~1 in 1,500 buffers of random bytes as raw
    H.263 and decodes garbage frames from them) and a file with neither video nor audio (random
    bytes sniffed as LRC lyrics, a subtitle file)."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        if _looks_like_container(path):
            raise BadInput("truncated", f"container unreadable (cut short?): {exc}") from exc
        raise BadInput("not_a_video", f"not a readable media file: {exc}") from exc
    fmt = container.format
    if fmt.flags & _NO_TIMESTAMPS:
        container.close()
        raise BadInput("not_a_video", f"a bare {fmt.long_name} stream with no container (no timestamps); "
                                      "wrap it first: ffmpeg -i FILE -c copy out.mp4")
    if not container.streams.video and not container.streams.audio:
        container.close()
        raise BadInput("not_a_video", f"no video or audio in it (read as {fmt.long_name})")
    return container


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


def _stop_on_error(exc: av.error.FFmpegError, decoded_any: bool, outcome: DecodeOutcome) -> None:
    """A decode error before any frame can never succeed (``BadInput``); after one, the stream
    ends early with ``outcome.truncated`` set (the decodable part is still worth indexing)."""
    if not decoded_any:
        raise BadInput("decode_error", f"no frame could be decoded: {exc}") from exc
    outcome.truncated, outcome.error = True, str(exc)


def _until_error(items: Iterator[T], outcome: DecodeOutcome, decoded_any: Callable[[], bool]) -> Iterator[T]:
    """The items of a PyAV demux/decode iterator until it ends or fails (``_stop_on_error``)."""
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            _stop_on_error(exc, decoded_any(), outcome)
            return
        yield item


def decode_frames(
    container: av.container.InputContainer, config: SegmenterConfig, outcome: DecodeOutcome
) -> Iterator[av.VideoFrame]:
    """Yield every frame of the first video stream. A decode error after at least one frame
    ends the stream early with ``outcome.truncated`` set (the decodable part is still worth
    indexing); an error before any frame is ``BadInput("decode_error")``."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.options = decoder_options(config)
    count = 0
    for frame in _until_error(container.decode(stream), outcome, lambda: count > 0):
        count += 1
        if count > config.max_frames:
            raise BadInput("too_large", f"more than {config.max_frames} frames")
        yield frame


# --- coarse-to-fine decoding ------------------------------------------------------------------
# Formats whose demuxer gives every packet its presentation timestamp (so a frame that is not
# decoded still has a place and a time), and codecs whose decoder honours ``skip_frame=NONREF``
# (it then skips only frames no other frame refers to: the rest decode bit-exactly).
COARSE_FORMATS = ("mov", "mp4", "matroska", "webm", "mpegts")
COARSE_CODECS = {"h264", "hevc", "mpeg2video", "mpeg1video", "mpeg4"}


class CoarseUnsupported(Exception):
    """The stream cannot be decoded coarse-to-fine (missing or odd timestamps): decode it all."""


@dataclass
class Picture:
    """One frame of the stream, in display order. A frame that was not decoded (``real``
    False) has a detector thumbnail ``small`` that is the linear mix of the decoded frames
    around it."""

    index: int
    pts: int
    small: np.ndarray  # 3 x h x w uint8 (Y, U, V) at the detector's resolution
    frame: av.VideoFrame | None  # None: not decoded, or (chunked decoding) not kept
    real: bool = True  # False: not decoded, ``small`` is a mix of its neighbours
    features: Any = None  # the detector's ``frame_features`` of ``small``, if computed ahead


def coarse_supported(container: av.container.InputContainer, config: SegmenterConfig) -> bool:
    if not config.coarse_decode or not container.streams.video:
        return False
    ctx = container.streams.video[0].codec_context
    fmt = container.format.name or ""
    return ctx is not None and ctx.name in COARSE_CODECS and any(f in fmt for f in COARSE_FORMATS)


def _gap_score(a: np.ndarray, b: np.ndarray) -> float:
    """The cut score (see detect.py) between two detector thumbnails, cheaply: mean |luma
    difference| and luma-histogram distance."""
    pix = float(np.abs(a[0].astype(np.int16) - b[0]).mean()) / 255.0
    ha = np.bincount(a[0].ravel() >> 3, minlength=32)
    hb = np.bincount(b[0].ravel() >> 3, minlength=32)
    return 0.5 * (pix + 0.5 * float(np.abs(ha - hb).sum()) / a[0].size)


class Containers:
    """Open containers of one file, each with its decoder set up as a worker's own: slice threads
    only and one of them (one decoder per core already; frame threads would also hold back each
    wanted frame by a frame per thread), ``decoder_options`` from the timeline as it is when the
    container is opened. They are handed out one at a time and taken back, so that the chunks of
    a parallel decode and the fine decoders do not open the file again each: opening an MP4
    parses its whole sample index (~10 ms for 4k frames). A user of a taken container seeks
    first: seeking flushes what its decoder held."""

    def __init__(self, path: Path, config: SegmenterConfig, timeline: Timeline):
        self.path, self.config, self.timeline = path, config, timeline
        self._idle: deque[av.container.InputContainer] = deque()  # append/pop: thread-safe
        self._all: list[av.container.InputContainer] = []

    def take(self) -> tuple[av.container.InputContainer, bool]:
        """A container and whether it was used before (positioned wherever it was left)."""
        try:
            return self._idle.pop(), True
        except IndexError:
            container = av.open(str(self.path), metadata_errors="ignore")
            stream = container.streams.video[0]
            stream.thread_type = "SLICE"
            stream.thread_count = 1
            stream.codec_context.options = decoder_options(self.config, self.timeline)
            self._all.append(container)
            return container, False

    def give(self, container: av.container.InputContainer) -> None:
        self._idle.append(container)

    def close(self) -> None:
        for container in self._all:
            container.close()
        self._all.clear()
        self._idle.clear()


class _FineDecoder:
    """A second decoder on the same file (from ``containers``): seeks to the keyframe before a
    gap and decodes the frames of the gap that the coarse pass skipped (references only up to
    them)."""

    def __init__(self, containers: Containers):
        self.containers = containers
        self.container: av.container.InputContainer | None = None
        self.key: int | None = None  # keyframe the decoder was last positioned at
        self.sent: set[int] = set()  # pts of the packets sent since then
        self.packets: Iterator[av.Packet] | None = None
        self.decoded = 0  # frames this decoder produced (its cost)

    def fetch(self, wanted: list[int], key: int) -> dict[int, av.VideoFrame]:
        try:
            return self._fetch(wanted, key)
        except av.error.FFmpegError:
            self.key = None
            return {}  # the caller interpolates what is missing

    def _fetch(self, wanted: list[int], key: int) -> dict[int, av.VideoFrame]:
        if self.container is None:
            self.container = self.containers.take()[0]
            self.key = None  # wherever it was left: seek first
        stream = self.container.streams.video[0]
        ctx = stream.codec_context
        want = set(wanted)
        if self.key != key or self.packets is None or want & self.sent:
            self.container.seek(key, stream=stream, backward=True, any_frame=False)
            self.packets, self.key, self.sent = self.container.demux(stream), key, set()
        got: dict[int, av.VideoFrame] = {}
        last, beyond = max(want), 0
        for packet in self.packets:
            if packet.pts is not None:
                self.sent.add(packet.pts)
                if packet.pts > last:
                    beyond += 1
            ctx.skip_frame = "DEFAULT" if packet.pts in want else "NONREF"
            for frame in ctx.decode(packet):
                self.decoded += 1
                if frame.pts in want:
                    got[frame.pts] = frame
            if len(got) == len(want) or beyond > 32:
                break
        else:
            self.key = None  # end of file: flushed, seek again next time
        return got

    def close(self) -> None:
        if self.container is not None:
            self.containers.give(self.container)
            self.container = None


class Timeline:
    """The pts of every packet, sorted (= display order), and of the keyframes. Filled while
    the coarse pass demuxes (``complete=False``), or known up front (a chunk of the stream)."""

    def __init__(self, pts: list[int] | None = None, keys: list[int] | None = None,
                 x264: X264 | None = None):
        self.complete = pts is not None
        self.pts: list[int] = pts if pts is not None else []
        self.keys: list[int] = keys if keys is not None else []
        self.x264 = x264  # from the first packet: see ``x264_of``

    def add(self, packet: av.Packet, max_frames: int) -> None:
        if self.complete or packet.pts is None:
            return
        if not self.pts:
            self.x264 = x264_of(packet)
        bisect.insort(self.pts, packet.pts)
        if packet.is_keyframe:
            bisect.insort(self.keys, packet.pts)
        if len(self.pts) > max_frames:
            raise BadInput("too_large", f"more than {max_frames} frames")

    def key_before(self, pts: int, default: int) -> int:
        i = bisect.bisect_right(self.keys, pts)
        return self.keys[i - 1] if i else (self.keys[0] if self.keys else default)


_X264_CORE = re.compile(rb"x264 - core (\d+)")
_X264_REF = re.compile(rb" ref=(\d+) ")


@dataclass(frozen=True)
class X264:
    """What x264's version SEI (in the stream's first packet) says about the stream."""

    build: int
    ref: int | None  # reference frames a P frame may use (None: not in the options string)


def x264_of(packet: av.Packet) -> X264 | None:
    """The x264 build and ``ref`` option named in the stream's first packet, if x264 made it.

    FFmpeg works around bugs of old x264 builds by the build number (4:4:4 streams before build
    151 decode to garbage without it), but a decoder started at a later keyframe never sees that
    SEI: ``decoder_options`` tells it. ``ref`` says whether B frames may be skipped exactly
    (``coarse_skip``)."""
    head = bytes(packet)[:4096] if packet.size else b""
    found = _X264_CORE.search(head)
    if not found:
        return None
    ref = _X264_REF.search(head, found.end())
    return X264(int(found.group(1)), int(ref.group(1)) if ref else None)


def coarse_skip(config: SegmenterConfig, timeline: Timeline | None) -> str:
    """The coarse pass's ``skip_frame``: NONREF (every frame no other frame refers to), or
    BIDIR (every B frame, B references too: ~40% of the frames decoded instead of ~60%) where
    that is exact. It is exact when no P frame refers to a B frame: x264 with ``ref=1``
    (its ultrafast/superfast/veryfast presets, OBS's default) keeps the last P frame as the one
    reference. With more references a P frame may refer to a B reference and, that one skipped,
    decodes wrong (x264 ``medium``, ref=3: 48 of 75 frames of bikes.mp4 under 30 dB PSNR)."""
    x264 = timeline.x264 if timeline is not None else None
    if config.coarse_skip_b_frames and x264 is not None and x264.ref == 1:
        return "BIDIR"
    return "NONREF"


def decoder_options(config: SegmenterConfig, timeline: Timeline | None = None) -> dict[str, str]:
    options = {"skip_loop_filter": "all"} if config.fast_decode else {}
    if timeline is not None and timeline.x264 is not None:
        options["x264_build"] = str(timeline.x264.build)
    return options


def coarse_context(stream: av.video.stream.VideoStream, config: SegmenterConfig) -> av.codec.context.CodecContext:
    """The stream's decoder set up for the one coarse pass (only frames others refer to)."""
    stream.thread_type = "AUTO"
    ctx = stream.codec_context
    ctx.options = decoder_options(config)
    ctx.skip_frame = coarse_skip(config, None)  # set again once the first packet is in
    return ctx


def coarse_to_fine(
    container: av.container.InputContainer,
    path: Path,
    config: SegmenterConfig,
    outcome: DecodeOutcome,
    thumb: Callable[[av.VideoFrame], np.ndarray],
) -> Iterator[Picture]:
    """Every frame of the first video stream in order, decoding less.

    The coarse pass decodes only the frames other frames refer to (``skip_frame=NONREF``: for
    typical H.264 about every other frame, ~60% of the decoding work). A gap of skipped frames
    whose two ends differ like a cut (above an absolute floor and well above the neighbouring
    gaps) is decoded at full rate by a second decoder (seek to its keyframe, references only up
    to the gap), so cuts, flashes and flash cuts are found on real frames; any other gap is
    filled with linear mixes of its ends, which is what a dissolve or a fade is anyway.
    ``Picture.real`` is False for those. Errors behave as in ``decode_frames``."""
    stream = container.streams.video[0]
    ctx = coarse_context(stream, config)
    timeline = Timeline()
    fine = Containers(path, config, timeline)  # opened at the first fetch, the timeline begun by then
    try:
        yield from coarse_pass(container.demux(stream), ctx, fine, config, outcome, thumb, timeline)
    finally:
        fine.close()


def coarse_pass(
    packets: Iterator[av.Packet],
    ctx: av.codec.context.CodecContext,
    containers: Containers,
    config: SegmenterConfig,
    outcome: DecodeOutcome,
    thumb: Callable[[av.VideoFrame], np.ndarray],
    timeline: Timeline,
    first: int = 0,
    end: int | None = None,
) -> Iterator[Picture]:
    """The coarse pass over ``packets`` (in decode order, from a keyframe), yielding the
    pictures of display indices [first, end) (``end`` None: to the end of the stream).

    A chunk (``end`` set, ``timeline`` complete) also decodes the next chunk's keyframe and two
    more reference frames, so that its last gap is judged against the same neighbours as in
    one pass over the whole stream; it yields nothing at or past ``end``. Skipped frames are
    fetched by a decoder from ``containers``."""
    all_pts = timeline.pts
    fine = _FineDecoder(containers)
    refs: list[Picture] = []  # recent decoded frames; refs[nxt:] not yet released
    scores: list[float | None] = []  # scores[j]: the gap ending at refs[j] (None: first frame)
    nxt = 1
    floor = config.coarse_min_score
    emitted = first - 1
    frames_in = 0
    beyond = 0  # decoded frames at or past ``end``

    def gap(j: int) -> Iterator[Picture]:
        """Release refs[j] and the skipped frames before it (refs[j - 1] already released)."""
        a, b = refs[j - 1], refs[j]
        missing = all_pts[a.index + 1:b.index]
        if missing:
            near = [scores[m] for m in (j - 2, j - 1, j + 1, j + 2) if 0 <= m < len(scores)]
            near_f = [x for x in near if x is not None]
            s = scores[j] or 0.0
            mean = sum(near_f) / len(near_f) if near_f else 0.0
            got: dict[int, av.VideoFrame] = {}
            if s >= floor and s >= config.coarse_ratio * mean:
                got = fine.fetch(missing, timeline.key_before(missing[0], a.pts))
            n = b.index - a.index
            for off, pts in enumerate(missing, start=1):
                f = got.get(pts)
                if f is not None:
                    yield Picture(a.index + off, pts, thumb(f), f)
                else:
                    w = off / n
                    mix = (1 - w) * a.small + w * b.small
                    yield Picture(a.index + off, pts, (mix + 0.5).astype(np.uint8), None, real=False)
        yield b

    def release(final: bool) -> Iterator[Picture]:
        # refs[j] is released once two more gaps are known (its adaptive threshold's neighbours)
        nonlocal nxt
        while nxt < len(refs) and (final or len(refs) - nxt > 2):
            yield from gap(nxt)
            nxt += 1
        if nxt > 16:
            del refs[:nxt - 3], scores[:nxt - 3]
            nxt = 3

    def arrived(frame: av.VideoFrame) -> Iterator[Picture]:
        nonlocal emitted, frames_in, beyond
        if frame.pts is None:
            raise CoarseUnsupported("a frame without a timestamp")
        index = bisect.bisect_left(all_pts, frame.pts)
        if index <= emitted or (frames_in == 0 and index != first) or \
                index >= len(all_pts) or all_pts[index] != frame.pts:
            raise CoarseUnsupported(f"frame order not derivable from timestamps ({index})")
        emitted = index
        frames_in += 1
        if end is not None and index >= end:
            beyond += 1
        pic = Picture(index, frame.pts, thumb(frame), frame)
        if refs:
            scores.append(_gap_score(refs[-1].small, pic.small))
        else:
            scores.append(None)
            yield pic  # the first frame has no gap before it
        refs.append(pic)
        yield from release(False)

    def pictures() -> Iterator[Picture]:
        decoded_any = lambda: frames_in > 0 or first > 0  # noqa: E731 - a later chunk: truncated
        for packet in _until_error(packets, outcome, decoded_any):
            if packet.pts is None and packet.size:
                raise CoarseUnsupported("a packet without a timestamp")
            first_packet = not timeline.pts
            timeline.add(packet, config.max_frames)
            if first_packet:  # its x264 SEI, if any, says whether B frames may be skipped
                ctx.skip_frame = coarse_skip(config, timeline)
            try:
                decoded = ctx.decode(packet)
            except av.error.FFmpegError as exc:
                _stop_on_error(exc, decoded_any(), outcome)
                break
            for frame in decoded:
                yield from arrived(frame)
            if beyond >= 3:  # frames come out in display order: every one before ``end`` is out
                break
        if end is None and not outcome.truncated and refs and refs[-1].index < len(all_pts) - 1:
            # skipped frames after the last decoded one (rare): fetch them, or repeat the last
            tail = all_pts[refs[-1].index + 1:]
            got = fine.fetch(tail, timeline.key_before(tail[0], refs[-1].pts))
            for off, pts in enumerate(tail, start=1):
                f = got.get(pts)
                last = refs[-1]
                pic = Picture(last.index + 1, pts, thumb(f) if f is not None else last.small, f,
                              real=f is not None)
                scores.append(_gap_score(last.small, pic.small))
                refs.append(pic)
        yield from release(True)

    try:
        for pic in pictures():
            if end is not None and pic.index >= end:
                return
            yield pic
    finally:
        fine.close()
