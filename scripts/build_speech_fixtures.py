"""Build the speech / on-screen text fixtures: real footage with KNOWN speech and KNOWN titles.

Usage:  python scripts/build_speech_fixtures.py [DEST]   (normally run by scripts/fetch_fixtures.py;
default DEST: $SHOTLINE_FIXTURES or ~/.cache/shotline/fixtures; the source clips bikes.mp4,
bigbuckbunny.mp4, cockatoo.mp4 and cityCC0.mpg are copied there first if missing)

What the speech-to-text (Whisper) and OCR (Tesseract) stages and their bench are tested on:

- ``speech_montage.mp4`` + ``speech_montage.json``: 35.8 s, 640x360, 25 fps, H.264 + AAC
  (mono, 16 kHz). Six single shots of ~6 s from different real clips (or far-apart parts of
  one), joined by hard cuts only, so a shot detector has exactly six shots to find. Short
  source shots are slowed down by repeating frames (no blending) to reach ~6 s. The audio is
  quiet seeded pink noise with five espeak-ng sentences (``en-us``, 150 wpm) placed at known
  times, each at least 0.5 s inside one shot; one shot has no speech. Four titles (white
  bold DejaVu on a dark box) are burnt in with ffmpeg drawtext over known frame ranges, each
  inside one shot and covering that shot's middle frame (where the segmenter takes a
  keyframe); the shot with no speech has a title only, two speech shots have no title. The
  sentences and titles share no keyword, and each holds a rare word, so a keyword search has
  exactly one right shot. The JSON is the truth: shots (frame-exact ms), speech (the sounded
  extent of each sentence, leading/trailing silence of the espeak output trimmed) and titles.
- ``speech_silent.mp4``: 6 s of real footage (Big Buck Bunny, whose source has a 5.1
  soundtrack) with NO audio stream at all: the speech stage must skip it, not fail.
- ``speech_corrupt_audio.mkv`` + ``.json``: 6 s of real footage whose video is a valid H.264
  stream and whose audio stream is declared AAC (valid codec parameters and extradata) but
  whose packets are seeded random bytes: every video frame decodes, the audio does not (PyAV
  raises ``InvalidDataError`` on it), so the speech stage must fail soft and keep the shots.

Deterministic: fixed source frames, fixed texts, seeded noise; x264 runs on a fixed thread
count and the Matroska muxer in bitexact mode. Idempotent: an existing output is left alone
(rebuilt only when its JSON's ``version`` differs from VERSION); files are written to a temp
name and renamed. Needs ffmpeg (libx264, drawtext), espeak-ng and fonts-dejavu-core.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also run as a script
from scripts.fetch_fixtures import _build, copy_sources, default_dest  # noqa: E402

VERSION = 1  # bump when the plan or the rendering changes (forces a rebuild)
FPS = 25
W, H = 640, 360
SPEECH_RATE = 22050  # espeak-ng's output rate; the mix is made at this rate
AUDIO_RATE = 16000   # the AAC stream's rate (Whisper's own)
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
VOICE, WPM = "en-us", 150
NOISE_SEED, NOISE_RMS = 20260, 0.006  # pink noise, about -44 dBFS RMS
SPEECH_PEAK = 0.5
EDGE_MS = 500  # speech and titles stay at least this far inside their shot

# (source clip, first source frame, end source frame exclusive, output frames): single shots
# only (cuts found by PySceneDetect: bikes 30/76/137/187/242, cityCC0 116; cockatoo has a very
# fast pan near frame 157 that ContentDetector takes for a cut, so both cockatoo shots avoid it).
SHOTS: list[tuple[str, int, int, int]] = [
    ("cockatoo.mp4", 0, 120, 150),      # 20 fps source: 0-6 s in real time
    ("bikes.mp4", 76, 137, 150),        # 2.46x slow motion
    ("bigbuckbunny.mp4", 0, 132, 150),  # 1.14x
    ("cityCC0.mpg", 0, 116, 145),       # 1.25x
    ("cockatoo.mp4", 168, 280, 140),    # 8.4-14 s in real time
    ("cityCC0.mpg", 116, 190, 150),     # 2.03x
]
SOURCE_FPS = {"cockatoo.mp4": 20}  # others: 25

# (shot index, start offset in the shot in ms, sentence); shot 5 has no speech.
SPEECH: list[tuple[int, int, str]] = [
    (0, 1400, "Meet me at the railway bridge before midnight."),
    (1, 800, "The yellow submarine surfaced near the frozen island."),
    (2, 2200, "Please bring three ripe bananas for the picnic."),
    (3, 900, "The orchestra played a quiet waltz in the garden."),
    (4, 1200, "Our pilot landed the helicopter on the roof."),
]

# (shot index, first frame in the shot, end frame in the shot exclusive, text, y position)
TITLES: list[tuple[int, int, int, str, str]] = [
    (0, 15, 135, "HARBOUR CITY NEWS", "h-th-40"),          # with speech, overlapping it
    (2, 15, 90, "LIGHTHOUSE TOUR 2026", "36"),              # with speech, mostly before it
    (3, 55, 132, "GRAND CANYON EXPRESS", "h-th-40"),        # with speech, after its start
    (5, 20, 135, "CHAPTER TWO: THE STORM", "(h-th)/2"),     # the shot with no speech
]

SILENT_SOURCE = ("bigbuckbunny.mp4", 0, 132, 150)
CORRUPT_SOURCE = ("cockatoo.mp4", 0, 120, 150)
CORRUPT_SEED = 7
AAC_FRAME = 1024  # samples per AAC packet


def _need(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        sys.exit(f"{tool} not found: run `{hint}`")


def _ms(frame: int) -> int:
    return frame * 1000 // FPS  # 40 ms a frame: exact


def _shot_frames(dest: Path, src: str, first: int, end: int, n_out: int) -> Iterator[np.ndarray]:
    """``n_out`` RGB frames at W x H from source frames [first, end): centre-cropped to 16:9,
    each output frame repeats source frame ``first + k * (end - first) // n_out``."""
    picked: dict[int, np.ndarray] = {}
    with av.open(str(dest / src)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= end:
                break
            if i < first:
                continue
            arr = frame.to_ndarray(format="rgb24")
            h, w = arr.shape[:2]
            cw, ch = min(w, round(h * W / H)), min(h, round(w * H / W))
            x0, y0 = (w - cw) // 2, (h - ch) // 2
            crop = np.ascontiguousarray(arr[y0:y0 + ch, x0:x0 + cw])
            small = av.VideoFrame.from_ndarray(crop, format="rgb24").reformat(W, H, interpolation="AREA")
            picked[i] = small.to_ndarray(format="rgb24")
    if len(picked) != end - first:
        sys.exit(f"{dest / src}: expected frames [{first}, {end}), decoded {len(picked)}")
    for k in range(n_out):
        yield picked[first + k * (end - first) // n_out]


def _encode(tmp: Path, frames: Iterator[np.ndarray], *args: str) -> None:
    """Pipe raw RGB frames into ffmpeg (input 0); ``args`` add inputs, filters and outputs."""
    cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{W}x{H}", "-r", str(FPS), "-i", "pipe:0", *args, str(tmp)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for arr in frames:
            proc.stdin.write(arr.tobytes())
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)


_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-threads:v", "2", "-pix_fmt", "yuv420p"]


def _shot_table() -> list[dict]:
    shots, start = [], 0
    for i, (src, first, _end, n) in enumerate(SHOTS):
        at = first / SOURCE_FPS.get(src, FPS)
        shots.append({"index": i, "start_frame": start, "end_frame": start + n, "start_ms": _ms(start),
                      "end_ms": _ms(start + n), "source": f"{src}@{at:.2f}s"})
        start += n
    return shots


def _speak(text: str, tmpdir: Path, i: int) -> np.ndarray:
    """espeak-ng's rendering of ``text`` as float32 at SPEECH_RATE, leading/trailing silence cut."""
    wav = tmpdir / f"say{i}.wav"
    subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(WPM), "-w", str(wav), text], check=True)
    with wave.open(str(wav)) as f:
        assert f.getframerate() == SPEECH_RATE and f.getnchannels() == 1 and f.getsampwidth() == 2
        pcm = np.frombuffer(f.readframes(f.getnframes()), np.int16).astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(pcm) > 0.01 * np.abs(pcm).max())
    pcm = pcm[loud[0]:loud[-1] + 1]
    return pcm * (SPEECH_PEAK / np.abs(pcm).max())


def _pink_noise(n: int) -> np.ndarray:
    rng = np.random.default_rng(NOISE_SEED)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f)
    spec[0] = 0.0
    noise = np.fft.irfft(spec, n)
    return (noise * (NOISE_RMS / noise.std())).astype(np.float32)


def _write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SPEECH_RATE)
        f.writeframes(np.clip(np.rint(pcm * 32767), -32768, 32767).astype("<i2").tobytes())


def _montage_audio(shots: list[dict], tmpdir: Path) -> tuple[Path, list[dict]]:
    """The mixed soundtrack (WAV) and the speech truth."""
    total_ms = shots[-1]["end_ms"]
    mix = _pink_noise(total_ms * SPEECH_RATE // 1000)
    speech = []
    for i, (shot, offset_ms, text) in enumerate(SPEECH):
        pcm = _speak(text, tmpdir, i)
        start_ms = shots[shot]["start_ms"] + offset_ms
        s0 = start_ms * SPEECH_RATE // 1000
        mix[s0:s0 + pcm.size] += pcm
        end_ms = start_ms + -(-pcm.size * 1000 // SPEECH_RATE)  # ceil
        if not (shots[shot]["start_ms"] + EDGE_MS <= start_ms and end_ms <= shots[shot]["end_ms"] - EDGE_MS):
            sys.exit(f"sentence {text!r} ({start_ms}-{end_ms} ms) is not {EDGE_MS} ms inside shot {shot}")
        speech.append({"text": text, "start_ms": start_ms, "end_ms": end_ms, "shot_index": shot})
    wav = tmpdir / "mix.wav"
    _write_wav(wav, mix)
    return wav, speech


def _title_table(shots: list[dict]) -> list[dict]:
    titles = []
    for shot, f0, f1, text, _y in TITLES:
        s = shots[shot]
        a, b = s["start_frame"] + f0, s["start_frame"] + f1
        mid = (s["start_frame"] + s["end_frame"]) // 2
        assert _ms(a) - s["start_ms"] >= EDGE_MS and s["end_ms"] - _ms(b) >= EDGE_MS and a <= mid < b, text
        titles.append({"text": text, "start_ms": _ms(a), "end_ms": _ms(b), "start_frame": a, "end_frame": b,
                       "shot_index": shot})
    return titles


def _drawtext(titles: list[dict], tmpdir: Path) -> str:
    """drawtext filters for the titles; texts go through files (no filtergraph escaping)."""
    parts = []
    for j, (title, (*_, y)) in enumerate(zip(titles, TITLES, strict=True)):
        txt = tmpdir / f"title{j}.txt"
        txt.write_text(title["text"])
        parts.append(
            f"drawtext=fontfile={FONT}:textfile={txt}:fontsize=38:fontcolor=white:box=1:"
            f"boxcolor=black@0.6:boxborderw=12:x=(w-text_w)/2:y={y}:"
            f"enable='between(n,{title['start_frame']},{title['end_frame'] - 1})'"
        )
    return ",".join(parts)


def _current(video: Path, gt_path: Path) -> bool:
    """Whether ``video`` and its truth are built at this VERSION (else the video is removed)."""
    if gt_path.exists() and json.loads(gt_path.read_text()).get("version") == VERSION and video.exists():
        return True
    video.unlink(missing_ok=True)
    return False


def build_montage(dest: Path) -> None:
    video, gt_path = dest / "speech_montage.mp4", dest / "speech_montage.json"
    if _current(video, gt_path):
        return
    shots = _shot_table()
    titles = _title_table(shots)
    truth: dict = {}
    with tempfile.TemporaryDirectory(prefix="shotline-speech-") as tmp:
        tmpdir = Path(tmp)
        wav, speech = _montage_audio(shots, tmpdir)
        vf = _drawtext(titles, tmpdir)

        def frames() -> Iterator[np.ndarray]:
            for src, first, end, n in SHOTS:
                yield from _shot_frames(dest, src, first, end, n)

        def make(out: Path) -> None:
            _encode(out, frames(), "-i", str(wav), "-map", "0:v", "-map", "1:a", "-vf", vf, *_X264,
                    "-c:a", "aac", "-b:a", "48k", "-ar", str(AUDIO_RATE), "-ac", "1",
                    "-movflags", "+faststart", "-f", "mp4")

        _build(video, make)
        truth = {"version": VERSION, "fps": FPS, "width": W, "height": H,
                 "frame_count": shots[-1]["end_frame"], "duration_ms": shots[-1]["end_ms"],
                 "voice": f"espeak-ng -v {VOICE} -s {WPM}", "audio_rate": AUDIO_RATE,
                 "shots": shots, "speech": speech, "titles": titles}
    tmp_json = gt_path.with_name(f".tmp-{gt_path.name}")
    tmp_json.write_text(json.dumps(truth, indent=1))
    tmp_json.replace(gt_path)


def build_silent(dest: Path) -> None:
    _build(dest / "speech_silent.mp4",
           lambda out: _encode(out, _shot_frames(dest, *SILENT_SOURCE), "-an", *_X264, "-f", "mp4"))


def _corrupt(dest: Path, out: Path) -> None:
    """Real H.264 packets and a real AAC stream (valid parameters and extradata, from ffmpeg's
    encoder) remuxed unchanged, except that every audio packet's payload is random bytes."""
    real = out.with_name(f".real-{out.name}")
    try:
        _encode(real, _shot_frames(dest, *CORRUPT_SOURCE), "-f", "lavfi", "-t", f"{CORRUPT_SOURCE[3] / FPS}",
                "-i", f"anullsrc=r={AUDIO_RATE}:cl=mono", "-map", "0:v", "-map", "1:a", *_X264, "-c:a", "aac", "-b:a", "48k", "-f", "matroska")
        rng = np.random.default_rng(CORRUPT_SEED)
        with av.open(str(real)) as src, \
                av.open(str(out), "w", format="matroska", options={"fflags": "+bitexact"}) as dst:
            vin, ain = src.streams.video[0], src.streams.audio[0]
            vout, aout = dst.add_stream_from_template(vin), dst.add_stream_from_template(ain)
            for p in src.demux(vin, ain):
                if p.size == 0:  # the demuxer's end-of-stream markers (Matroska B frames may lack a dts)
                    continue
                if p.stream.type == "audio":
                    q = av.Packet(rng.integers(0, 256, int(rng.integers(60, 200)), dtype=np.uint8).tobytes())
                    q.pts, q.dts, q.duration, q.time_base = p.pts, p.dts, p.duration, p.time_base
                    q.stream = aout
                    dst.mux(q)
                else:
                    p.stream = vout
                    dst.mux(p)
    finally:
        real.unlink(missing_ok=True)


def build_corrupt(dest: Path) -> None:
    video, gt_path = dest / "speech_corrupt_audio.mkv", dest / "speech_corrupt_audio.json"
    if _current(video, gt_path):
        return
    _build(video, lambda out: _corrupt(dest, out))
    src, first, end, n = CORRUPT_SOURCE
    info = {
        "version": VERSION, "fps": FPS, "width": W, "height": H, "frame_count": n,
        "duration_ms": _ms(n), "source": f"{src}@{first / SOURCE_FPS.get(src, FPS):.2f}s",
        "video": "H.264 (libx264), every frame decodes",
        "audio": {"codec": "aac", "sample_rate": AUDIO_RATE, "channels": 1,
                  "packets": -(-n * AUDIO_RATE // FPS // AAC_FRAME), "samples_per_packet": AAC_FRAME,
                  "payload": f"random bytes (numpy default_rng({CORRUPT_SEED}), 60-199 bytes a packet)"},
        "made_by": "PyAV remux of an ffmpeg libx264 + AAC encode: video packets copied unchanged, the AAC "
                   "stream's parameters and extradata kept, every audio packet's payload replaced by random bytes",
        "expect": "decoding every video frame works; decoding the audio raises av InvalidDataError "
                  "(or yields no usable samples)",
    }
    tmp_json = gt_path.with_name(f".tmp-{gt_path.name}")
    tmp_json.write_text(json.dumps(info, indent=1))
    tmp_json.replace(gt_path)


def build_speech_fixtures(dest: Path) -> None:
    """Build the three speech fixtures into ``dest`` (which holds the source clips)."""
    _need("ffmpeg", "apt-get install -y ffmpeg")
    _need("espeak-ng", "apt-get install -y espeak-ng")
    if not FONT.exists():
        sys.exit(f"{FONT} not found: run `apt-get install -y fonts-dejavu-core`")
    dest = Path(dest).expanduser().resolve()
    copy_sources(dest)  # the real clips (already there when run from fetch_all)
    build_montage(dest)
    build_silent(dest)
    build_corrupt(dest)


if __name__ == "__main__":
    build_speech_fixtures(Path(sys.argv[1]) if len(sys.argv) > 1 else default_dest())
