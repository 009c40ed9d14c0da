"""The scorer's event handling — the real-time path, split out of the trainer so that ad-serving
freshness never waits behind a retrain.

- shots.indexed → every deployed classifier scores the video (per-video score in the read model,
  the new shots' scores kept for the drift monitor); a complete video is classified into taxonomy
  categories and `videos.classified` is published.
- categories.backfill → a batch of catalog videos re-classified with the running category model.
- videos.transcribed → what is said and shown in an upload kept as the video's spoken text, and
  the video re-classified with it if its categories were stored before the transcript arrived.

Stateless apart from caches (models by version): scale it out on consumer lag.
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka.consumer.fetcher import ConsumerRecord

from services.scorer.backfill import BackfillHandler
from services.scorer.categories import RealtimeCategories
from services.scorer.classifiers import ClassifierScorer
from shotline import topics
from shotline.errors import BadInput
from shotline.events import parse, validate_video_id
from shotline.settings import Settings
from shotline.v1 import events_pb2
from shotline.worker import Output


class ScorerHandler:
    def __init__(self, settings: Settings, classifiers: ClassifierScorer, categories: RealtimeCategories,
                 backfill: BackfillHandler):
        self.classifiers = classifiers
        self.categories = categories
        self.backfill = backfill
        self.t_indexed = settings.topic(topics.SHOTS_INDEXED)
        self.t_backfill = settings.topic(topics.CATEGORIES_BACKFILL)
        self.t_transcribed = settings.topic(topics.VIDEOS_TRANSCRIBED)

    def handle(self, record: ConsumerRecord) -> list[Output]:
        return self.handle_batch([record])

    def handle_batch(self, records: Sequence[ConsumerRecord]) -> list[Output]:
        out: list[Output] = []
        backfill = [r for r in records if r.topic == self.t_backfill]
        for record in records:
            if record.topic == self.t_indexed:
                out.extend(self._indexed(record))
            elif record.topic == self.t_transcribed:
                out.extend(self._transcribed(record))
            elif record.topic != self.t_backfill:
                raise BadInput("unexpected_topic", record.topic)
        if backfill:  # one model call for the whole poll's videos
            out.extend(self.backfill.handle_batch(backfill))
        return out

    def _indexed(self, record: ConsumerRecord) -> list[Output]:
        ev = parse(events_pb2.ShotsIndexed, record.value)
        video_id = ev.meta.video_id
        if ev.total_shots and ev.shot_ids:
            scores = self.classifiers.score(video_id, int(ev.total_shots), set(ev.shot_ids))
            self.classifiers.store(video_id, scores)
        if ev.video_complete:
            return self.categories(ev)
        return []

    def _transcribed(self, record: ConsumerRecord) -> list[Output]:
        ev = parse(events_pb2.VideoTranscribed, record.value)
        validate_video_id(ev.meta.video_id)
        if not ev.upload_id:
            raise BadInput("malformed_event", "videos-transcribed event has no upload id")
        return self.categories.transcribed(ev, self.backfill.classify)
