"""shots-segmented → shots-embedded, batching keyframes across every event of a poll.

The output carries the model id/version and only data derived from the input, so encoding
the same shots twice yields the same content: the indexer's upsert makes it harmless.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from kafka.consumer.fetcher import ConsumerRecord

from services.encoder.embedding import QUEUE_WAIT, EmbeddedShot, ShotEncoder, to_proto
from shotline import topics
from shotline.events import child_meta, parse
from shotline.settings import Settings
from shotline.v1 import common_pb2, events_pb2
from shotline.worker import Output

SERVICE = "encoder"


class EmbedHandler:
    def __init__(self, settings: Settings, encoder: ShotEncoder):
        self.encoder = encoder
        self.out_topic = settings.topic(topics.SHOTS_EMBEDDED)
        self.model = common_pb2.ModelRef(model_id=encoder.model.model_id, version=encoder.model.version)

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
        for ev in events:
            mine: list[EmbeddedShot] = embedded[cursor:cursor + len(ev.shots)]
            cursor += len(ev.shots)
            out = events_pb2.ShotsEmbedded(
                meta=child_meta(ev.meta, SERVICE), upload_id=ev.upload_id, catalog_id=ev.catalog_id,
                model=self.model, shots=[to_proto(e) for e in mine], chunk_index=ev.chunk_index,
                chunk_count=ev.chunk_count, total_shots=ev.total_shots, text=ev.text, video=ev.video,
            )
            outputs.append(Output.event(self.out_topic, ev.meta.video_id, out))
        return outputs
