"""Streaming shot-boundary detector working on tiny (64x36) YUV frames.

Hard cuts: score = mean(|luma difference|, colour-histogram distance) between consecutive
frames; a cut needs the score above an absolute floor AND well above its neighbours' mean (an
adaptive threshold, like PySceneDetect's AdaptiveDetector), so sustained fast handheld motion,
where every frame differs, is not mistaken for a string of cuts.

Gradual transitions: during a dissolve each frame is close to the average of the frames k
before and k after it (a linear blend), while those two differ a lot. The test runs on a 16x9
YUV image (block means of the 64x36 one: averaging is linear, so a blend stays a blend, while
camera and object motion mostly average out) at several steps k (2, 4, 8, 16 frames), so a
0.3 s dissolve and a 2 s one both show up. A run of such frames is one gradual transition,
reported ONCE, at its midpoint, with its span; cuts the cut detector found inside the span
(motion during the dissolve, its steepest part) are absorbed into it. A run that passes
through near-black frames is a fade; fade-out + black + fade-in runs are merged. A run also
needs the picture before and after it to differ (colour histograms), so a pan or zoom inside
one scene, which can look like a blend on a tiny image, is not a transition.

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


Features = tuple[np.ndarray, np.ndarray]  # what ``frame_features`` returns


def _mean(x: np.ndarray) -> float:
    """``x.mean()``, bit for bit, without its Python-level overhead (~5 µs a call, 8 calls a
    frame, all of them on the GIL the decoding threads need)."""
    return float(np.add.reduce(x, axis=None) / x.size)


def cut_score(before: Features, after: Features) -> float:
    """How much a picture differs from the one before it: mean |luma difference| and the
    colour-histogram distance, averaged (0..1)."""
    pix = _mean(np.abs(after[0] - before[0]))
    return 0.5 * (pix + 0.5 * float(np.abs(after[1] - before[1]).sum()))


class BoundaryDetector:
    def __init__(self, config: SegmenterConfig, fps: float = 25.0):
        self.cfg = config
        self.min_len = config.min_shot_length(fps)
        self.steps = tuple(sorted(config.dissolve_steps))
        self.k = self.steps[-1]
        self.w = config.cut_window
        self.n = 0  # frames pushed
        self._luma: deque[np.ndarray] = deque(maxlen=2)
        self._small: deque[np.ndarray] = deque(maxlen=2 * self.k + 1)
        self._prev_hist: np.ndarray | None = None
        # Per-frame scalars for the last few frames only (bounded memory).
        self._score: dict[int, float] = {}
        self._mean_luma: dict[int, float] = {}
        self._black: dict[int, bool] = {}
        self._tiny: dict[int, np.ndarray] = {}  # the 16x9 YUV image of recent frames
        self._real: dict[int, bool] = {}  # False: an interpolated (not decoded) frame
        self._hist: dict[int, np.ndarray] = {}
        self._flash_from: dict[int, int] = {}  # flash cut frame -> the cut that began the flash
        self.last_score = 0.0  # cut score of the newest frame (vs the one before it)
        self._cuts: list[int] = []
        # Open gradual run: [first, last] frame with blend evidence, [span start, span end).
        self._run: list[int] | None = None
        self._pending: list[Boundary] = []
        self._last_boundary = 0
        # a gradual boundary stays pending until a second half (fade-in) could have closed
        self.lag = 3 * self.k + 2 * config.dissolve_merge_gap + self.w + 2

    # --- input -------------------------------------------------------------------------
    def push(self, yuv: np.ndarray, real: bool = True, features: Features | None = None) -> list[Boundary]:
        """Add the next frame (``features``: its ``frame_features``, if already computed).
        ``real=False``: a frame that was not decoded, its thumbnail a mix of the decoded frames
        around it (coarse-to-fine decoding): such a frame is a blend of its neighbours by
        construction, so it is never itself tested as one."""
        luma, hist = features if features is not None else frame_features(yuv)
        i = self.n
        self._real[i] = real
        self.n += 1
        if self._prev_hist is None:
            self._score[i] = 0.0
        else:
            self._score[i] = cut_score((self._luma[-1], self._prev_hist), (luma, hist))
        self._prev_hist = hist
        self._hist[i] = hist
        self.last_score = self._score[i]
        self._mean_luma[i] = _mean(luma)
        self._luma.append(luma)
        q = self.cfg.dissolve_pool
        # block means as sums of strided slices (4x faster than mean over reshaped axes, same bits)
        blocks = sum(yuv[:, a::q, b::q].astype(np.uint16) for a in range(q) for b in range(q))
        self._small.append(blocks / float(q * q) / 255.0)
        self._tiny[i] = self._small[-1]
        # near-black: dark AND flat (a low-light shot is dark too, but still has a picture)
        self._black[i] = self._mean_luma[i] < self.cfg.fade_black_luma and float(self._small[-1][0].std()) < 0.02
        self._decide_cut(i - self.w)
        self._blend_evidence(i - self.k)
        self._forget(i - 256)
        horizon = i - self.lag
        if self._run is not None:  # an open run may still end as a boundary before horizon
            horizon = min(horizon, self._run[2] - 2)
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
        """Is frame ``t`` (the middle of the window) a blend of the frames k before and after,
        at any step k? Extends or opens the gradual run; closes it after a gap."""
        if t < 1 or len(self._small) < 2 * self.k + 1 or not self._real.get(t, True):
            return
        mid = self._small[self.k]
        # Hysteresis: an open run is extended by weaker evidence than it takes to open one.
        limit = self.cfg.dissolve_max_residual if self._run is None else self.cfg.dissolve_extend_residual
        span: tuple[int, int] | None = None
        for k in self.steps:
            before, after = self._small[self.k - k], self._small[self.k + k]
            change = _mean(np.abs(before - after))
            if change <= self.cfg.dissolve_min_change:
                continue
            residual = _mean(np.abs(mid - 0.5 * (before + after)))
            if residual < limit * change:
                span = (t - k // 2, t + k // 2 + 1) if span is None else span
        if span is not None:
            run = self._run
            if run is not None and min(t - run[1], span[0] - run[3]) <= self._merge_gap(run[1], t):
                run[1], run[2], run[3] = t, min(run[2], span[0]), max(run[3], span[1])
            else:
                self._close_run()
                self._run = [t, t, span[0], span[1]]
        elif self._run is not None and t - self._run[1] > self.cfg.dissolve_merge_gap:
            # a fade's black middle holds no blend evidence: wait (up to 2 s) for its fade-in
            if not self._black.get(t, False) or t - self._run[1] > 50:
                self._close_run()

    def _merge_gap(self, last: int, t: int) -> int:
        """How far apart two spans of blend evidence may be and still be one transition: the
        merge gap, or any gap of near-black frames (a fade's black hold)."""
        if t - last <= self.cfg.dissolve_merge_gap:
            return self.cfg.dissolve_merge_gap
        if t - last <= 50 and any(self._black.get(j, False) for j in range(last + 1, t)):
            return t - last
        return self.cfg.dissolve_merge_gap

    def _close_run(self) -> None:
        run, self._run = self._run, None
        if run is None or run[1] - run[0] + 1 < self.cfg.dissolve_min_run:
            return
        start, end = max(run[2], 1), run[3]
        end = max(end, start + 1)
        before, after = self._hist.get(start - 1), self._hist.get(min(end, self.n - 1))
        across = 1.0
        if before is not None and after is not None:
            across = 0.5 * float(np.abs(before - after).sum())
            if across < self.cfg.dissolve_min_hist:
                return  # same picture on both sides: motion inside one shot, no transition
        inside = [c for c in self._cuts[-8:] if start - 2 <= c < end + 2]
        # A cut inside the span that carries most of the change across it is a real cut next
        # to some motion: it explains the "blend". A weaker one is the steepest part of the
        # dissolve (or motion during it) and is absorbed below: one transition, one boundary.
        if any(self._score.get(c, 0.0) >= self.cfg.dissolve_cut_share * across for c in inside):
            return
        lumas = [self._mean_luma.get(t, 1.0) for t in range(start, end)]
        darkest = min(lumas)
        ends = min(self._mean_luma.get(start - 1, 1.0), self._mean_luma.get(end, 1.0))
        # Through black: near-black in absolute terms AND much darker than both shots.
        is_fade = darkest < self.cfg.fade_black_luma and darkest < 0.5 * ends
        kind = "fade" if is_fade else "dissolve"
        # Verify on the whole span (widened a little) and trim it to the frames really mixed.
        lo, hi = max(start - 2, 1), min(end + 2, self.n - 1)
        if is_fade:
            k = start + lumas.index(darkest)
            first = self._is_blend(lo, k)
            second = self._is_blend(k, hi)
            if first is None or second is None:
                return
            start, end = first[0], second[1]
        else:
            both = self._is_blend(lo, hi)
            if both is None:
                return
            start, end = both
        if end - start < 2:
            return
        # Two halves of one transition (fade-out, black, fade-in; or a dissolve whose middle
        # lost its evidence to motion) close as two runs: join them while the first is pending.
        prev = next((b for b in reversed(self._pending) if b.kind in ("dissolve", "fade")), None)
        if prev is not None and start - prev.span_end <= self.cfg.dissolve_merge_gap:
            through_black = any(self._black.get(j, False) for j in range(prev.span_start, end))
            self._pending.remove(prev)
            start = prev.span_start
            if through_black:
                kind = "fade"
        # A fade-in from black lifts the whole histogram from bin to bin: "cuts" just after
        # the span out of near-black frames are the rest of this fade.
        for c in self._cuts[-8:]:
            if end + 2 <= c < end + self.cfg.dissolve_merge_gap + self.k \
                    and self._mean_luma.get(c - 1, 1.0) < self.cfg.fade_black_luma:
                end, kind = c + 1, "fade"
        # One transition, one boundary: cuts found inside the span are part of it.
        self._pending = [b for b in self._pending if not (b.kind == "cut" and start - 2 <= b.frame < end + 2)]
        self._cuts = [c for c in self._cuts if not start - 2 <= c < end + 2]
        mid = (start + end) // 2
        self._add(Boundary(mid, kind, start, end))

    def _is_blend(self, start: int, end: int) -> tuple[int, int] | None:
        """Are the frames in [start, end) mixes (1-a) A + a B of the frame before (A) and the
        frame at ``end`` (B), with a growing? True of a dissolve or half a fade even with some
        motion; a pan or zoom shows other picture content, which no mix of its ends explains.
        Returns the sub-span whose frames are really mixed (0 < a < 1), or None."""
        a, b = self._tiny.get(start - 1), self._tiny.get(end)
        frames = [self._tiny.get(j) for j in range(start, end)]
        if a is None or b is None or any(f is None for f in frames) or len(frames) < 2:
            return (start, end)  # not enough memory of the span (very long): trust the local test
        d = (b - a).ravel()
        denom = float(d @ d)
        if denom <= 0:
            return None
        alphas, residuals = [], []
        for f in frames:
            x = (f - a).ravel()
            alpha = min(max(float(x @ d) / denom, 0.0), 1.0)
            alphas.append(alpha)
            residuals.append(float(np.abs(x - alpha * d).mean()))
        change = float(np.abs(d).mean())
        steps = np.diff(alphas)
        monotonic = float(steps[steps < 0].sum()) > -0.25
        if not monotonic or float(np.mean(residuals)) >= self.cfg.dissolve_verify_residual * change:
            return None
        mixed = [j for j, al in enumerate(alphas) if 0.04 < al < 0.96]
        if not mixed:
            return None
        return start + mixed[0], start + mixed[-1] + 1

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
        for d in (self._score, self._mean_luma, self._hist, self._black, self._tiny, self._real):
            d.pop(before, None)
