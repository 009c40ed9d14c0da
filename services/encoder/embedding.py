"""Shots → per-head shot embeddings: load keyframes, encode in one batch, mean-pool per shot.

A shot whose keyframes cannot be had (none listed, a missing blob, an unreadable JPEG) costs
that shot only: it comes back as a ``SkippedShot`` and the rest of the batch is embedded.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError
from prometheus_client import Counter, Gauge, Histogram

from shotline.blobstore import BlobStore
from shotline.errors import BadInput
from shotline.models.runtime import VisionLanguageModel, mean_pool_shots
from shotline.v1 import common_pb2, events_pb2

IMAGES = Counter("shotline_encoder_images_total", "Keyframes encoded")
SHOTS = Counter("shotline_encoder_shots_total", "Shots embedded")
SKIPPED = Counter("shotline_encoder_shots_skipped_total",
                  "Shots that could not be embedded (reported on the errors topic), by reason", ["reason"])
BATCH_IMAGES = Histogram("shotline_encoder_batch_images", "Images per inference batch",
                         buckets=(1, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
INFERENCE = Histogram("shotline_encoder_inference_duration_seconds", "Image-encoder wall time per batch",
                      buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
QUEUE_WAIT = Histogram("shotline_encoder_queue_wait_seconds",
                       "Time from a shots-segmented event's creation to the start of its encoding",
                       buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
PROVIDER = Gauge("shotline_encoder_provider_info", "ONNX Runtime provider in use (1 = active)",
                 ["provider", "model_id"])


def decode_image(data: bytes, ref: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise BadInput("bad_keyframe", f"keyframe {ref} is not a readable image: {e}") from e


@dataclass
class EmbeddedShot:
    shot: common_pb2.Shot
    vectors: dict[str, np.ndarray]


def to_proto(e: EmbeddedShot) -> events_pb2.ShotEmbedding:
    return events_pb2.ShotEmbedding(
        shot=e.shot,
        vectors={h: events_pb2.Vector(values=v.astype(np.float32).tolist()) for h, v in e.vectors.items()},
    )


class ShotEncoder:
    def __init__(self, model: VisionLanguageModel, blobs: BlobStore):
        self.model = model
        self.blobs = blobs
        PROVIDER.labels(model.provider, model.model_id).set(1)

    def load_keyframes(self, shot: common_pb2.Shot) -> list[np.ndarray]:
        if not shot.keyframe_refs:
            raise BadInput("no_keyframes", f"shot {shot.shot_id} has no keyframes")
        return [decode_image(self.blobs.get(ref), ref) for ref in shot.keyframe_refs]

    def embed(self, shots: Sequence[common_pb2.Shot]) -> list[EmbeddedShot | events_pb2.SkippedShot]:
        """All keyframes of all shots in one encoder call (batched inside the runtime).

        One result per input shot, in order: an ``EmbeddedShot``, or a ``SkippedShot`` saying
        why that shot's keyframes could not be loaded. Infrastructure faults still raise."""
        images: list[np.ndarray] = []
        owner: list[int] = []
        skipped: dict[int, events_pb2.SkippedShot] = {}
        for i, shot in enumerate(shots):
            try:
                frames = self.load_keyframes(shot)
            except BadInput as e:
                SKIPPED.labels(e.reason).inc()
                skipped[i] = events_pb2.SkippedShot(shot=shot, reason=e.reason, message=e.message[:500])
                continue
            images.extend(frames)
            owner.extend([i] * len(frames))
        if not images:
            return [skipped[i] for i in range(len(shots))]
        t0 = time.perf_counter()
        per_head = self.model.encode_images(images)
        INFERENCE.observe(time.perf_counter() - t0)
        BATCH_IMAGES.observe(len(images))
        IMAGES.inc(len(images))
        SHOTS.inc(len(shots) - len(skipped))
        pooled = {h: mean_pool_shots(emb, owner) for h, emb in per_head.items()}
        rows = {h: {sid: n for n, sid in enumerate(p.shot_ids)} for h, p in pooled.items()}
        return [
            skipped[i] if i in skipped else
            EmbeddedShot(shot, {h: p.embeddings[rows[h][i]] for h, p in pooled.items()})
            for i, shot in enumerate(shots)
        ]
