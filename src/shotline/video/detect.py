"""Streaming shot-boundary detector working on tiny (64x36) YUV frames.

Hard cuts: score = mean(|luma difference|, colour-histogram distance) between consecutive
frames; a cut needs the score above an absolute floor AND well above its neighbours' mean (an
adaptive threshold, like PySceneDetect's AdaptiveDetector), so sustained fast handheld motion,
where every frame differs, is not mistaken for a string of cuts.

Gradual transitions: during a dissolve each frame is close to the average of the frames k
before and k after it (a linear blend), while those two differ a lot. A run of such frames is
a dissolve; a run that passes through near-black frames is a fade. Fade-out + black + fade-in
runs are merged into one transition.

Shortest shot: a cut closer than ``min_shot_length`` to the previous cut is normally dropped.
Two exceptions look at the picture on both sides of the short stretch: if it comes back to
what it was before (a camera flash, a strobe), the stretch was no shot at all and the first
cut is withdrawn too; if it goes on to different content and both cuts are strong, the
stretch is a real flash cut and is kept as a short shot.

Decisions lag the input by a bounded number of frames; ``push`` returns boundaries in frame
order once nothing earlier can still appear.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from shotline.video.config import SegmenterConfig

HIST_BINS = (32, 16, 16)  # Y, U, V


@dataclass(frozen=True)
class Boundary:
    frame: int  # first frame of the new shot (midpoint of a gradual transition)
    kind: str  # "cut" | "dissolve" | "fade"
    span_start: int  # frames [span_start, span_end) belong to the transition itself
    span_end: int
    flash: bool = False  # the boundary ends a flash cut shorter than the minimum shot length


def frame_features(yuv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(luma in [0,1] as float32 HxW, concatenated normalised Y/U/V histograms)."""
    hists = [
        np.bincount((plane >> (8 - bins.bit_length() + 1)).ravel(), minlength=bins)
        for plane, bins in zip(yuv, HIST_BINS, strict=True)
    ]
    hist = np.concatenate(hists).astype(np.float32) / (yuv[0].size * len(HIST_BINS))
    return yuv[0].astype(np.float32) / 255.0, hist


class BoundaryDetector:
    def __init__(self, config: SegmenterConfig, fps: float = 25.0):
        self.cfg = config
        self.min_len = config.min_shot_length(fps)
        self.k = config.dissolve_step
        self.w = config.cut_window
        self.n = 0  # frames pushed
        self._luma: deque[np.ndarray] = deque(maxlen=2 * self.k + 1)
        self._prev_hist: np.ndarray | None = None
        # Per-frame scalars for the last few frames only (bounded memory).
        self._score: dict[int, float] = {}
        self._mean_luma: dict[int, float] = {}
        self._hist: dict[int, np.ndarray] = {}
        self._flash_from: dict[int, int] = {}  # flash cut frame -> the cut that began the flash
        self.last_score = 0.0  # cut score of the newest frame (vs the one before it)
        self._cuts: list[int] = []
        self._run: list[int] | None = None  # [first, last] frame with blend evidence
        self._pending: list[Boundary] = []
        self._last_boundary = 0
        self.lag = self.k + config.dissolve_merge_gap + self.w + 2

    # --- input -------------------------------------------------------------------------
    def push(self, yuv: np.ndarray) -> list[Boundary]:
        luma, hist = frame_features(yuv)
        i = self.n
        self.n += 1
        if self._prev_hist is None:
            self._score[i] = 0.0
        else:
            pix = float(np.abs(luma - self._luma[-1]).mean())
            hist_d = 0.5 * float(np.abs(hist - self._prev_hist).sum())
            self._score[i] = 0.5 * (pix + hist_d)
        self._prev_hist = hist
        self._hist[i] = hist
        self.last_score = self._score[i]
        self._mean_luma[i] = float(luma.mean())
        self._luma.append(luma)
        self._decide_cut(i - self.w)
        self._blend_evidence(i - self.k)
        self._forget(i - 256)
        horizon = i - self.lag
        if self._run is not None:  # an open run may still end as a boundary before horizon
            horizon = min(horizon, self._run[0] - 1)
        return self._release(horizon)

    def flush(self) -> list[Boundary]:
        for t in range(max(0, self.n - self.w), self.n):
            self._decide_cut(t)
        self._close_run()
        return self._release(self.n)

    # --- cuts --------------------------------------------------------------------------
    def _decide_cut(self, t: int) -> None:
        if t < 1:
            return
        s = self._score[t]
        if s < self.cfg.cut_min_score:
            return
        neighbours = [
            self._score[j] for j in range(t - self.w, t + self.w + 1) if j != t and j in self._score
        ]
        if neighbours and s < self.cfg.cut_ratio * (sum(neighbours) / len(neighbours)):
            return
        if self._cuts and t - self._cuts[-1] < self.min_len:
            self._short_cut(t)
            return
        self._cuts.append(t)
        self._add(Boundary(t, "cut", t, t))

    def _short_cut(self, t: int) -> None:
        """A cut at ``t`` only a few frames after the cut at ``c``: flash, flash cut or noise."""
        c = self._cuts[-1]
        before, after = self._hist.get(c - 1), self._hist.get(t)
        if before is None or after is None:
            return
        change = 0.5 * float(np.abs(before - after).sum())
        if change < self.cfg.cut_min_score:  # the picture came back: c was no cut either
            pending = [b for b in self._pending if b.frame == c and b.kind == "cut"]
            if pending:
                self._pending.remove(pending[0])
                self._cuts.pop()
            return
        strong = min(self._score[c], self._score[t]) >= self.cfg.flash_cut_min_score
        if strong and t - c >= self.cfg.flash_cut_min_frames and change >= self.cfg.flash_cut_min_score:
            self._cuts.append(t)
            self._flash_from[t] = c
            self._add(Boundary(t, "cut", t, t, flash=True))

    # --- gradual transitions -----------------------------------------------------------
    def _blend_evidence(self, t: int) -> None:
        if t < self.k or len(self._luma) < 2 * self.k + 1:
            return
        before, mid, after = self._luma[0], self._luma[self.k], self._luma[-1]
        change = float(np.abs(before - after).mean())
        residual = float(np.abs(mid - 0.5 * (before + after)).mean())
        is_blend = (
            change > self.cfg.dissolve_min_change
            and residual < self.cfg.dissolve_max_residual * change
        )
        if is_blend:
            if self._run is not None and t - self._run[1] <= self.cfg.dissolve_merge_gap:
                self._run[1] = t
            else:
                self._close_run()
                self._run = [t, t]
        elif self._run is not None and t - self._run[1] > self.cfg.dissolve_merge_gap:
            self._close_run()

    def _close_run(self) -> None:
        run, self._run = self._run, None
        if run is None or run[1] - run[0] + 1 < self.cfg.dissolve_min_run:
            return
        start, end = run[0] - 1, run[1] + self.k  # blend evidence sits inside the transition
        if any(start - self.k <= c <= end + self.k for c in self._cuts[-4:]):
            return  # a hard cut explains this change already
        darkest = min(self._mean_luma.get(t, 1.0) for t in range(start, end + 1))
        ends = min(self._mean_luma.get(start, 1.0), self._mean_luma.get(end, 1.0))
        # Through black: near-black in absolute terms AND much darker than both shots.
        is_fade = darkest < self.cfg.fade_black_luma and darkest < 0.5 * ends
        kind = "fade" if is_fade else "dissolve"
        self._add(Boundary((start + end + 1) // 2, kind, start, end))

    # --- bookkeeping -------------------------------------------------------------------
    def _add(self, b: Boundary) -> None:
        self._pending.append(b)

    def _release(self, horizon: int) -> list[Boundary]:
        """Boundaries at frames < horizon, in order, minus those too close to the previous."""
        self._pending.sort(key=lambda b: b.frame)
        out: list[Boundary] = []
        while self._pending and self._pending[0].frame < horizon:
            b = self._pending.pop(0)
            flash_ok = b.flash and self._flash_from.pop(b.frame, None) == self._last_boundary
            if flash_ok or b.frame - self._last_boundary >= self.min_len:
                out.append(b)
                self._last_boundary = b.frame
        return out

    def _forget(self, before: int) -> None:
        for d in (self._score, self._mean_luma, self._hist):
            d.pop(before, None)
