"""Session fixture: the real test videos, built once by scripts/fetch_fixtures.py (cached)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.fetch_fixtures import default_dest, fetch_all


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return fetch_all(default_dest(), large=False)


@pytest.fixture(scope="session")
def montage_truth(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "montage.json").read_text())


def read_frames(path: Path) -> list:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def write_clip(path: Path, frames: list, fps: int = 25, preset: str = "ultrafast") -> Path:
    """H.264 at a constant frame rate: every frame written is decoded back, in order
    (x264 ``preset``: ultrafast has no B frames, veryfast has B references with ref=1)."""
    import av

    h, w = (d // 2 * 2 for d in frames[0].shape[:2])  # 4:2:0 needs even sizes
    frames = [f[:h, :w] for f in frames]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.height, s.width = h, w
        s.pix_fmt = "yuv420p"
        s.options = {"preset": preset, "crf": "18"}
        for img in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="session")
def edge_clips(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short clips of real footage with boundaries at awkward places. bikes.mp4 has hard cuts
    at frames 30, 76, 137, 187, 242; cockatoo.mp4 is one handheld shot."""
    import numpy as np

    bikes = read_frames(fixtures_dir / "bikes.mp4")
    cockatoo = read_frames(fixtures_dir / "cockatoo.mp4")
    flash = [np.clip(f.astype(np.int16) * 2 + 90, 0, 255).astype(np.uint8) for f in cockatoo[40:42]]
    clips = {
        "one_frame": bikes[:1],
        "two_frames": bikes[:2],
        "two_frames_across_a_cut": bikes[29:31],
        "tail_1_frame": bikes[:31],  # the last frame is a hard cut to other content
        "tail_2_frames": bikes[:32],
        "tail_1_frame_long": bikes[:77],  # two real shots, then one frame of a third
        "cut_at_frame_1": bikes[29:60],  # the first frame belongs to the shot before
        "flash_cut": bikes[:30] + bikes[140:143] + bikes[90:120],  # 3 frames of another shot
        "camera_flash": cockatoo[:40] + flash + cockatoo[42:80],  # brightness flash, no cut
    }
    out = tmp_path_factory.mktemp("edge-clips")
    return {name: write_clip(out / f"{name}.mp4", frames) for name, frames in clips.items()}
