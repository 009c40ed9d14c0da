"""shots-segmented → shots-embedded, batching keyframes across every event of a poll.

The output carries the model id/version and only data derived from the input, so encoding
the same shots twice yields the same content: the indexer's upsert makes it harmless.

A shot that cannot be embedded (no keyframes, a missing blob, an unreadable JPEG) is left out
of its chunk, listed in the chunk's ``skipped`` (so the indexer still completes the video) and
reported as a ``ProcessingError`` on the errors topic; the rest of the chunk goes on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from kafka.consumer.fetcher import ConsumerRecord

from services.encoder.embedding import QUEUE_WAIT, EmbeddedShot, ShotEncoder, to_proto
from shotline import topics
from shotline.events import child_meta, new_meta, parse
from shotline.settings import Settings
from shotline.v1 import common_pb2, events_pb2
from shotline.worker import Output

SERVICE = "encoder"


class EmbedHandler:
    def __init__(self, settings: Settings, encoder: ShotEncoder):
        self.encoder = encoder
        self.out_topic = settings.topic(topics.SHOTS_EMBEDDED)
        self.model = common_pb2.ModelRef(model_id=encoder.model.model_id, version=encoder.model.version)
        self.dims = dict(encoder.model.dims)
        self.errors_topic = settings.topic(topics.ERRORS)

    def handle(self, record: ConsumerRecord) -> list[Output]:
        return self.handle_batch([record])

    def handle_batch(self, records: Sequence[ConsumerRecord]) -> list[Output]:
        events = [parse(events_pb2.ShotsSegmented, r.value) for r in records]
        now = time.time()
        for ev in events:
            QUEUE_WAIT.observe(max(0.0, now - ev.meta.occurred_at.ToNanoseconds() / 1e9))
        flat = [shot for ev in events for shot in ev.shots]
        embedded = self.encoder.embed(flat)
        outputs, cursor = [], 0
        for record, ev in zip(records, events, strict=True):
            mine = embedded[cursor:cursor + len(ev.shots)]
            cursor += len(ev.shots)
            skipped = [e for e in mine if isinstance(e, events_pb2.SkippedShot)]
            out = events_pb2.ShotsEmbedded(
                meta=child_meta(ev.meta, SERVICE), upload_id=ev.upload_id, catalog_id=ev.catalog_id,
                model=self.model, shots=[to_proto(e) for e in mine if isinstance(e, EmbeddedShot)],
                chunk_index=ev.chunk_index, chunk_count=ev.chunk_count, total_shots=ev.total_shots,
                text=ev.text, video=ev.video, skipped=skipped, dims=self.dims,
            )
            outputs.append(Output.event(self.out_topic, ev.meta.video_id, out))
            outputs.extend(self._reported(record, ev, s) for s in skipped)
        return outputs

    def _reported(self, record: ConsumerRecord, ev: events_pb2.ShotsSegmented,
                  skipped: events_pb2.SkippedShot) -> Output:
        err = events_pb2.ProcessingError(
            meta=new_meta(ev.meta.video_id, SERVICE, ev.meta.trace_id), service=SERVICE,
            reason=skipped.reason, message=f"shot {skipped.shot.shot_id} skipped: {skipped.message}",
            source_topic=record.topic, source_partition=record.partition, source_offset=record.offset,
        )
        return Output.event(self.errors_topic, ev.meta.video_id, err)
