"""A small zero-shot retrieval check on real photos shipped with scikit-image.

Each prompt names what one photo shows; a good joint space ranks that photo first among
all of them. Used by the tests and to choose how the default bundle builds its joint head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (scikit-image loader, prompt): the specific object, then a broad category for the same photo.
CASES: tuple[tuple[str, str], ...] = (
    ("chelsea", "a cat"),
    ("coffee", "a cup of coffee"),
    ("rocket", "a rocket"),
    ("astronaut", "an astronaut"),
    ("camera", "a camera on a tripod"),
    ("stereo_motorcycle", "a motorcycle"),
    ("chelsea", "an animal"),
    ("coffee", "a drink"),
    ("stereo_motorcycle", "a vehicle"),
)


def load_photos() -> dict[str, np.ndarray]:
    """The distinct photos of ``CASES`` as RGB uint8 arrays (grayscale → 3 channels)."""
    from skimage import data

    photos = {}
    for name in dict.fromkeys(name for name, _ in CASES):
        img = getattr(data, name)()
        img = img[0] if isinstance(img, tuple) else img  # stereo pairs: left view
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        photos[name] = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
    return photos


@dataclass(frozen=True)
class ZeroShotResult:
    photo_names: list[str]
    prompts: list[str]
    scores: np.ndarray  # [prompt, photo] cosine similarity
    top1: float  # share of prompts whose own photo ranks first
    mean_margin: float  # own-photo score minus best other photo, averaged

    def table(self) -> str:
        width = max(len(p) for p in self.prompts) + 2
        head = " " * width + " ".join(f"{n[:9]:>9}" for n in self.photo_names)
        lines = [head]
        for (own, prompt), row in zip(CASES, self.scores):
            cells = " ".join(("*" if n == own else " ") + f"{v:8.3f}" for n, v in zip(self.photo_names, row))
            mark = "ok" if self.photo_names[int(np.argmax(row))] == own else "MISS"
            lines.append(f"{prompt:<{width}}{cells}  {mark}")
        lines.append(f"top-1 {self.top1:.2f}  mean margin {self.mean_margin:+.3f}")
        return "\n".join(lines)


def score(image_joint: dict[str, np.ndarray], text_joint: np.ndarray) -> ZeroShotResult:
    """``image_joint``: photo name → unit vector; ``text_joint``: unit vectors, one per case."""
    names = list(image_joint)
    scores = text_joint @ np.stack([image_joint[n] for n in names]).T
    own = np.array([names.index(name) for name, _ in CASES])
    rows = np.arange(len(CASES))
    others = scores.copy()
    others[rows, own] = -np.inf
    margins = scores[rows, own] - others.max(1)
    return ZeroShotResult(names, [p for _, p in CASES], scores,
                          float((margins > 0).mean()), float(margins.mean()))
