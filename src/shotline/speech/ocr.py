"""On-screen text → words: Tesseract 5 (Debian ``tesseract-ocr`` + ``tesseract-ocr-eng``, LSTM
engine) through pytesseract, on the shot keyframes the segmenter stored.

Most keyframes hold no text, and Tesseract costs ~0.3-1 s a frame on a CPU core, so a cheap
test runs first (``likely_text``): text lines are rows of tight, high-contrast strokes, which
a morphological gradient, a horizontal closing and a shape test on the connected blobs find in
a few milliseconds. It is tuned to keep false negatives rare (a skipped title is lost; a
needless Tesseract call only costs time); the bench reports its skip rate and recall.
Keyframes are small (256 px short side), so they are upscaled 2x before recognition, which
Tesseract needs for text under ~20 px tall.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from shotline.index.text_index import Word

_WIDTH = 480  # the prefilter's working width


@dataclass(frozen=True)
class OcrConfig:
    lang: str = "eng"
    min_confidence: float = 0.7   # Tesseract's word confidence, 0..1 (titles read at 0.9+; junk mostly < 0.6)
    upscale: float = 2.0
    prefilter: bool = True
    psm: int = 11                 # sparse text: titles, signs and lower thirds in no set layout


def likely_text(rgb: np.ndarray) -> bool:
    """Whether ``rgb`` (HxWx3 uint8) may hold a line of text; cheap, errs towards yes."""
    gray = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.int16)
    h, w = gray.shape
    if w > _WIDTH:
        gray = np.asarray(Image.fromarray(gray.astype(np.uint8)).resize((_WIDTH, max(1, h * _WIDTH // w))),
                          dtype=np.int16)
        h, w = gray.shape
    grad = ndimage.grey_dilation(gray, size=(3, 3)) - ndimage.grey_erosion(gray, size=(3, 3))
    edges = grad > 60
    lines = ndimage.binary_closing(edges, structure=np.ones((1, 9), bool))
    labels, n = ndimage.label(lines)
    if n == 0:
        return False
    for sl in ndimage.find_objects(labels):
        bh, bw = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if not (5 <= bh <= h // 4 and bw >= 3 * bh and bw >= w // 20):
            continue
        box = edges[sl]
        fill = box.mean()
        # strokes: many on/off transitions along the rows, unlike one long edge (a horizon)
        transitions = np.abs(np.diff(box.astype(np.int8), axis=1)).sum(axis=1).mean() / max(1, bw)
        if 0.2 <= fill <= 0.85 and transitions >= 0.08:
            return True
    return False


class TextReader:
    def __init__(self, config: OcrConfig = OcrConfig()):
        import pytesseract

        self.config = config
        self._tess = pytesseract
        self.version = str(pytesseract.get_tesseract_version())  # fails here, at start, if not installed
        self.model_name = f"tesseract-{self.version.split()[0]}-{config.lang}"
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one core per call; the service parallelises

    def words(self, rgb: np.ndarray, at_ms: int) -> list[Word]:
        """Words read in one frame (all stamped ``at_ms``), best-confidence first per token."""
        if self.config.prefilter and not likely_text(rgb):
            return []
        img = Image.fromarray(rgb)
        if self.config.upscale != 1.0:
            img = img.resize((int(img.width * self.config.upscale), int(img.height * self.config.upscale)),
                             Image.Resampling.BICUBIC)
        data = self._tess.image_to_data(img, lang=self.config.lang, config=f"--psm {self.config.psm}",
                                        output_type=self._tess.Output.DICT)
        out = []
        for text, conf in zip(data["text"], data["conf"], strict=True):
            text = text.strip()
            c = float(conf) / 100.0
            if c >= self.config.min_confidence and looks_like_a_word(text):
                out.append(Word(text, int(at_ms), int(at_ms), c, "on_screen"))
        return out


def looks_like_a_word(text: str) -> bool:
    """Tesseract reads textures (foliage, façades, fur) as short junk ("SS", "ay", "ye"), sometimes
    with high confidence: keep tokens of >= 3 letters or digits (or a number of >= 2 digits) that
    are mostly letters and digits. Two-letter words ("TV", "UK") are lost; junk costs more."""
    alnum = sum(ch.isalnum() for ch in text)
    if alnum < 3 and not (alnum >= 2 and text.strip(".,:;%").isdigit()):
        return False
    return alnum >= 0.6 * len(text)


def merged_readings(readings: list[list[Word]]) -> list[Word]:
    """One shot's on-screen words from its keyframes' readings: the same title is usually on several
    keyframes, read better on some. The surest reading (highest summed confidence) gives the words
    and their order ("HARBOUR CITY NEWS", so quoted titles match); words only other keyframes show
    follow, each once."""
    out: list[Word] = []
    seen: set[str] = set()
    for words in sorted(readings, key=lambda ws: -sum(w.confidence for w in ws)):
        for w in words:
            if w.word.casefold() not in seen:
                seen.add(w.word.casefold())
                out.append(w)
    return out
