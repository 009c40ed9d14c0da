"""CategoryResult ↔ protobuf (``VideoClassified`` events, ``CategoryScore`` lists)."""

from __future__ import annotations

import time

from shotline.categories.service import CategoryResult
from shotline.events import new_meta
from shotline.v1 import common_pb2, events_pb2


def category_scores(result: CategoryResult) -> list[common_pb2.CategoryScore]:
    return [common_pb2.CategoryScore(category_id=h.id, name=h.name, score=h.score, threshold=h.threshold,
                                     source=h.source) for h in result.categories]


def video_classified(result: CategoryResult, producer: str, latency_seconds: float = 0.0,
                     trace_id: str = "") -> events_pb2.VideoClassified:
    return events_pb2.VideoClassified(
        meta=new_meta(result.video_id, producer, trace_id), categories=category_scores(result),
        taxonomy_version=result.taxonomy_version, model_versions=result.model_versions,
        latency_seconds=latency_seconds)


def read_model_doc(result: CategoryResult, upload_id: str = "", text_sources: list[str] | None = None) -> dict:
    """What ``GetVideoCategories`` serves (``Registry.set_video_categories``): the same document
    whether the real-time path or the backfill classified the video. ``text_sources``: which of
    the video's texts the categories read (``VideoText.sources``)."""
    return {
        "text_sources": sorted(text_sources or []),
        "categories": [{"category_id": h.id, "name": h.name, "score": h.score, "threshold": h.threshold,
                        "source": h.source} for h in result.categories],
        "taxonomy_version": result.taxonomy_version, "model_versions": dict(result.model_versions),
        "classified_at_ms": int(time.time() * 1000), "upload_id": upload_id,
    }
