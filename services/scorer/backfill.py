"""Backfill: re-classify the whole catalog (or one catalog id) with the current category model.

    python -m services.scorer.backfill plan [--catalog-id C]   # publish requests
    python -m services.scorer.backfill progress                # tqdm until done
    python -m services.scorer.backfill run [--workers N]       # both: `make backfill`

The work itself is done by the scorers (``services/scorer``: the same consumer group reads
``categories.backfill`` beside ``shots.indexed``), so a backfill scales with the scorer
Deployment; ``run --workers N`` adds N scorer processes for the run's duration.

The model is the running one: the artefact in ``SHOTLINE_CATEGORY_MODEL_DIR`` when set, else
the same zero-shot day-one model the trainer serves (``train.day_one``), so a fresh stack
needs no configuration.

Partitioned and parallel through Kafka: the planner publishes one request per video to
``<prefix>.categories.backfill`` keyed by video id; workers in one consumer group split its
partitions (the scorers, ``shotline.worker``: at-least-once, offsets committed after results are stored).
Results go through the same read-model call as the real-time path
(``Registry.set_video_categories``), so ``GetVideoCategories`` serves them at once.
Checkpoints: committed offsets (a restarted worker resumes where its group stopped) and the
read model (each video's categories name the model version that produced them; the backfill's
done set per version). A re-plan or a redelivery skips videos already classified by the same
model version, so stopping and restarting never duplicates work or results.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import typer
from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from tqdm import tqdm

from shotline.categories.inputs import VideoText
from shotline.categories.messages import read_model_doc, video_classified
from shotline.categories.service import CategoryService, Request
from shotline.categories.train import running_model
from services.scorer.categories import CategoryModelSource, with_human_labels, with_spoken
from shotline.blobstore import open_blob_store
from shotline import stores, topics
from shotline.errors import BadInput
from shotline.events import validate_video_id
from shotline.index import SearchFilter, ShotIndex
from shotline.models import load_bundle
from shotline.registry import Registry
from shotline.settings import Settings
from shotline.taxonomy import load_taxonomy
from shotline.worker import Output

TOPIC = topics.CATEGORIES_BACKFILL
SERVICE = "scorer"
app = typer.Typer(add_completion=False)


class BackfillSettings(Settings):
    """The scorer's category settings (same variables): the backfill plans for the model it serves."""

    category_model_dir: Path | None = None  # a trained category artefact; unset = zero-shot day-one model
    taxonomy_path: Path | None = None       # unset = the bundled taxonomy


def catalog_videos(index: ShotIndex, head: str, catalog_id: str | None) -> list[str]:
    if not catalog_id:
        return index.list_videos()
    seen: set[str] = set()
    for _, vids, _ in index.iterate_vectors(head, filter=SearchFilter(catalog_ids=[catalog_id])):
        seen.update(vids)
    return sorted(seen)


def plan(settings: Settings, index: ShotIndex, registry: Registry, version: str, head: str,
         catalog_id: str | None = None, producer: KafkaProducer | None = None) -> tuple[int, int]:
    """Publish one request per video not yet classified by ``version``. Returns (published, skipped)."""
    videos = catalog_videos(index, head, catalog_id)
    scope = settings.topic_prefix
    registry.backfill_plan(scope, version, len(videos))
    stored = registry.categories_versions(videos)
    done = [v for v in videos if stored[v] == version]
    registry.backfill_done(scope, version, done)
    own = producer is None
    producer = producer or KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=20)
    published = 0
    for vid in tqdm([v for v in videos if stored[v] != version], desc="planning", unit="video"):
        body = json.dumps({"video_id": vid, "model_version": version}).encode()
        producer.send(settings.topic(TOPIC), key=vid.encode(), value=body)
        published += 1
    producer.flush()
    if own:
        producer.close()
    return published, len(done)


class BackfillHandler:
    """Classifies a poll's worth of videos in one batch (one ORT call, one text-encoder call)."""

    def __init__(self, settings: Settings, service: CategoryService | CategoryModelSource, index: ShotIndex,
                 registry: Registry, text_lookup: Callable[[str], VideoText] | None = None):
        """``text_lookup``: video id → its title/description/language; by default the text the
        real-time path kept at upload (none: the video is classified from pixels only).
        ``service``: a fixed model, or the scorer's source of the deployed release (checked per batch)."""
        self.settings, self.index, self.registry = settings, index, registry
        self.models = service if isinstance(service, CategoryModelSource) else CategoryModelSource(service, registry, None)
        self.text_lookup = text_lookup or self._stored_text
        self.scope = settings.topic_prefix

    def _stored_text(self, video_id: str) -> VideoText:
        d = self.registry.video_text(video_id)
        return VideoText(title=d.get("title", ""), description=d.get("description", ""),
                         language=d.get("language", ""), metadata=d.get("metadata") or {})

    def _parse(self, record: ConsumerRecord) -> str:
        try:
            body = json.loads(record.value)
            return validate_video_id(str(body["video_id"]))
        except (ValueError, KeyError, TypeError) as e:
            raise BadInput("malformed_event", f"not a backfill request: {e}") from e

    def _request(self, vid: str, svc: CategoryService) -> tuple[Request, str]:
        """The video's request and the upload id its shots came from. Its text: what the uploader
        wrote, plus what the transcriber heard and read in that same upload."""
        shots = self.index.video_shots(vid)
        heads = sorted({svc.m.head, "joint"} & set(self.index.dims))  # joint feeds the visual zero-shot
        full = self.index.get([s.pk for s in shots], heads=heads) if shots else []
        full.sort(key=lambda s: s.shot_index)
        vectors = {h: np.stack([s.vectors[h] for s in full]).astype(np.float32) if full
                   else np.zeros((0, self.index.dims[h]), np.float32) for h in heads}
        duration = max((s.end_ms for s in full), default=0)
        catalog = full[0].catalog_id if full else ""
        upload = full[0].video_version if full else ""
        text = with_spoken(self.text_lookup(vid), self.registry.video_spoken(vid), upload)
        return Request(vid, vectors, text, duration, catalog), upload

    def handle(self, record: ConsumerRecord) -> list[Output]:
        return self.handle_batch([record])

    @property
    def svc(self) -> CategoryService:
        return self.models.current()

    def handle_batch(self, records: Sequence[ConsumerRecord]) -> list[Output]:
        svc = self.svc  # one model for the whole batch (a new release is picked up by the next one)
        version = svc.version
        vids = list(dict.fromkeys(self._parse(rec) for rec in records))
        stored = self.registry.categories_versions(vids)
        already = [v for v in vids if stored[v] == version]  # redelivered / classified meanwhile
        self.registry.backfill_done(self.scope, version, already)
        todo = [v for v in vids if stored[v] != version]
        if not todo:
            return []
        outs = self.classify(todo, svc)
        self.registry.backfill_done(self.scope, version, todo, classified=True)
        return outs

    def classify(self, vids: list[str], svc: CategoryService | None = None) -> list[Output]:
        """Classify videos from what is stored (their shots in the index, the text kept for them),
        store the results and say so on ``videos.classified`` (the query caches evict on it)."""
        svc = svc or self.svc
        started = time.perf_counter()
        requests, upload_ids = zip(*(self._request(v, svc) for v in vids), strict=True)
        results = svc.classify_batch(list(requests))
        docs = with_human_labels(self.registry, results, [read_model_doc(r, u, list(q.text.sources()))
                                                          for r, u, q in zip(results, upload_ids, requests, strict=True)],
                                 svc.tax)
        outs = []
        for res, doc in zip(results, docs, strict=True):
            self.registry.set_video_categories(res.video_id, doc)
            msg = video_classified(res, SERVICE, time.perf_counter() - started)
            outs.append(Output.event(self.settings.topic(topics.VIDEOS_CLASSIFIED), res.video_id, msg))
        return outs


def _load(settings: BackfillSettings) -> tuple[CategoryService, ShotIndex, Registry]:
    """The model the scorers serve: the deployed release (trained from people's category labels)
    when there is one, else the running base model."""
    bundle = load_bundle(settings.bundle_path, settings.ort_providers or None)
    base = running_model(settings.category_model_dir, load_taxonomy(settings.taxonomy_path), bundle.encode_text,
                         text_model_id=f"{bundle.model_id}:{bundle.version}")
    index = stores.shot_index(settings, bundle.model_id, bundle.dims)
    registry = stores.registry(settings)
    svc = CategoryModelSource(base, registry, open_blob_store(settings)).current()
    return svc, index, registry


@app.command("plan")
def plan_cmd(catalog_id: str = typer.Option("", help="only this catalog (default: all indexed videos)")) -> None:
    settings = BackfillSettings()
    svc, index, registry = _load(settings)
    published, skipped = plan(settings, index, registry, svc.version, svc.m.head, catalog_id or None)
    print(f"category model {svc.version}: published {published}, skipped {skipped} already done")


def watch(registry: Registry, scope: str, version: str, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """A tqdm bar over the backfill's done set until every planned video is done (True), the
    timeout passes or ``alive()`` turns false (False)."""
    done, total = registry.backfill_progress(scope, version)
    deadline = time.monotonic() + timeout_s
    with tqdm(total=total, initial=done, desc=f"backfill {version}", unit="video") as bar:
        while True:
            done, total = registry.backfill_progress(scope, version)
            bar.total = total
            bar.update(done - bar.n)
            if done >= total:
                return True
            if time.monotonic() >= deadline or not alive():
                return False
            time.sleep(1.0)


@app.command("progress")
def progress_cmd(timeout_s: float = 3600.0) -> None:
    settings = BackfillSettings()
    svc, _, registry = _load(settings)
    if not watch(registry, settings.topic_prefix, svc.version, timeout_s):
        raise typer.Exit(1)


@app.command("run")
def run_cmd(workers: int = typer.Option(0, min=0, help="extra scorer processes for this run (0: the running scorers do it)"),
            catalog_id: str = typer.Option("", help="only this catalog (default: all indexed videos)"),
            timeout_s: float = 24 * 3600.0) -> None:
    """Plan, run workers with a progress bar until every video is done, stop them. Interrupted
    (Ctrl-C), the workers commit what they finished: run it again to resume."""
    import os
    import signal
    import subprocess
    import sys

    settings = BackfillSettings()
    svc, index, registry = _load(settings)
    published, skipped = plan(settings, index, registry, svc.version, svc.m.head, catalog_id or None)
    print(f"category model {svc.version}: published {published}, skipped {skipped} already done", flush=True)
    env = {**os.environ, "SHOTLINE_METRICS_PORT": "0"}  # beside a running scorer: no port clash
    procs = [subprocess.Popen([sys.executable, "-m", "services.scorer"], env=env)
             for _ in range(workers if published else 0)]
    try:
        ok = watch(registry, settings.topic_prefix, svc.version, timeout_s,
                   alive=lambda: all(p.poll() is None for p in procs))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(120)
    if not ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
