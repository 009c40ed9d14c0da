"""Real-time taxonomy categories: when a video's last shot is indexed, classify it.

Reads the video's shot vectors back from the index, classifies with the current category
model, stores the result in the Redis read model (the ad-serving hot path reads it with one
round trip; the backfill writes the same document through the same call) and publishes
`videos.classified`. The video's text is kept too, so a backfill with a newer model can use it. Idempotent: a redelivery rewrites the same doc.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
from prometheus_client import Counter, Histogram

from shotline.categories.inputs import VideoText
from shotline.categories.messages import read_model_doc, video_classified
from shotline.categories.service import CategoryService
from shotline import topics
from shotline.index import ShotIndex
from shotline.registry import Registry
from shotline.settings import Settings
from shotline.v1 import events_pb2
from shotline.worker import Output

SERVICE = "scorer"

VIDEOS = Counter("shotline_categories_videos_classified_total", "Videos classified into taxonomy categories",
                 ["outcome"])
LATENCY = Histogram("shotline_categories_latency_seconds",
                    "Last shot indexed → categories stored (target ≤ 5 s)",
                    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))


class RealtimeCategories:
    def __init__(self, settings: Settings, service: CategoryService, index: ShotIndex, registry: Registry):
        self.settings = settings
        self.service = service
        self.index = index
        self.registry = registry

    def __call__(self, ev: events_pb2.ShotsIndexed) -> list[Output]:
        video_id = ev.meta.video_id
        pks = [self.index.pk_of(video_id, i) for i in range(ev.total_shots)]
        heads = list(self.index.dims)
        rows = sorted(self.index.get(pks, heads=heads), key=lambda r: r.shot_index) if pks else []
        vectors = {h: np.stack([r.vectors[h] for r in rows]) if rows else np.zeros((0, d), np.float32)
                   for h, d in self.index.dims.items()}
        text = VideoText.from_proto(ev.text)
        result = self.service.classify(video_id, vectors, text, duration_ms=ev.video.duration_ms,
                                       catalog_id=ev.catalog_id)
        latency = max(0.0, time.time() - ev.meta.occurred_at.ToNanoseconds() / 1e9)
        self.registry.set_video_text(video_id, asdict(text))  # for the backfill: the shot index holds no text
        self.registry.set_video_categories(video_id, read_model_doc(result, ev.upload_id))
        LATENCY.observe(latency)
        VIDEOS.labels("categorised" if result.categories else "no_category").inc()
        msg = video_classified(result, SERVICE, latency, ev.meta.trace_id)
        return [Output.event(self.settings.topic(topics.VIDEOS_CLASSIFIED), video_id, msg)]
