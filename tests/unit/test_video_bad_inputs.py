"""Every kind of bad input ends in a BadInput with the right reason, never a crash."""

from __future__ import annotations

import subprocess
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


@pytest.mark.parametrize(("fmt", "codec"), [("h263", "h263"), ("h264", "libx264"), ("m4v", "mpeg4"), ("hevc", "libx265")])
def test_bare_elementary_stream_is_refused(tmp_path: Path, fmt: str, codec: str) -> None:
    """No container, no timestamps: refused with the remedy. (FFmpeg also sniffs about one in
    1,500 buffers of random bytes as raw H.263 and decodes garbage frames from them.)"""
    raw = tmp_path / "clip.mkv"  # the name says Matroska; the bytes are a bare stream
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=176x144:rate=25", "-t", "1",
                    "-c:v", codec, "-f", fmt, str(raw)], check=True)
    with pytest.raises(BadInput) as err:
        segment_video(raw)
    assert err.value.reason == "not_a_video"
    assert "no container" in str(err.value) and "ffmpeg -i" in str(err.value)


def test_file_with_neither_video_nor_audio_is_not_a_video(tmp_path: Path) -> None:
    subs = tmp_path / "upload.mp4"
    subs.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:03,000 --> 00:00:04,000\nbye\n")
    with pytest.raises(BadInput) as err:
        segment_video(subs)
    assert err.value.reason == "not_a_video"
