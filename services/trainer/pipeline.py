"""Retrain → version → deploy → rescore the catalog → feeds, for one classifier.

Vectors come from the shot index: the labelled shots by primary key, the whole catalog as a
stream of chunks (one matrix product each). Feeds exclude labelled shots and are stored
with display fields so the query service serves them without touching Milvus.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from prometheus_client import Gauge, Histogram

from shotline.learning.classifier import (
    JOINT_KINDS,
    LinearModel,
    ModelVersion,
    fit_label_model,
    model_to_bytes,
)
from shotline.learning.feeds import build_feeds
from shotline.learning.scoring import per_video_aggregate, score_chunks
from services.trainer.snapshot import VectorSnapshot
from shotline import logs
from shotline.blobstore import BlobStore
from shotline.classifier_versions import VersionCache
from shotline.errors import BadInput
from shotline.events import parse_shot_id, shot_id
from shotline.index import ShotIndex
from shotline.registry import Registry

log = logs.get("trainer.pipeline")

RETRAIN_SECONDS = Histogram("shotline_trainer_retrain_duration_seconds", "Fit + version + store of one classifier",
                            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
RESCORE_SECONDS = Histogram("shotline_trainer_rescore_duration_seconds", "Catalog rescoring + feeds of one classifier",
                            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
LABELS = Gauge("shotline_trainer_labels", "Current labelled shots per classifier", ["label", "value"])
DEPLOYED = Gauge("shotline_trainer_deployed_version", "Deployed version per classifier", ["label"])
AP = Gauge("shotline_trainer_classifier_ap", "Cross-validated AP of the deployed version (NaN = n/a)", ["label"])

FEED_SIZE = 200


def head_for(index: ShotIndex, kind: str) -> str:
    """Trained classifiers use `visual` when the bundle has it; zero-shot and combined models
    score the text space, `joint`."""
    return "visual" if kind not in JOINT_KINDS and "visual" in index.dims else "joint"


@dataclass
class Trained:
    model: LinearModel
    version: ModelVersion
    deployed: bool
    unknown_shots: list[str]


class ClassifierPipeline:
    def __init__(self, registry: Registry, index: ShotIndex, blobs: BlobStore, embedding_model: str,
                 encode_text, aggregate: str = "max", snapshot_dir: Path | None = None):  # type: ignore[no-untyped-def]
        self.registry = registry
        self.index = index
        self.blobs = blobs
        self.embedding_model = embedding_model
        self.encode_text = encode_text
        self.aggregate = aggregate
        self.versions = VersionCache(registry)
        self._snapshots: dict[str, VectorSnapshot] = {}
        self.snapshot_dir = snapshot_dir

    def catalog(self, head: str):  # type: ignore[no-untyped-def]
        """The catalog's vectors as chunks: from the local snapshot when configured."""
        if self.snapshot_dir is None:
            return self.index.iterate_vectors(head, batch_size=65_536)
        snap = self._snapshots.setdefault(head, VectorSnapshot(self.index, head, self.snapshot_dir))
        snap.refresh()
        return snap.chunks()

    # -- training -------------------------------------------------------------------------
    def training_set(self, label: str, heads: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray | None, list[str]]:
        """The labelled shots' vectors on ``heads`` (one index read) → ({head: X}, y, unknown shot ids)."""
        anns = self.registry.annotations(label)
        if not anns:
            return {}, None, []
        pks = [self.index.pk_of(*parse_shot_id(a.shot_id)) for a in anns]
        rows = {r.pk: r for r in self.index.get(pks, heads=heads)}
        X: dict[str, list[np.ndarray]] = {h: [] for h in heads}
        y, unknown = [], []
        for a, pk in zip(anns, pks, strict=True):
            row = rows.get(pk)
            if row is None:
                unknown.append(a.shot_id)
                continue
            for h in heads:
                X[h].append(row.vectors[h])
            y.append(1 if a.positive else 0)
        if not y:
            return {}, None, unknown
        return ({h: np.stack(v).astype(np.float32) for h, v in X.items()}, np.asarray(y, dtype=np.int8), unknown)

    def retrain(self, label: str) -> Trained | None:
        t0 = time.perf_counter()
        description = self.registry.meta(label).get("description", "")
        train_head = head_for(self.index, "linear")
        heads = sorted({train_head, "joint"})
        X, y, unknown = self.training_set(label, heads)
        text = self.encode_text([description])[0] if description.strip() else None
        try:
            model = fit_label_model(X.get(train_head), y, text, X_joint=X.get("joint"))
        except BadInput as e:
            log.info("classifier stays untrained", label=label, reason=e.reason, detail=e.message)
            return None
        head = head_for(self.index, model.kind)
        version = self.registry.next_version(label)
        meta = ModelVersion.for_model(model, label=label, version=version, head=head,
                                      embedding_model=self.embedding_model)
        blob = model_to_bytes(model, meta)
        self.blobs.put(f"classifiers/{label}/{version:06d}.npz", blob)  # the durable artefact
        self.registry.save_version(label, version, asdict(meta), blob)
        deployed = self.registry.deploy_unless_pinned(label, version)
        if deployed:
            DEPLOYED.labels(label).set(version)
            AP.labels(label).set(model.ap_cv if model.ap_cv is not None else float("nan"))
        LABELS.labels(label, "positive").set(model.n_pos)
        LABELS.labels(label, "negative").set(model.n_neg)
        RETRAIN_SECONDS.observe(time.perf_counter() - t0)
        log.info("classifier trained", label=label, version=version, kind=model.kind, ap=model.ap_cv,
                 ap_trained=meta.ap_trained, ap_zero_shot=meta.ap_zero_shot, ap_combined=meta.ap_combined,
                 chosen_because=meta.chosen_because, positives=model.n_pos, negatives=model.n_neg, deployed=deployed)
        return Trained(model, meta, deployed, unknown)

    # -- scoring --------------------------------------------------------------------------
    def load(self, label: str, version: int) -> tuple[LinearModel, ModelVersion]:
        return self.versions.get(label, version)

    def rescore(self, label: str, version: int) -> dict[str, int]:
        """Score every shot, rebuild the four feeds and the per-video results."""
        t0 = time.perf_counter()
        model, meta = self.load(label, version)
        labelled = set()
        for a in self.registry.annotations(label):
            vid, idx = parse_shot_id(a.shot_id)
            labelled.add(self.index.pk_of(vid, idx))
        video_ids: list[str] = []

        def chunks():  # type: ignore[no-untyped-def]
            for pks, vids, vecs in self.catalog(meta.head):
                video_ids.extend(vids)
                yield pks, vecs

        table = score_chunks(model, chunks(), n=FEED_SIZE, exclude=labelled, keep_all=True)
        feeds = build_feeds(table, FEED_SIZE, disjoint=False)
        # Feed ids are primary keys: resolve the few shown to shot ids and display fields.
        shown = {int(pk) for f in feeds.values() for pk in f.ids}
        rows = {r.pk: r for r in self.index.get(sorted(shown))} if shown else {}
        stored = {
            kind: [
                {"shot_id": shot_id(rows[int(pk)].video_id, rows[int(pk)].shot_index), "score": float(s),
                 "video_id": rows[int(pk)].video_id, "shot_index": rows[int(pk)].shot_index,
                 "start_ms": rows[int(pk)].start_ms, "end_ms": rows[int(pk)].end_ms,
                 "keyframe_ref": rows[int(pk)].keyframe_ref}
                for pk, s in zip(f.ids, f.scores, strict=True) if int(pk) in rows
            ]
            for kind, f in feeds.items()
        }
        reference = [float(s) for s in table.random.scores]  # a uniform sample: the drift reference
        self.registry.save_feeds(label, stored, reference)
        if table.all_scores is not None and len(table.all_scores) == len(video_ids) and video_ids:
            per_video = per_video_aggregate(table.all_scores, video_ids, how=self.aggregate)
            self._store_per_video(label, version, per_video, model)
        RESCORE_SECONDS.observe(time.perf_counter() - t0)
        return {"scored": table.n_scored, **{k: len(v) for k, v in stored.items()}}

    def _store_per_video(self, label: str, version: int, per_video: dict[str, float], model: LinearModel) -> None:
        # The same calibrated probability the scorer stores for new uploads (NaN-free: none when uncalibrated).
        probabilities = ({v: float(model.calibrate(s)) for v, s in per_video.items()} if model.calibrated else None)
        self.registry.set_video_classifiers(label, version, per_video, probabilities)
