"""Plain inputs of the category models: a video's text and metadata features."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

# Languages with their own metadata slot; everything else shares "other", missing is "none".
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "ja", "zh", "ru", "ar", "hi", "other", "none")
CATALOG_BUCKETS = 8
META_DIM = len(LANGUAGES) + 1 + CATALOG_BUCKETS


# The text sources of a video the text model reads, each scored on its own and blended
# (``text_model.TextBlend``): what the uploader wrote, what is said, what is shown on screen.
SOURCES = ("metadata", "speech", "on_screen")


@dataclass(frozen=True)
class VideoText:
    title: str = ""
    description: str = ""
    language: str = ""  # BCP-47-ish ("en", "pt-BR"); empty = unknown
    metadata: Mapping[str, str] = field(default_factory=dict)
    transcript: str = ""  # what is said (the transcriber's speech recognition)
    on_screen: str = ""   # what is written on screen (the transcriber's OCR)

    @classmethod
    def from_proto(cls, msg: object) -> VideoText:
        """From a ``shotline.v1.VideoText`` (or anything with the same attributes)."""
        return cls(title=getattr(msg, "title", "") or "", description=getattr(msg, "description", "") or "",
                   language=getattr(msg, "language", "") or "", metadata=dict(getattr(msg, "metadata", {}) or {}),
                   transcript=getattr(msg, "transcript", "") or "", on_screen=getattr(msg, "on_screen_text", "") or "")

    def joined(self) -> str:
        """The uploader's text in one string (metadata values only: keys are schema, not content)."""
        parts = [self.title, self.description, *(str(v) for v in self.metadata.values())]
        return " . ".join(p.strip() for p in parts if p and p.strip())

    def sources(self) -> dict[str, str]:
        """The non-empty text sources, by name (``SOURCES``)."""
        texts = {"metadata": self.joined(), "speech": self.transcript.strip(), "on_screen": self.on_screen.strip()}
        return {k: v for k, v in texts.items() if v}

    @property
    def has_text(self) -> bool:
        """Any text at all: the uploader's, spoken or on screen."""
        return bool(self.sources())


def language_slot(language: str) -> str:
    base = (language or "").strip().lower().replace("_", "-").split("-")[0]
    if not base:
        return "none"
    return base if base in LANGUAGES else "other"


def meta_features(language: str, duration_ms: int | None, catalog_id: str = "") -> np.ndarray:
    """[META_DIM] float32: language one-hot, log-duration (minutes scale), hashed catalog."""
    out = np.zeros(META_DIM, np.float32)
    out[LANGUAGES.index(language_slot(language))] = 1.0
    minutes = max(0.0, float(duration_ms or 0)) / 60_000.0
    out[len(LANGUAGES)] = math.log1p(minutes)
    if catalog_id:
        bucket = int.from_bytes(hashlib.blake2b(catalog_id.encode(), digest_size=4).digest(), "big")
        out[len(LANGUAGES) + 1 + bucket % CATALOG_BUCKETS] = 1.0
    return out
