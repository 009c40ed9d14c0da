"""Category labels from people, trainer side: store them, retrain the category model, release it.

- categories.labels → a video's labels stored in the read model (latest event wins per video ×
  category, CLEARED removes; the topic is the recoverable log) and the category model marked dirty.
- tick (debounced, like classifier retrains) → ``retrain``: every labelled video plus a sample of
  unlabelled ones (for the text model's confident pseudo-labels) → ``categories.human.retrain``
  on top of the running base model → the artefact in the blob store → a new release in the read
  model (number from Redis INCR) → re-classification requests on ``categories.backfill``: the
  labelled videos first, then (``category_backfill``: ``catalog``) every other indexed video.
  The scorers load the new release on their next video and classify with it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import Counter, Gauge, Histogram

from shotline import logs, topics
from shotline.blobstore import BlobStore
from shotline.categories import human
from shotline.categories.inputs import VideoText
from shotline.categories.service import CategoryService, Request, artefact_bytes
from shotline.errors import BadInput
from shotline.events import new_meta, parse
from shotline.index import SearchFilter, ShotIndex
from shotline.registry import Registry
from shotline.settings import Settings
from shotline.v1 import events_pb2
from shotline.worker import Output

SERVICE = "trainer"
log = logs.get("trainer.categories")

LABEL_EVENTS = Counter("shotline_trainer_category_label_events_total", "Category label events by outcome", ["outcome"])
LABEL_ISSUES = Counter("shotline_trainer_category_label_issues_total",
                       "Individual category labels rejected, stale or overridden", ["reason"])
RETRAINS = Counter("shotline_trainer_category_retrains_total", "Category model retrains from human labels",
                   ["outcome"])
RETRAIN_SECONDS = Histogram("shotline_trainer_category_retrain_duration_seconds",
                            "Category retrain: read videos, fit, thresholds, store the artefact",
                            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
HUMAN_LABELS = Gauge("shotline_trainer_category_human_labels", "Human category labels in the last retrain", ["value"])
RELEASE = Gauge("shotline_trainer_category_model_release", "Release number of the deployed category model")

_VALUE = {events_pb2.LABEL_VALUE_POSITIVE: human.POSITIVE, events_pb2.LABEL_VALUE_NEGATIVE: human.NEGATIVE,
          events_pb2.LABEL_VALUE_CLEARED: "cleared"}
MAX_PSEUDO_VIDEOS = 5000  # unlabelled videos sampled for pseudo-labels per retrain (bounds the retrain time)
FILTER_CHUNK = 1000       # video ids per index read


def artefact_key(release: int) -> str:
    return f"categories/models/{release:06d}.tar"


@dataclass
class Released:
    release: int
    version: str
    labelled_videos: list[str]
    seconds: float
    info: dict


class CategoryLabels:
    """The trainer's category-label work: the event handler and the debounced retrain."""

    def __init__(self, settings: Settings, registry: Registry, index: ShotIndex, blobs: BlobStore,
                 base: CategoryService, *, debounce_seconds: float = 2.0, backfill: str = "catalog",
                 max_pseudo_videos: int = MAX_PSEUDO_VIDEOS):
        self.settings, self.registry, self.index, self.blobs, self.base = settings, registry, index, blobs, base
        self.tax = base.tax
        self.debounce = debounce_seconds
        self.backfill = backfill
        self.max_pseudo_videos = max_pseudo_videos
        self.topic = settings.topic(topics.CATEGORY_LABELS)

    # -- events ---------------------------------------------------------------------------
    def handle(self, record: ConsumerRecord) -> list[Output]:
        ev = parse(events_pb2.CategoryLabelsSubmitted, record.value)
        vid = ev.meta.video_id
        ts_ms = ev.meta.occurred_at.ToMilliseconds() or int(time.time() * 1000)
        items = [(it.category_id, _VALUE.get(it.value, "unspecified")) for it in ev.labels]
        current = human.stored_labels(self.registry.video_category_labels(vid).items())
        merged = human.merge_event(current, items, ev.annotator, ts_ms, self.tax)
        for p in merged.problems:
            LABEL_ISSUES.labels(p.split(" ")[0]).inc()
        if merged.stale:
            LABEL_ISSUES.labels("stale").inc(merged.stale)
        if not merged.upserts and not merged.clears:
            if merged.problems:
                LABEL_EVENTS.labels("rejected").inc()
                raise BadInput("no_valid_labels", "; ".join(merged.problems))
            LABEL_EVENTS.labels("unchanged").inc()  # a redelivery, or older than what is stored
            return []
        self.registry.set_video_category_labels(vid, {c: lab.to_json() for c, lab in merged.upserts.items()},
                                                merged.clears)
        self.registry.mark_categories_dirty()
        LABEL_EVENTS.labels("accepted").inc()
        if not merged.problems:
            return []
        err = events_pb2.ProcessingError(
            meta=new_meta(vid, SERVICE, ev.meta.trace_id), service=SERVICE, reason="category_labels_partially_rejected",
            message=f"video {vid}: " + "; ".join(merged.problems)[:3900], source_topic=record.topic,
            source_partition=record.partition, source_offset=record.offset)
        return [Output.event(self.settings.topic(topics.ERRORS), vid, err)]

    # -- retrain --------------------------------------------------------------------------
    def due(self) -> float | None:
        return self.registry.categories_due(self.debounce)

    def undirty(self, seen_at: float) -> None:
        self.registry.categories_undirty(seen_at)

    def _sample(self, labelled: set[str]) -> list[str]:
        """Unlabelled videos for pseudo-labels: a stable hash sample, so retrains see the same ones."""
        others = [v for v in self.index.list_videos() if v not in labelled]
        others.sort(key=lambda v: hashlib.blake2b(v.encode(), digest_size=8).digest())
        return others[: self.max_pseudo_videos]

    def _requests(self, video_ids: list[str]) -> list[Request]:
        heads = sorted({"joint", self.base.m.head} & set(self.index.dims))
        shots: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
        for start in range(0, len(video_ids), FILTER_CHUNK):
            chunk = video_ids[start:start + FILTER_CHUNK]
            for head in heads:
                for _, vids, vecs in self.index.iterate_vectors(head, filter=SearchFilter(video_ids=chunk)):
                    for v, x in zip(vids, vecs, strict=True):
                        shots[v][head].append(x)
        texts = self.registry.videos_text(video_ids)
        out = []
        for vid in video_ids:
            vec = {h: np.stack(shots[vid][h]).astype(np.float32) if shots[vid][h]
                   else np.zeros((0, self.index.dims[h]), np.float32) for h in heads}
            d = texts.get(vid) or {}
            text = VideoText(title=d.get("title", ""), description=d.get("description", ""),
                             language=d.get("language", ""), metadata=d.get("metadata") or {})
            out.append(Request(vid, vec, text))
        return out

    def retrain(self) -> Released:
        started = time.perf_counter()
        try:
            labelled = self.registry.category_labelled_videos()
            raw = self.registry.videos_category_labels(labelled)
            labels = {v: human.labels_of(r) for v, r in raw.items()}
            videos = sorted(labels) + self._sample(set(labels))
            requests = self._requests(videos)
            release = self.registry.next_category_release()
            models, info = human.retrain(self.base, requests, labels, release)
            data = artefact_bytes(models)
            svc = CategoryService(models, self.base.encode_text, self.base.model_versions.get("text_encoder", "minilm"))
            key = artefact_key(release)
            self.blobs.put(key, data)  # durable first: a deployed release always has its artefact
            seconds = time.perf_counter() - started
            doc = {"version": svc.version, "blob_key": key, "trained_at": time.time(), "train_seconds": seconds,
                   "base_version": self.base.version, "labelled_videos": len(labels), "videos": len(videos),
                   "info": json.loads(json.dumps({k: v for k, v in info.items() if k != "base_thresholds"},
                                                 default=float))}
            self.registry.deploy_category_model(release, doc)
        except Exception:
            RETRAINS.labels("failed").inc()
            raise
        RETRAINS.labels("deployed").inc()
        RETRAIN_SECONDS.observe(seconds)
        RELEASE.set(release)
        HUMAN_LABELS.labels("positive").set(sum(v for lab in labels.values() for v in lab.values()))
        HUMAN_LABELS.labels("negative").set(sum(not v for lab in labels.values() for v in lab.values()))
        log.info("category_model_released", release=release, version=svc.version, labelled_videos=len(labels),
                 videos=len(videos), seconds=round(seconds, 3), recomputed_thresholds=info.get("recomputed_thresholds"))
        return Released(release, svc.version, sorted(labels), seconds, info)

    def backfill_outputs(self, rel: Released) -> list[Output]:
        """Re-classification requests for the new release: labelled videos first (the person who
        labelled sees the effect at once), then the rest of the catalog when configured."""
        order = list(rel.labelled_videos)
        if self.backfill == "catalog":
            seen = set(order)
            order += [v for v in self.index.list_videos() if v not in seen]
        self.registry.backfill_plan(self.settings.topic_prefix, rel.version, len(order))
        topic = self.settings.topic(topics.CATEGORIES_BACKFILL)
        return [Output(topic, vid, json.dumps({"video_id": vid, "model_version": rel.version}).encode())
                for vid in order]
