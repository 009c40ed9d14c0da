"""Tunables of the segmenter: input limits, detector thresholds, keyframe sampling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmenterConfig:
    # --- input limits (over any of them -> BadInput("too_large")) ---
    max_file_bytes: int = 8 * 1024**3
    max_duration_s: float = 4 * 3600.0
    max_pixels: int = 3840 * 2160
    max_frames: int = 4 * 3600 * 60

    # --- detection (features on a tiny frame; scores are in [0, 1]) ---
    detect_width: int = 64
    detect_height: int = 36
    cut_min_score: float = 0.10  # absolute floor of the cut score
    cut_ratio: float = 2.5  # cut score must exceed this x the mean of its neighbours
    cut_window: int = 2  # neighbours each side used for the adaptive cut threshold
    # Shortest shot: a boundary closer than this to the previous one is dropped, and a
    # leading/trailing fragment shorter than this merges into its neighbour. ``min_shot_frames``
    # (when set) wins over ``min_shot_ms`` (250 ms = 6 frames at 24/25 fps, 8 at 30, 15 at 60).
    min_shot_frames: int | None = None
    min_shot_ms: int = 250
    # A flash cut (a brief shot of other content between two *different* shots) is kept even
    # when shorter than the minimum: both its cuts must score at least this, and it must last
    # at least ``flash_cut_min_frames``. A brief flash that returns to the same picture (a
    # camera flash, a strobe) is no cut at all.
    flash_cut_min_score: float = 0.2
    flash_cut_min_frames: int = 2
    # k: frame t is tested as the blend of frames t-k and t+k (16x9 YUV), at each of these steps
    dissolve_steps: tuple[int, ...] = (3, 6, 12)
    dissolve_pool: int = 2  # the blend test runs on (64x36) / pool block means (32x18)
    dissolve_min_change: float = 0.04  # mean |YUV[t-k] - YUV[t+k]| needed (0..1)
    dissolve_max_residual: float = 0.33  # blend residual / change must stay below this
    dissolve_extend_residual: float = 0.4  # ... and below this to extend an open run
    dissolve_min_hist: float = 0.1  # histogram distance needed across a gradual transition
    dissolve_verify_residual: float = 0.5  # span frames vs the best mix of its two ends
    dissolve_cut_share: float = 0.5  # a cut inside it with this share of that change is a cut
    dissolve_min_run: int = 4  # frames of blend evidence needed for a gradual transition
    dissolve_merge_gap: int = 6  # runs this close merge (fade-out + black + fade-in)
    fade_black_luma: float = 0.12  # darkest mean luma (video black is 16/255=0.06) of a fade

    # --- keyframes ---
    keyframes_per_shot: int = 3  # used when keyframes_per_second is None
    keyframes_per_second: float | None = None
    max_keyframes_per_shot: int = 16  # cap for the per-second mode
    keyframe_short_side: int = 256  # the encoder centre-crops 224 from this
    keyframe_candidates_per_second: float = 8.0  # initial sampling density of candidates

    # --- decoding ---
    # Skipping H.264's in-loop deblocking filter saves ~20% decode time; the faint blocking it
    # leaves does not move the detector's scores or the keyframe embeddings measurably.
    fast_decode: bool = True
    # Coarse-to-fine: decode only the frames other frames refer to (skip_frame=NONREF; for
    # typical H.264 ~60% of the decoding work), and the skipped frames of a gap only when its
    # ends differ like a cut: score >= coarse_min_score and >= coarse_ratio x the neighbouring
    # gaps' mean. Other skipped frames are linear mixes of their neighbours for the detector.
    coarse_decode: bool = True
    # ... and every B frame, B references too, where the stream's x264 SEI proves that exact
    # (ref=1: ``decode.coarse_skip``): ~40% of the frames decoded instead of ~60%.
    coarse_skip_b_frames: bool = True
    coarse_min_score: float = 0.08
    coarse_ratio: float = 2.0
    # Parallel decoding: the coarse pass splits the stream at keyframes that start a clean
    # chunk (no frame before them in display order comes after them in decode order) into
    # chunks of at least ``decode_chunk_frames`` and decodes ``decode_workers`` at once (0: one
    # per CPU this process may use, at most 8), each its own single-threaded decoder: frame
    # threads inside one decoder kept ~1.4 of 2 cores busy, chunks ~1.9. The frames kept for
    # keyframes of chunks decoded ahead are capped at ``decode_buffer_bytes`` (a stream whose
    # chunks would not fit two at once is decoded in one pass).
    decode_workers: int = 0
    decode_chunk_frames: int = 48
    decode_buffer_bytes: int = 768 * 1024**2

    def min_shot_length(self, fps: float) -> int:
        """The shortest shot in frames for a stream of ``fps`` frames per second."""
        if self.min_shot_frames is not None:
            return max(1, self.min_shot_frames)
        return max(2, round((fps if fps > 0 else 25.0) * self.min_shot_ms / 1000))

    def __post_init__(self) -> None:
        if self.min_shot_frames is not None and self.min_shot_frames < 1:
            raise ValueError("min_shot_frames must be >= 1")
        if self.min_shot_ms < 0 or self.flash_cut_min_frames < 1:
            raise ValueError("min_shot_ms must be >= 0 and flash_cut_min_frames >= 1")
        if self.keyframes_per_shot < 1 or self.max_keyframes_per_shot < 1:
            raise ValueError("keyframes_per_shot and max_keyframes_per_shot must be >= 1")
        if self.keyframes_per_second is not None and self.keyframes_per_second <= 0:
            raise ValueError("keyframes_per_second must be > 0")
        if self.decode_workers < 0 or self.decode_chunk_frames < 1 or self.decode_buffer_bytes < 0:
            raise ValueError("decode_workers, decode_chunk_frames and decode_buffer_bytes must be >= 0 / >= 1")
        if self.keyframe_short_side < 16:
            raise ValueError("keyframe_short_side must be >= 16")
