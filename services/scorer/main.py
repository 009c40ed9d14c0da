"""Scorer entrypoint: the real-time path (classifier scores, taxonomy categories) and the backfill."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from services.scorer.backfill import BackfillHandler
from services.scorer.categories import SERVICE, CategoryModelSource, RealtimeCategories
from services.scorer.classifiers import ClassifierScorer
from services.scorer.handler import ScorerHandler
from shotline import stores, topics
from shotline.blobstore import open_blob_store
from shotline.categories.train import running_model
from shotline.encoder_client import EncoderClient
from shotline.settings import Settings
from shotline.taxonomy.loader import load_taxonomy
from shotline.worker import run_service


class ScorerSettings(Settings):
    service_name: str = SERVICE
    video_aggregate: Literal["max", "mean"] = "max"  # a video's classifier score from its shots'
    category_model_dir: Path | None = None  # a trained category artefact; unset = zero-shot day-one model
    taxonomy_path: Path | None = None       # unset = the bundled taxonomy


def main() -> None:
    s = ScorerSettings()
    encoder = EncoderClient(s)
    index, info = encoder.index(s)
    index.ensure_collection()
    registry = stores.registry(s)
    categories = running_model(s.category_model_dir, load_taxonomy(s.taxonomy_path), encoder.encode_text,
                               text_model_id=f"{info.model.model_id}:{info.model.version}")
    # The deployed release (retrained from people's category labels) once there is one.
    source = CategoryModelSource(categories, registry, open_blob_store(s))
    handler = ScorerHandler(s, ClassifierScorer(registry, index, s.video_aggregate),
                            RealtimeCategories(s, source, index, registry),
                            BackfillHandler(s, source, index, registry))
    run_service(s, SERVICE, topics.SUBSCRIPTIONS[SERVICE], handler)
