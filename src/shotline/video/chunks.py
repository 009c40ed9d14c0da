"""Parallel coarse-to-fine decoding: the stream cut at keyframes into chunks decoded at once.

One H.264 decoder with frame threads keeps ~1.4 of 2 cores busy (its frames wait on each
other); independent single-threaded decoders on keyframe-aligned chunks keep ~1.9 busy, and
FFmpeg decodes without the GIL. ``plan`` demuxes the stream once without decoding (~15 µs a
packet) to learn every frame's timestamp and where the stream can be cut cleanly; ``pictures``
runs ``decode.coarse_pass`` on the chunks in a thread pool and yields their pictures in order,
exactly as one pass would, except that the first gaps of a chunk are judged without the gaps
before it.

A chunk keeps a decoded frame only where the keyframe sampler may ask for it: the first
decoded frame of each candidate cell, the first frame of the chunk, and every frame whose cut
score reaches ``cut_min_score`` (the sampler pins those). The detector's features are computed
in the worker too, so the scores that decide are the detector's own.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from shotline.video.config import SegmenterConfig
from shotline.video.decode import (
    CoarseUnsupported,
    Containers,
    DecodeOutcome,
    Picture,
    Timeline,
    X264,
    coarse_pass,
    coarse_skip,
    x264_of,
)
from shotline.video.detect import Features, cut_score, frame_features


@dataclass(frozen=True)
class Chunk:
    first: int  # display index of its keyframe
    key_pts: int
    end: int  # display index of the next chunk's keyframe (the frame count for the last)


@dataclass(frozen=True)
class Plan:
    timeline: Timeline
    chunks: list[Chunk]
    workers: int
    chunk_bytes: list[int]  # estimated bytes of the frames each chunk keeps


def workers_for(config: SegmenterConfig) -> int:
    if config.decode_workers:
        return config.decode_workers
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return min(8, len(usable))


def plan(path: Path, config: SegmenterConfig, frame_bytes: int, stride: int) -> Plan | None:
    """Chunks for ``pictures``, or None where one pass is the way: one worker, too short a
    stream, no clean cut, odd timestamps, a damaged file, or chunks too big for the buffer."""
    workers = workers_for(config)
    if workers < 2:
        return None
    order: list[tuple[int, bool]] = []  # (pts, keyframe) of every packet, in decode order
    x264: X264 | None = None
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            for packet in container.demux(container.streams.video[0]):
                if not packet.size:
                    continue
                if packet.pts is None or len(order) >= config.max_frames:
                    return None  # the one pass says why
                if not order:
                    x264 = x264_of(packet)
                order.append((packet.pts, packet.is_keyframe))
    except av.error.FFmpegError:
        return None  # damaged: the one pass keeps what decodes
    pts = np.array([p for p, _ in order], dtype=np.int64)
    if len(pts) < 2 * config.decode_chunk_frames or len(np.unique(pts)) != len(pts) or not order[0][1]:
        return None
    # A keyframe cuts cleanly when every packet before it (in decode order) shows before it
    # and every packet after it shows after it: then its decode position is its display index.
    before = np.maximum.accumulate(np.concatenate([[np.iinfo(np.int64).min], pts[:-1]]))
    after = np.minimum.accumulate(np.concatenate([pts[1:], [np.iinfo(np.int64).max]])[::-1])[::-1]
    keys = np.array([k for _, k in order])
    clean = np.flatnonzero(keys & (before < pts) & (pts < after))
    starts = [0]
    for i in clean.tolist():
        if i - starts[-1] >= config.decode_chunk_frames and len(pts) - i >= config.decode_chunk_frames:
            starts.append(i)
    if len(starts) < 2 or not pts[0] < after[0]:  # the first packet must start a clean chunk too
        return None
    ends = [*starts[1:], len(pts)]
    chunks = [Chunk(s, int(pts[s]), e) for s, e in zip(starts, ends, strict=True)]
    chunk_bytes = [((c.end - c.first) // stride + 2) * frame_bytes for c in chunks]
    if 2 * max(chunk_bytes) > config.decode_buffer_bytes:
        return None
    timeline = Timeline(sorted(pts.tolist()), sorted(p for p, k in order if k), x264)
    return Plan(timeline, chunks, workers, chunk_bytes)


def pictures(path: Path, config: SegmenterConfig, plan: Plan, outcome: DecodeOutcome,
             thumb: Callable[[av.VideoFrame], np.ndarray], stride: int) -> Iterator[Picture]:
    """Every frame in display order, the chunks decoded ``plan.workers`` at a time (and a
    chunk more decoded ahead while the buffer allows). A chunk that ends in a decode error
    ends the stream there (``outcome.truncated``), as in one pass."""
    pool = ThreadPoolExecutor(plan.workers, thread_name_prefix="decode")
    containers = Containers(path, config, plan.timeline)  # the file opened once per worker, not once per chunk
    ahead: deque[tuple[int, Future[tuple[deque[Picture], DecodeOutcome]]]] = deque()
    waiting = deque(range(len(plan.chunks)))  # chunks not submitted yet
    consuming = 0  # bytes of the chunk being passed on

    def fill() -> None:
        while waiting and len(ahead) <= plan.workers:
            held = consuming + sum(plan.chunk_bytes[j] for j, _ in ahead)
            if ahead and held + plan.chunk_bytes[waiting[0]] > config.decode_buffer_bytes:
                return
            j = waiting.popleft()
            ahead.append((j, pool.submit(_decode_chunk, containers, config, plan, plan.chunks[j], thumb, stride)))

    try:
        fill()
        while ahead:
            j, future = ahead.popleft()
            pics, part = future.result()
            consuming = plan.chunk_bytes[j]
            fill()
            while pics:
                yield pics.popleft()  # let go of each frame once it is passed on
            if part.truncated:
                outcome.truncated, outcome.error = True, part.error
                return
    finally:
        for _j, future in ahead:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        containers.close()


def _from_key(packets: Iterator[av.Packet], key_pts: int) -> Iterator[av.Packet]:
    """The packets from the chunk's keyframe on (a seek may land on an earlier keyframe)."""
    for packet in packets:
        if packet.pts == key_pts and packet.is_keyframe:
            yield packet
            yield from packets
            return
        if packet.pts is not None and packet.pts > key_pts and packet.is_keyframe:
            break
    raise CoarseUnsupported(f"seeking did not reach the keyframe at pts {key_pts}")


def _decode_chunk(containers: Containers, config: SegmenterConfig, plan: Plan, chunk: Chunk,
                  thumb: Callable[[av.VideoFrame], np.ndarray],
                  stride: int) -> tuple[deque[Picture], DecodeOutcome]:
    part = DecodeOutcome()
    out: deque[Picture] = deque()
    container, used = containers.take()
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.skip_frame = coarse_skip(config, plan.timeline)
        if chunk.first or used:  # seeking flushes what the decoder held of another chunk
            container.seek(chunk.key_pts, stream=stream, backward=True, any_frame=False)
        packets = _from_key(container.demux(stream), chunk.key_pts)
        prev: Features | None = None
        cell = -1
        # the last chunk runs to the end of the stream like one pass (skipped frames at the tail)
        end = chunk.end if chunk.end < len(plan.timeline.pts) else None
        for pic in coarse_pass(packets, ctx, containers, config, part, thumb, plan.timeline, chunk.first, end):
            features = frame_features(pic.small)
            if pic.frame is not None:
                first_in_cell = pic.index // stride > cell
                cell = max(cell, pic.index // stride)
                if not (prev is None or first_in_cell or cut_score(prev, features) >= config.cut_min_score):
                    pic.frame = None  # the sampler will not ask for it
            pic.features, prev = features, features
            out.append(pic)
    finally:
        containers.give(container)
    return out, part
