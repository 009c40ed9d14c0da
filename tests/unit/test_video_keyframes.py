"""Keyframes: agreed size, inside their shot, bounded memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shotline.video import SegmenterConfig, segment_video
from shotline.video.config import SegmenterConfig as Config
from shotline.video.keyframes import KeyframeSampler
from tests.unit.video_fixtures import fixtures_dir  # noqa: F401 - fixture


def test_keyframes_have_short_side_256_and_lie_inside_their_shot(fixtures_dir: Path) -> None:
    result = segment_video(fixtures_dir / "montage_360p.mp4")
    assert len(result.keyframes) == len(result.shots)
    for shot, frames, idx, ms in zip(
        result.shots, result.keyframes, result.keyframe_frames, result.keyframe_ms, strict=True
    ):
        assert len(frames) == 3
        for img, i, t in zip(frames, idx, ms, strict=True):
            assert img.dtype == np.uint8 and img.shape == (256, 455, 3)
            assert shot.start_frame <= i < shot.end_frame
            assert shot.start_ms <= t < shot.end_ms
        assert idx == sorted(set(idx))
        assert float(frames[0].std()) > 5  # real picture content, not a blank buffer


def test_keyframes_avoid_transition_frames(fixtures_dir: Path) -> None:
    result = segment_video(fixtures_dir / "montage_360p.mp4")
    # The fade through black spans frames [459, 475): no keyframe may be taken inside it.
    for idx in result.keyframe_frames:
        assert not any(459 <= i < 475 for i in idx)


def test_keyframes_per_second_mode(fixtures_dir: Path) -> None:
    result = segment_video(fixtures_dir / "cockatoo.mp4", SegmenterConfig(keyframes_per_second=0.5))
    # One 14 s shot at 0.5 keyframes/s -> 7 keyframes, spread over the shot.
    (idx,) = result.keyframe_frames
    assert len(idx) == 7
    assert idx[0] < 40 and idx[-1] > 240


def test_portrait_video_keyframe_size(fixtures_dir: Path) -> None:
    from shotline.video.shots import keyframe_size

    assert keyframe_size(1920, 1080, 256) == (455, 256)
    assert keyframe_size(1080, 1920, 256) == (256, 455)
    assert keyframe_size(500, 500, 256) == (256, 256)


def test_candidate_buffer_stays_bounded_on_a_long_shot() -> None:
    sampler = KeyframeSampler(Config(), fps=25, lag=13)
    frame = np.zeros((4, 4, 3), np.uint8)
    peak = 0
    for i in range(25 * 3600):  # an hour-long shot
        if sampler.wants(i):
            sampler.add(i, i * 40, frame)
        peak = max(peak, len(sampler.candidates))
    assert peak <= sampler.capacity
    chosen = sampler.close_shot(0, 25 * 3600, 0, 25 * 3600)
    spread = [c.frame / (25 * 3600) for c in chosen]
    assert len(chosen) == 3 and spread[0] < 0.34 and 0.33 < spread[1] < 0.67 and spread[2] > 0.66
