"""Keyframe selection in the single decoding pass, with bounded memory.

Shot boundaries are only known some frames after the fact, so candidate frames are kept for the open part of the video, sampled every few frames.
The buffer has a fixed capacity: when it fills up, every other candidate older than the
detector's decision lag is dropped (the grid of kept old frames doubles), so a shot of any length keeps evenly spread candidates
while the most recent frames (which may yet start a new, short shot) stay dense. When a shot closes, its K
keyframes are the candidates nearest to the centres of K equal parts of the shot (transition
frames excluded, they show two shots at once). Candidates are kept as decoded frames and
only the chosen ones are converted to RGB, so the conversion cost is K per shot, not per frame.

A shot shorter than the sampling stride (a flash cut) may hold no grid frame, so the first
frame after each strong cut is also kept, in a small separate list (``max_pinned``), and used
only for a shot that has no grid candidate: every shot the builder emits has a keyframe.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from shotline.video.config import SegmenterConfig


@dataclass(eq=False)  # identity comparison
class Candidate:
    frame: int
    ms: int
    image: Any  # a decoded av.VideoFrame (or anything the caller converts later)


def candidate_stride(config: SegmenterConfig, fps: float) -> int:
    """Candidates are the first frame offered in each cell of this many frames: never sparser
    than the shortest allowed shot, so every shot gets a candidate."""
    return max(1, min(config.min_shot_length(fps), round(fps / config.keyframe_candidates_per_second)))


class KeyframeSampler:
    def __init__(self, config: SegmenterConfig, fps: float, lag: int, max_pinned: int = 4):
        self.cfg = config
        self.fps = fps if fps > 0 else 25.0
        self.lag = lag
        self.stride = candidate_stride(config, self.fps)
        self.pinned: deque[Candidate] = deque(maxlen=max_pinned)
        most = (
            config.max_keyframes_per_shot
            if config.keyframes_per_second is not None
            else config.keyframes_per_shot
        )
        self.capacity = max(8, 2 * most + 2) + lag // self.stride + 1
        self.level = 0  # old candidates sit in every 2**level-th cell of ``stride`` frames
        self.candidates: list[Candidate] = []
        self._cell = -1  # cell of the newest candidate

    def wants(self, frame: int) -> bool:
        """Whether frame number ``frame`` should be offered as a candidate: the first frame
        offered in its cell of ``stride`` frames (every ``stride``-th frame when all are)."""
        return frame // self.stride > self._cell

    def add(self, frame: int, ms: int, image: Any) -> None:
        self._cell = frame // self.stride
        self.candidates.append(Candidate(frame, ms, image))
        self._thin(frame)
        while len(self.candidates) > self.capacity:
            self.level += 1
            self._thin(frame)

    def pin(self, frame: int, ms: int, image: Any) -> None:
        """Keep a frame off the grid (the first frame after a strong cut) as a fallback."""
        self.pinned.append(Candidate(frame, ms, image))

    def _thin(self, newest: int) -> None:
        """Keep the recent (still undecided) frames, and older ones on the current grid."""
        grid = 1 << self.level
        self.candidates = [
            c for c in self.candidates
            if c.frame >= newest - self.lag or (c.frame // self.stride) % grid == 0
        ]

    def count_for(self, n_frames: int) -> int:
        if self.cfg.keyframes_per_second is None:
            return self.cfg.keyframes_per_shot
        k = math.ceil(n_frames / self.fps * self.cfg.keyframes_per_second)
        return max(1, min(self.cfg.max_keyframes_per_shot, k))

    def close_shot(self, start: int, end: int, inner_start: int, inner_end: int) -> list[Candidate]:
        """Pick keyframes for shot frames [start, end); prefer frames in [inner_start,
        inner_end) (the shot without its transitions). Candidates >= end stay for the next."""
        mine = [c for c in self.candidates if c.frame < end]
        self.candidates = [c for c in self.candidates if c.frame >= end]
        self.level = 0
        fallback = [c for c in self.pinned if start <= c.frame < end]
        self.pinned = deque((c for c in self.pinned if c.frame >= end), maxlen=self.pinned.maxlen)
        if len(mine) < self.count_for(end - start):  # a short shot (or sparse decoding)
            mine = sorted(mine + [c for c in fallback if c not in mine], key=lambda c: c.frame)
        if not mine:
            return []
        inner = [c for c in mine if inner_start <= c.frame < inner_end] or mine
        lo, hi = (inner_start, inner_end) if inner is not mine else (start, end)
        k = min(self.count_for(end - start), len(inner))
        chosen: list[Candidate] = []
        for j in range(k):
            target = lo + (hi - lo) * (j + 0.5) / k
            best = min((c for c in inner if c not in chosen), key=lambda c: abs(c.frame - target))
            chosen.append(best)
        return sorted(chosen, key=lambda c: c.frame)
