"""Every kind of bad input ends in a BadInput with the right reason, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotline.errors import BadInput
from shotline.video import SegmenterConfig, segment_video
from tests.unit.video_fixtures import fixtures_dir  # noqa: F401 - fixture


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bad/does_not_exist.mp4", "missing_file"),
        ("bad", "missing_file"),  # a directory
        ("bad/empty.mp4", "empty_file"),
        ("bad/text.mp4", "not_a_video"),
        ("bad/garbage.mkv", "not_a_video"),
        ("bad/audio_only.m4a", "no_video_stream"),
        ("bad/no_frames.y4m", "zero_duration"),
        ("bad/unsupported_codec.mkv", "unsupported_codec"),
        ("bad/huge_8000x8000.mp4", "too_large"),
        ("bad/truncated_no_index.mp4", "truncated"),
    ],
)
def test_bad_input_reason(fixtures_dir: Path, name: str, reason: str) -> None:
    with pytest.raises(BadInput) as err:
        segment_video(fixtures_dir / name)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    "config",
    [
        SegmenterConfig(max_file_bytes=100_000),
        SegmenterConfig(max_duration_s=5.0),
        SegmenterConfig(max_pixels=320 * 240),
        SegmenterConfig(max_frames=100),
    ],
)
def test_limits(fixtures_dir: Path, config: SegmenterConfig) -> None:
    with pytest.raises(BadInput) as err:
        segment_video(fixtures_dir / "bikes.mp4", config)
    assert err.value.reason == "too_large"


def test_truncated_file_yields_shots_for_the_decodable_part(fixtures_dir: Path) -> None:
    result = segment_video(fixtures_dir / "bad/truncated_faststart.mp4")
    assert result.truncated
    assert 100 < result.frame_count < 759
    assert [s.start_frame for s in result.shots[:3]] == [0, 140, 195]


def test_single_frame_video_is_one_shot(fixtures_dir: Path) -> None:
    result = segment_video(fixtures_dir / "bad/one_frame.mp4")
    assert result.frame_count == 1 and not result.truncated
    assert [(s.start_frame, s.end_frame, s.transition) for s in result.shots] == [(0, 1, "start")]
    assert len(result.keyframes[0]) == 1
