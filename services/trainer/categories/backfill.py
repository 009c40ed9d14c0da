"""Backfill: re-classify the whole catalog (or one catalog id) with the current category model.

    python -m services.trainer.categories.backfill plan [--catalog-id C]   # publish requests
    python -m services.trainer.categories.backfill work                    # a worker (run N)
    python -m services.trainer.categories.backfill progress                # tqdm until done

Partitioned and parallel through Kafka: the planner publishes one request per video to
``<prefix>.categories.backfill`` keyed by video id; workers in one consumer group split its
partitions (``shotline.worker``: at-least-once, offsets committed after results are stored).
Checkpoints: committed offsets (a restarted worker resumes where its group stopped) and Redis
(``categories:<video>`` holds the model version that produced it; ``backfill:<version>:done``
is the set of finished videos). A re-plan or a redelivery skips videos already classified by
the same model version, so stopping and restarting never duplicates work or results.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import redis
import typer
from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from tqdm import tqdm

from services.trainer.categories import store
from services.trainer.categories.messages import video_classified
from services.trainer.categories.inputs import VideoText
from services.trainer.categories.service import CategoryService, Request
from shotline import stores, topics
from shotline.errors import BadInput
from shotline.events import validate_video_id
from shotline.index import SearchFilter, ShotIndex
from shotline.models import load_bundle
from shotline.settings import Settings
from shotline.worker import Output, run_service

TOPIC = topics.CATEGORIES_BACKFILL
SERVICE = "categories-backfill"
ENV_MODEL_DIR = "SHOTLINE_CATEGORY_MODEL_DIR"
app = typer.Typer(add_completion=False)


def done_key(prefix: str, version: str) -> str:
    return f"{prefix}:backfill:{version}:done"


def total_key(prefix: str, version: str) -> str:
    return f"{prefix}:backfill:{version}:total"


def catalog_videos(index: ShotIndex, head: str, catalog_id: str | None) -> list[str]:
    if not catalog_id:
        return index.list_videos()
    seen: set[str] = set()
    for _, vids, _ in index.iterate_vectors(head, filter=SearchFilter(catalog_ids=[catalog_id])):
        seen.update(vids)
    return sorted(seen)


def plan(settings: Settings, index: ShotIndex, r: redis.Redis, version: str, head: str,
         catalog_id: str | None = None, producer: KafkaProducer | None = None) -> tuple[int, int]:
    """Publish one request per video not yet done with ``version``. Returns (published, skipped)."""
    videos = catalog_videos(index, head, catalog_id)
    prefix = settings.topic_prefix
    r.set(total_key(prefix, version), len(videos))
    own = producer is None
    producer = producer or KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=20)
    published = skipped = 0
    for vid in tqdm(videos, desc="planning", unit="video"):
        if store.stored_version(r, prefix, vid) == version:
            r.sadd(done_key(prefix, version), vid)
            skipped += 1
            continue
        body = json.dumps({"video_id": vid, "model_version": version}).encode()
        producer.send(settings.topic(TOPIC), key=vid.encode(), value=body)
        published += 1
    producer.flush()
    if own:
        producer.close()
    return published, skipped


class BackfillHandler:
    """Classifies a poll's worth of videos in one batch (one ORT call, one text-encoder call)."""

    def __init__(self, settings: Settings, service: CategoryService, index: ShotIndex, r: redis.Redis,
                 text_lookup: Callable[[str], VideoText] | None = None):
        """``text_lookup``: video id → its title/description/language (the shot index holds no
        text; plug in the metadata store). Without it the backfill classifies from pixels only."""
        self.settings, self.svc, self.index, self.r = settings, service, index, r
        self.text_lookup = text_lookup or (lambda _vid: VideoText())
        self.prefix = settings.topic_prefix

    def _parse(self, record: ConsumerRecord) -> str:
        try:
            body = json.loads(record.value)
            return validate_video_id(str(body["video_id"]))
        except (ValueError, KeyError, TypeError) as e:
            raise BadInput("malformed_event", f"not a backfill request: {e}") from e

    def _request(self, vid: str) -> Request:
        shots = self.index.video_shots(vid)
        heads = sorted({self.svc.m.head, "joint"} & set(self.index.dims))  # joint feeds the visual zero-shot
        full = self.index.get([s.pk for s in shots], heads=heads) if shots else []
        full.sort(key=lambda s: s.shot_index)
        vectors = {h: np.stack([s.vectors[h] for s in full]).astype(np.float32) if full
                   else np.zeros((0, self.index.dims[h]), np.float32) for h in heads}
        duration = max((s.end_ms for s in full), default=0)
        catalog = full[0].catalog_id if full else ""
        return Request(vid, vectors, self.text_lookup(vid), duration, catalog)

    def handle(self, record: ConsumerRecord) -> list[Output]:
        return self.handle_batch([record])

    def handle_batch(self, records: Sequence[ConsumerRecord]) -> list[Output]:
        version = self.svc.version
        todo = []
        for rec in records:
            vid = self._parse(rec)
            if store.stored_version(self.r, self.prefix, vid) == version:
                self.r.sadd(done_key(self.prefix, version), vid)  # redelivered / already done
            elif vid not in todo:
                todo.append(vid)
        if not todo:
            return []
        started = time.perf_counter()
        results = self.svc.classify_batch([self._request(v) for v in todo])
        outs = []
        for res in results:
            store.write(self.r, self.prefix, res, version)
            self.r.sadd(done_key(self.prefix, version), res.video_id)
            self.r.rpush(f"{self.prefix}:backfill:{version}:log", res.video_id)  # audit: one entry per classification
            msg = video_classified(res, SERVICE, time.perf_counter() - started)
            outs.append(Output.event(self.settings.topic(topics.VIDEOS_CLASSIFIED), res.video_id, msg))
        return outs


def _load(settings: Settings) -> tuple[CategoryService, ShotIndex, redis.Redis]:
    model_dir = os.environ.get(ENV_MODEL_DIR)
    if not model_dir:
        raise BadInput("no_category_model", f"set {ENV_MODEL_DIR} to a category artefact directory")
    bundle = load_bundle(settings.bundle_path, settings.ort_providers or None)
    svc = CategoryService.load(Path(model_dir), bundle.encode_text, text_model_id=f"{bundle.model_id}:{bundle.version}")
    index = stores.shot_index(settings, bundle.model_id, bundle.dims)
    return svc, index, stores.redis_client(settings)


@app.command("plan")
def plan_cmd(catalog_id: str = typer.Option("", help="only this catalog (default: all indexed videos)")) -> None:
    settings = Settings()
    svc, index, r = _load(settings)
    published, skipped = plan(settings, index, r, svc.version, svc.m.head, catalog_id or None)
    print(f"model {svc.version}: published {published}, skipped {skipped} already done")


@app.command("work")
def work_cmd() -> None:
    settings = Settings()
    svc, index, r = _load(settings)
    run_service(settings, SERVICE, topics.SUBSCRIPTIONS[SERVICE], BackfillHandler(settings, svc, index, r))


@app.command("progress")
def progress_cmd(timeout_s: float = 3600.0) -> None:
    settings = Settings()
    svc, _, r = _load(settings)
    p = settings.topic_prefix
    total = int(r.get(total_key(p, svc.version)) or 0)
    deadline = time.monotonic() + timeout_s
    with tqdm(total=total, desc=f"backfill {svc.version}", unit="video") as bar:
        while time.monotonic() < deadline:
            done = r.scard(done_key(p, svc.version))
            bar.update(done - bar.n)
            if done >= total:
                return
            time.sleep(1.0)


if __name__ == "__main__":
    app()
