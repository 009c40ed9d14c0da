"""shots-embedded → Milvus upserts → shots-indexed (+ video complete).

Idempotent by construction: primary keys are hash(model, video, shot index), so redelivery
upserts onto the same rows. Completion is tracked in a Redis set of the chunk indices seen
per (video, upload), which is also redelivery-safe; a chunk counts once it is in, including
shots the encoder had to skip (listed in the chunk, absent from the index).

Re-uploads (same video, new upload id) are atomic per shot from a reader's point of view:
1. every row of every event of the batch is validated before anything is written, so a bad
   chunk (NaN vector, over-long id, wrong dims) is dead-lettered and the old version's rows
   are untouched;
2. a chunk's rows are upserted in place (new shot N overwrites old shot N in one write);
   before that, the old rows they overwrite are read back, and annotations of shots whose
   content changed (other times or a different embedding) are detached in the registry
   (kept with the old upload id, shown as "shot replaced", never trained on);
3. once the new version is complete, the rows left from other versions (old shots beyond
   the new count, shots the new version skipped) are deleted and their annotations detached.
A concurrent search sees each shot's old or new row, never an empty video (a mix of old and
new shots while a multi-chunk re-upload is in flight). An empty re-upload removes the video.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import Counter, Gauge, Histogram

from shotline import logs, topics
from shotline.errors import BadInput, TransientError
from shotline.events import child_meta, parse, shot_id
from shotline.index import ShotIndex, ShotRow, StoredShot
from shotline.registry import Registry
from shotline.settings import Settings
from shotline.v1 import events_pb2
from shotline.worker import Output

SERVICE = "indexer"
log = logs.get("indexer")

ROWS = Counter("shotline_indexer_rows_upserted_total", "Shot rows upserted into Milvus")
BATCH_ROWS = Histogram("shotline_indexer_batch_rows", "Rows per upsert batch",
                       buckets=(1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096))
UPSERT_SECONDS = Histogram("shotline_indexer_upsert_duration_seconds", "Milvus upsert latency per batch",
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
COLLECTION_ROWS = Gauge("shotline_indexer_collection_rows", "Rows in a collection (sampled)", ["collection"])
VIDEOS_COMPLETE = Counter("shotline_indexer_videos_completed_total", "Uploads whose every shot is indexed")

COMPLETION_TTL = 7 * 24 * 3600
SAME_CONTENT_COSINE = 0.995  # a re-uploaded shot this close to the old one (same times) keeps its labels


def rows_of(ev: events_pb2.ShotsEmbedded) -> list[ShotRow]:
    now = int(time.time() * 1000)
    rows = []
    for e in ev.shots:
        if not e.vectors:
            raise BadInput("no_vectors", f"shot {e.shot.shot_id} carries no vectors")
        if e.shot.index >= ev.total_shots:
            raise BadInput("bad_shot_index", f"shot index {e.shot.index} >= total_shots {ev.total_shots}")
        rows.append(ShotRow(
            video_id=ev.meta.video_id, shot_index=e.shot.index, catalog_id=ev.catalog_id,
            start_ms=e.shot.start_ms, end_ms=e.shot.end_ms,
            keyframe_ref=e.shot.keyframe_refs[len(e.shot.keyframe_refs) // 2] if e.shot.keyframe_refs else "",
            ingest_ms=now, video_version=ev.upload_id,
            vectors={h: np.asarray(v.values, dtype=np.float32) for h, v in e.vectors.items()},
        ))
    return rows


@dataclass
class _Chunk:
    """One validated event: its rows, ready to write, and what writing it replaced."""

    ev: events_pb2.ShotsEmbedded
    index: ShotIndex | None
    rows: list[ShotRow]
    entities: list[dict[str, Any]]
    replaced: list[str] = field(default_factory=list)


def _same_content(old: StoredShot, new: ShotRow, head: str) -> bool:
    if (old.start_ms, old.end_ms) != (new.start_ms, new.end_ms) or head not in old.vectors:
        return False
    a, b = np.asarray(old.vectors[head], np.float64), np.asarray(new.vectors[head], np.float64)
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return denom > 0 and float(a @ b) / denom >= SAME_CONTENT_COSINE


class IndexHandler:
    def __init__(self, settings: Settings, index_for: Callable[[str, dict[str, int]], ShotIndex], r: redis.Redis):
        self.settings = settings
        self.index_for = index_for
        self.registry = Registry(r, settings.redis_key_prefix)
        self.out_topic = settings.topic(topics.SHOTS_INDEXED)
        self._indexes: dict[str, ShotIndex] = {}
        self._last_count = 0.0

    def _index(self, ev: events_pb2.ShotsEmbedded) -> ShotIndex | None:
        """The model's index; None only for a shot-less event of an unseen model without dims."""
        model_id = ev.model.model_id
        if not model_id:
            raise BadInput("malformed_event", "shots-embedded event has no model id")
        if model_id not in self._indexes:
            if ev.shots:
                dims = {h: len(v.values) for h, v in ev.shots[0].vectors.items()}
            elif ev.dims:
                dims = {h: int(d) for h, d in ev.dims.items()}
            else:
                return None
            index = self.index_for(model_id, dims)
            index.ensure_collection()
            self._indexes[model_id] = index
        return self._indexes[model_id]

    def handle(self, record: ConsumerRecord) -> list[Output]:
        return self.handle_batch([record])

    def handle_batch(self, records: Sequence[ConsumerRecord]) -> list[Output]:
        chunks = [self._prepare(parse(events_pb2.ShotsEmbedded, r.value)) for r in records]  # validate all first
        outputs: list[Output] = []
        group: list[_Chunk] = []
        for c in chunks:
            # Two versions of one video in a batch: finish the earlier one before the next starts.
            if any(g.ev.meta.video_id == c.ev.meta.video_id and g.ev.upload_id != c.ev.upload_id for g in group):
                outputs += self._commit(group)
                group = []
            group.append(c)
        outputs += self._commit(group)
        return outputs

    def _prepare(self, ev: events_pb2.ShotsEmbedded) -> _Chunk:
        if not ev.upload_id:
            raise BadInput("malformed_event", "shots-embedded event has no upload id")
        if not ev.shots and not ev.skipped and ev.total_shots:
            raise BadInput("malformed_event", "chunk without shots in a non-empty video")
        index = self._index(ev)
        rows = rows_of(ev)
        entities: list[dict[str, Any]] = []
        if rows:
            assert index is not None  # an event with shots always yields an index
            for row in rows:
                for head, vec in row.vectors.items():
                    if head not in index.dims or vec.shape != (index.dims[head],):
                        raise BadInput("bad_vector", f"{head} vector of shape {vec.shape} for {index.dims}")
            entities = index.prepare(rows)  # NaN, over-long ids, missing heads: nothing written yet
        return _Chunk(ev, index, rows, entities)

    def _commit(self, group: list[_Chunk]) -> list[Output]:
        if not group:
            return []
        by_index: dict[int, tuple[ShotIndex, list[_Chunk]]] = {}
        for c in group:
            if c.entities and c.index is not None:
                by_index.setdefault(id(c.index), (c.index, []))[1].append(c)
        for index, chunks in by_index.values():
            self._detach_overwritten(index, chunks)
            entities = [e for c in chunks for e in c.entities]
            t0 = time.perf_counter()
            index.write(entities)
            UPSERT_SECONDS.observe(time.perf_counter() - t0)
            BATCH_ROWS.observe(len(entities))
            ROWS.inc(len(entities))
        self._sample_counts()
        return [self._indexed_event(c) for c in group]

    def _detach_overwritten(self, index: ShotIndex, chunks: list[_Chunk]) -> None:
        """Before new shots overwrite old rows in place: detach labels of content that changed.
        One scalar read for the whole batch; vectors only for rows of another version."""
        rows = {r.pk: (c, r) for c in chunks for r in c.rows if r.pk is not None}
        other = [s.pk for s in index.get(list(rows)) if s.video_version != rows[s.pk][1].video_version]
        if not other:
            return
        head = sorted(index.dims)[0]
        changed: dict[tuple[int, str], list[str]] = {}
        for prev in index.get(other, heads=[head]):
            c, row = rows[prev.pk]
            if not _same_content(prev, row, head):
                changed.setdefault((id(c), prev.video_version), []).append(shot_id(row.video_id, row.shot_index))
        owner = {id(c): c for c in chunks}
        for (cid, old_version), ids in changed.items():
            c = owner[cid]
            self.registry.detach_annotations(ids, old_version, c.ev.upload_id)
            c.replaced.extend(ids)

    def _sample_counts(self) -> None:
        if time.monotonic() - self._last_count < 15:
            return
        self._last_count = time.monotonic()
        for index in self._indexes.values():
            try:
                COLLECTION_ROWS.labels(index.collection).set(index.count())
            except TransientError:
                pass  # observability only

    def _complete(self, c: _Chunk) -> None:
        """The new version is fully in: delete what is left of other versions."""
        ev = c.ev
        if c.index is None:
            log.warning("cannot clean up old versions: unknown model and no dims in the event",
                        video_id=ev.meta.video_id, model=ev.model.model_id)
            return
        stale = c.index.replace_video(ev.meta.video_id, ev.upload_id)
        by_version: dict[str, list[str]] = {}
        for s in stale:
            by_version.setdefault(s.video_version, []).append(shot_id(s.video_id, s.shot_index))
        for old_version, ids in by_version.items():
            self.registry.detach_annotations(ids, old_version, ev.upload_id)
            c.replaced.extend(ids)

    def _indexed_event(self, c: _Chunk) -> Output:
        ev = c.ev
        seen = self.registry.chunk_indexed(ev.meta.video_id, ev.upload_id, ev.chunk_index, COMPLETION_TTL)
        complete = seen >= max(1, ev.chunk_count)
        if complete:
            self._complete(c)
            VIDEOS_COMPLETE.inc()
        indexed = events_pb2.ShotsIndexed(
            meta=child_meta(ev.meta, SERVICE), upload_id=ev.upload_id, catalog_id=ev.catalog_id,
            model=ev.model, collection=c.index.collection if c.index is not None else "",
            shot_ids=[shot_id(ev.meta.video_id, e.shot.index) for e in ev.shots],
            indexed_shots=len(ev.shots), total_shots=ev.total_shots, video_complete=complete,
            text=ev.text, video=ev.video,
            skipped_shot_ids=[shot_id(ev.meta.video_id, s.shot.index) for s in ev.skipped],
            replaced_shot_ids=sorted(set(c.replaced)),
        )
        return Output.event(self.out_topic, ev.meta.video_id, indexed)
