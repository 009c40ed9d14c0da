"""Real-time taxonomy categories: when a video's last shot is indexed, classify it.

Reads the video's shot vectors back from the index, classifies with the current category
model, stores the result in the Redis read model (the ad-serving hot path reads it with one
round trip; the backfill writes the same document through the same call) and publishes
`videos.classified`. The video's text is kept too, so a backfill with a newer model can use it. Idempotent: a redelivery rewrites the same doc.

The category model is the deployed release (``CategoryModelSource``): the trainer retrains it from
people's category labels and records each release in the read model; every classification first
checks the deployed release (one Redis GET) and loads a new one from the blob store, so the next
video after a release is classified with it. A video's own human labels are applied on top
(``categories.human.apply_labels``): what a person said about this video is what is served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace

import numpy as np
from prometheus_client import Counter, Histogram

from shotline import logs
from shotline.blobstore import BlobStore
from shotline.categories import human
from shotline.categories.inputs import VideoText
from shotline.categories.messages import read_model_doc, video_classified
from shotline.categories.service import CategoryResult, CategoryService, models_from_bytes
from shotline import topics
from shotline.index import ShotIndex
from shotline.registry import Registry
from shotline.settings import Settings
from shotline.v1 import events_pb2
from shotline.worker import Output

SERVICE = "scorer"
SPOKEN = ("transcript", "on_screen")  # VideoText fields the transcriber fills (``video_spoken``), not the upload
MAX_SPOKEN = 32_000  # characters of each kept (the text model reads at most ~2,000 words)
log = logs.get("scorer.categories")

VIDEOS = Counter("shotline_categories_videos_classified_total", "Videos classified into taxonomy categories",
                 ["outcome"])
LATENCY = Histogram("shotline_categories_latency_seconds",
                    "Last shot indexed → categories stored (target ≤ 5 s)",
                    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
TRANSCRIPTS = Counter("shotline_scorer_transcripts_total",
                      "Transcribed uploads received: kept for the video's classification, or it re-classified",
                      ["outcome"])
MODEL_LOADS = Counter("shotline_scorer_category_model_loads_total", "Category model releases loaded", ["outcome"])


class CategoryModelSource:
    """The category model to classify with: the deployed release from the read model (its artefact
    from the blob store), else the base model the scorer started with. ``current()`` costs one
    Redis GET; a release is loaded once."""

    def __init__(self, base: CategoryService, registry: Registry, blobs: BlobStore | None):
        self.base, self.registry, self.blobs = base, registry, blobs
        self._svc, self._release = base, 0
        self._lock = threading.Lock()

    @property
    def release(self) -> int:
        return self._release

    def current(self) -> CategoryService:
        if self.blobs is None:
            return self._svc
        doc = self.registry.category_model()
        release = int(doc["release"]) if doc else 0
        if release == self._release:
            return self._svc
        with self._lock:
            if release != self._release:
                self._svc = self._load(doc) if doc else self.base
                self._release = release
        return self._svc

    def _load(self, doc: dict) -> CategoryService:
        try:
            models = models_from_bytes(self.blobs.get(doc["blob_key"]), self.base.tax)
            svc = CategoryService(models, self.base.encode_text, self.base.model_versions.get("text_encoder", "minilm"))
        except Exception:
            MODEL_LOADS.labels("failed").inc()
            raise
        MODEL_LOADS.labels("loaded").inc()
        log.info("category_model_loaded", release=doc["release"], version=svc.version)
        return svc


def with_spoken(text: VideoText, spoken: dict, upload_id: str) -> VideoText:
    """``text`` plus what the transcriber heard and read, when that was in this same upload."""
    if not spoken or spoken.get("upload_id") != upload_id:
        return text
    return replace(text, transcript=spoken.get("transcript", ""), on_screen=spoken.get("on_screen", ""))


def with_human_labels(registry: Registry, results: list[CategoryResult], docs: list[dict], taxonomy) -> list[dict]:  # type: ignore[no-untyped-def]
    """The read-model documents with each video's human labels applied (one round trip)."""
    labels = registry.videos_category_labels([r.video_id for r in results])
    return [human.apply_labels(d, human.labels_of(labels.get(r.video_id, {})), taxonomy)
            for r, d in zip(results, docs, strict=True)]


class RealtimeCategories:
    def __init__(self, settings: Settings, service: CategoryService | CategoryModelSource, index: ShotIndex,
                 registry: Registry):
        self.settings = settings
        self.models = service if isinstance(service, CategoryModelSource) else CategoryModelSource(service, registry, None)
        self.index = index
        self.registry = registry

    @property
    def service(self) -> CategoryService:
        return self.models.current()

    def __call__(self, ev: events_pb2.ShotsIndexed) -> list[Output]:
        video_id = ev.meta.video_id
        pks = [self.index.pk_of(video_id, i) for i in range(ev.total_shots)]
        heads = list(self.index.dims)
        rows = sorted(self.index.get(pks, heads=heads), key=lambda r: r.shot_index) if pks else []
        vectors = {h: np.stack([r.vectors[h] for r in rows]) if rows else np.zeros((0, d), np.float32)
                   for h, d in self.index.dims.items()}
        uploaded = VideoText.from_proto(ev.text)
        # for the backfill (the shot index holds no text); spoken text is kept apart by its own writer
        self.registry.set_video_text(video_id, {k: v for k, v in asdict(uploaded).items() if k not in SPOKEN})
        svc = self.service
        spoken = self.registry.video_spoken(video_id)
        for _ in range(2):  # the transcript may land while this runs: one more look after writing
            text = with_spoken(uploaded, spoken, ev.upload_id)
            result = svc.classify(video_id, vectors, text, duration_ms=ev.video.duration_ms, catalog_id=ev.catalog_id)
            doc = with_human_labels(self.registry, [result],
                                    [read_model_doc(result, ev.upload_id, list(text.sources()))], svc.tax)[0]
            self.registry.set_video_categories(video_id, doc)
            again = self.registry.video_spoken(video_id)
            if again == spoken:
                break
            spoken = again
        latency = max(0.0, time.time() - ev.meta.occurred_at.ToNanoseconds() / 1e9)
        LATENCY.observe(latency)
        VIDEOS.labels("categorised" if result.categories else "no_category").inc()
        msg = video_classified(result, SERVICE, latency, ev.meta.trace_id)
        return [Output.event(self.settings.topic(topics.VIDEOS_CLASSIFIED), video_id, msg)]

    def transcribed(self, ev: events_pb2.VideoTranscribed,
                    reclassify: Callable[[list[str]], list[Output]]) -> list[Output]:
        """What the transcriber heard and read in an upload: kept for the video's classification,
        and the video re-classified with it (``reclassify``: from the stored shots) when its
        categories were already stored without it. Written before the categories are read, as
        ``__call__`` writes the categories before it reads the transcript again: whichever runs
        second sees the other's write, so no interleaving loses the transcript."""
        video_id = ev.meta.video_id
        spoken = {"upload_id": ev.upload_id, "transcript": ev.transcript[:MAX_SPOKEN],
                  "on_screen": ev.on_screen_text[:MAX_SPOKEN], "model": ev.model}
        self.registry.set_video_spoken(video_id, spoken)
        doc = self.registry.video_categories(video_id)
        adds = {src for src, text in (("speech", spoken["transcript"]), ("on_screen", spoken["on_screen"])) if text.strip()}
        if doc is None or doc.get("upload_id") != ev.upload_id or adds <= set(doc.get("text_sources", [])):
            TRANSCRIPTS.labels("kept").inc()  # not classified yet (the video-complete path reads it) or nothing new
            return []
        TRANSCRIPTS.labels("reclassified").inc()
        return reclassify([video_id])
