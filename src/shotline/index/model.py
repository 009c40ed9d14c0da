"""Plain data types of the shot index and the deterministic names and ids it relies on."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from shotline.errors import BadInput

_COLLECTION_PREFIX = "shotline_"
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_MAX_COLLECTION_NAME = 255  # Milvus limit


def _digest64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def shot_pk(video_id: str, shot_index: int, model_id: str) -> int:
    """Primary key of one shot: the first 63 bits of blake2b, so it fits a signed INT64.

    The version is deliberately not part of the key: a re-upload's shot N overwrites the old
    shot N in place, and a redelivered message upserts onto its own rows (never duplicates).
    """
    if not video_id:
        raise BadInput("empty_video_id", "video_id must not be empty")
    if shot_index < 0:
        raise BadInput("bad_shot_index", f"shot_index must be >= 0, got {shot_index}")
    return _digest64(f"{model_id}\x1f{video_id}\x1f{int(shot_index)}") >> 1


def collection_name(model_id: str) -> str:
    """``shotline_<model id>`` with characters Milvus rejects replaced by ``_``.

    When replacing changed the id (``a/b`` and ``a_b`` would collide), a short hash of the
    original id is appended so distinct models never share a collection.
    """
    if not model_id:
        raise BadInput("empty_model_id", "model_id must not be empty")
    safe = _UNSAFE.sub("_", model_id)
    if safe != model_id:
        safe = f"{safe}_{_digest64(model_id) & 0xFFFFFFFF:08x}"
    name = _COLLECTION_PREFIX + safe
    if len(name) > _MAX_COLLECTION_NAME:
        name = f"{name[: _MAX_COLLECTION_NAME - 17]}_{_digest64(model_id):016x}"
    return name


@dataclass
class ShotRow:
    """One shot as stored: its scalar metadata and one L2-normalised vector per head."""

    video_id: str
    shot_index: int
    vectors: dict[str, np.ndarray]
    catalog_id: str = ""
    start_ms: int = 0
    end_ms: int = 0
    keyframe_ref: str = ""
    ingest_ms: int = 0
    video_version: str = ""
    pk: int | None = None  # filled in by ShotIndex.upsert from (video_id, shot_index, model_id)


@dataclass(frozen=True)
class Hit:
    pk: int
    video_id: str
    shot_index: int
    start_ms: int
    end_ms: int
    keyframe_ref: str
    score: float
    catalog_id: str = ""


@dataclass(frozen=True)
class SearchFilter:
    """Restricts a search or an iteration. Empty lists and ``None`` mean "no restriction"."""

    video_ids: list[str] | None = None
    catalog_ids: list[str] | None = None
    exclude_video_ids: list[str] | None = None
    min_start_ms: int | None = None  # shots starting at or after
    max_end_ms: int | None = None  # shots ending at or before
    min_ingest_ms: int | None = None  # rows written at or after (incremental reads)


@dataclass
class StoredShot:
    """A shot read back from the index (``get``/``video_shots``); ``vectors`` only when asked."""

    pk: int
    video_id: str
    shot_index: int
    catalog_id: str
    start_ms: int
    end_ms: int
    keyframe_ref: str
    ingest_ms: int
    video_version: str
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
