"""Trainer entrypoint."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from services.trainer.categories import CategoryLabels
from services.trainer.handler import SERVICE, TrainerHandler
from services.trainer.pipeline import ClassifierPipeline
from shotline import logs, stores, topics
from shotline.blobstore import open_blob_store
from shotline.categories.train import running_model
from shotline.encoder_client import EncoderClient
from shotline.lease import Lease
from shotline.settings import Settings
from shotline.taxonomy import load_taxonomy
from shotline.worker import run_service


class TrainerSettings(Settings):
    service_name: str = SERVICE
    debounce_seconds: float = Field(2.0, ge=0, le=600)   # a burst of labels → one retrain
    drift_interval_seconds: float = Field(60.0, gt=0)
    video_aggregate: Literal["max", "mean"] = "max"
    vector_snapshot: bool = True  # rescore from a local snapshot (milvus-lite streams vectors slowly)
    lease_ttl_seconds: float = Field(15.0, ge=1, le=600)  # one active trainer; a standby takes over after this
    # Category labels from people: the base the category model is retrained on (the scorer's
    # SHOTLINE_CATEGORY_MODEL_DIR / SHOTLINE_TAXONOMY_PATH: set them alike) and what a new release re-classifies.
    category_model_dir: Path | None = None
    taxonomy_path: Path | None = None
    category_debounce_seconds: float = Field(2.0, ge=0, le=3600)
    category_backfill: Literal["labelled", "catalog"] = "catalog"
    category_pseudo_videos: int = Field(5000, ge=0, le=200_000)  # unlabelled videos sampled for pseudo-labels


def main() -> None:
    s = TrainerSettings()
    logs.configure(s.log_level, s.log_json, SERVICE)
    encoder = EncoderClient(s)
    index, info = encoder.index(s)
    index.ensure_collection()
    registry = stores.registry(s)
    pipeline = ClassifierPipeline(registry, index, open_blob_store(s), info.model.model_id,
                                  encoder.encode_text, s.video_aggregate,
                                  snapshot_dir=(s.run_dir / "trainer" / "snapshots") if s.vector_snapshot else None)
    base = running_model(s.category_model_dir, load_taxonomy(s.taxonomy_path), encoder.encode_text,
                         text_model_id=f"{info.model.model_id}:{info.model.version}")
    categories = CategoryLabels(s, registry, index, pipeline.blobs, base, debounce_seconds=s.category_debounce_seconds,
                                backfill=s.category_backfill, max_pseudo_videos=s.category_pseudo_videos)
    handler = TrainerHandler(s, registry, pipeline, debounce_seconds=s.debounce_seconds,
                             drift_interval=s.drift_interval_seconds, categories=categories)
    run_service(s, SERVICE, topics.SUBSCRIPTIONS[SERVICE], handler,
                lease=Lease(registry, f"{s.consumer_group_prefix}-{SERVICE}", s.lease_ttl_seconds))
