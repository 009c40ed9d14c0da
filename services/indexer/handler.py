"""shots-embedded → Milvus upserts → shots-indexed (+ video complete).

Idempotent by construction: primary keys are hash(model, video, shot index), so redelivery
upserts onto the same rows. A re-upload (new upload id) first deletes the rows of every
other version of the video, on its first chunk, then upserts: a search sees the old video
or (a prefix of) the new one, never both. Completion is tracked in a Redis set of the
chunk indices seen per (video, upload), which is also redelivery-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import redis
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import Counter, Gauge, Histogram

from shotline import topics
from shotline.errors import BadInput, TransientError
from shotline.events import child_meta, parse, shot_id
from shotline.index import ShotIndex, ShotRow
from shotline.settings import Settings
from shotline.v1 import events_pb2
from shotline.worker import Output

SERVICE = "indexer"

ROWS = Counter("shotline_indexer_rows_upserted_total", "Shot rows upserted into Milvus")
BATCH_ROWS = Histogram("shotline_indexer_batch_rows", "Rows per upsert batch",
                       buckets=(1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096))
UPSERT_SECONDS = Histogram("shotline_indexer_upsert_duration_seconds", "Milvus upsert latency per batch",
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
COLLECTION_ROWS = Gauge("shotline_indexer_collection_rows", "Rows in a collection (sampled)", ["collection"])
VIDEOS_COMPLETE = Counter("shotline_indexer_videos_completed_total", "Uploads whose every shot is indexed")

COMPLETION_TTL = 7 * 24 * 3600


def rows_of(ev: events_pb2.ShotsEmbedded) -> list[ShotRow]:
    now = int(time.time() * 1000)
    rows = []
    for e in ev.shots:
        if not e.vectors:
            raise BadInput("no_vectors", f"shot {e.shot.shot_id} carries no vectors")
        rows.append(ShotRow(
            video_id=ev.meta.video_id, shot_index=e.shot.index, catalog_id=ev.catalog_id,
            start_ms=e.shot.start_ms, end_ms=e.shot.end_ms,
            keyframe_ref=e.shot.keyframe_refs[len(e.shot.keyframe_refs) // 2] if e.shot.keyframe_refs else "",
            ingest_ms=now, video_version=ev.upload_id,
            vectors={h: np.asarray(v.values, dtype=np.float32) for h, v in e.vectors.items()},
        ))
    return rows


class IndexHandler:
    def __init__(self, settings: Settings, index_for: Callable[[str, dict[str, int]], ShotIndex], r: redis.Redis):
        self.settings = settings
        self.index_for = index_for
        self.redis = r
        self.out_topic = settings.topic(topics.SHOTS_INDEXED)
        self._indexes: dict[str, ShotIndex] = {}
        self._last_count = 0.0

    def _index(self, ev: events_pb2.ShotsEmbedded) -> ShotIndex:
        model_id = ev.model.model_id
        if not model_id:
            raise BadInput("malformed_event", "shots-embedded event has no model id")
        if model_id not in self._indexes:
            if not ev.shots:
                raise BadInput("no_vectors", "first event of a model carries no shots")
            dims = {h: len(v.values) for h, v in ev.shots[0].vectors.items()}
            index = self.index_for(model_id, dims)
            index.ensure_collection()
            self._indexes[model_id] = index
        return self._indexes[model_id]

    def handle(self, record: ConsumerRecord) -> list[Output]:
        return self.handle_batch([record])

    def handle_batch(self, records: Sequence[ConsumerRecord]) -> list[Output]:
        events = [parse(events_pb2.ShotsEmbedded, r.value) for r in records]
        pending: dict[str, list[ShotRow]] = {}  # model id → rows
        for ev in events:
            if not ev.upload_id:
                raise BadInput("malformed_event", "shots-embedded event has no upload id")
            if not ev.shots and ev.total_shots:
                raise BadInput("malformed_event", "chunk without shots in a non-empty video")
            if ev.shots:
                index = self._index(ev)
                rows = rows_of(ev)
                for row in rows:
                    for head, vec in row.vectors.items():
                        if head not in index.dims or vec.shape != (index.dims[head],):
                            raise BadInput("bad_vector", f"{head} vector of shape {vec.shape} for {index.dims}")
                if ev.chunk_index == 0:  # a new version starts: flush what precedes, drop old versions
                    self._flush(pending)
                    index.replace_video(ev.meta.video_id, ev.upload_id)
                pending.setdefault(ev.model.model_id, []).extend(rows)
        self._flush(pending)
        return [self._indexed_event(ev) for ev in events]

    def _flush(self, pending: dict[str, list[ShotRow]]) -> None:
        for model_id, rows in pending.items():
            if not rows:
                continue
            t0 = time.perf_counter()
            self._indexes[model_id].upsert(rows)
            UPSERT_SECONDS.observe(time.perf_counter() - t0)
            BATCH_ROWS.observe(len(rows))
            ROWS.inc(len(rows))
        pending.clear()
        self._sample_counts()

    def _sample_counts(self) -> None:
        if time.monotonic() - self._last_count < 15:
            return
        self._last_count = time.monotonic()
        for index in self._indexes.values():
            try:
                COLLECTION_ROWS.labels(index.collection).set(index.count())
            except TransientError:
                pass  # observability only

    def _indexed_event(self, ev: events_pb2.ShotsEmbedded) -> Output:
        key = f"shotline:indexer:chunks:{ev.meta.video_id}:{ev.upload_id}"
        try:
            pipe = self.redis.pipeline()
            pipe.sadd(key, ev.chunk_index)
            pipe.expire(key, COMPLETION_TTL)
            pipe.scard(key)
            seen = int(pipe.execute()[-1])
        except redis.RedisError as e:
            raise TransientError(f"redis: {e}") from e
        complete = seen >= max(1, ev.chunk_count)
        if complete:
            VIDEOS_COMPLETE.inc()
        indexed = events_pb2.ShotsIndexed(
            meta=child_meta(ev.meta, SERVICE), upload_id=ev.upload_id, catalog_id=ev.catalog_id,
            model=ev.model, collection=self._indexes[ev.model.model_id].collection if ev.model.model_id in self._indexes else "",
            shot_ids=[shot_id(ev.meta.video_id, e.shot.index) for e in ev.shots],
            indexed_shots=len(ev.shots), total_shots=ev.total_shots, video_complete=complete,
            text=ev.text, video=ev.video,
        )
        return Output.event(self.out_topic, ev.meta.video_id, indexed)
