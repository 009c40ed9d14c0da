"""Real-time classifier scores: a newly indexed chunk → every deployed classifier's per-video score.

The video's shots are read from the index once per chunk, on the union of the heads the deployed
classifiers use, and scored by all of them (one matrix product each); models are loaded from the
read model by (label, version) and cached (`VersionCache`): a version never changes once written. A calibrated
version also turns the video's aggregate score into a probability (NaN when it is not calibrated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from prometheus_client import Counter

from shotline.classifier_versions import VersionCache
from shotline.index import ShotIndex
from shotline.learning.classifier import LinearModel, ModelVersion
from shotline.registry import Registry

SHOTS_SCORED = Counter("shotline_scorer_shots_scored_total", "New shots scored by deployed classifiers")


@dataclass(frozen=True)
class VideoScore:
    label: str
    version: int
    score: float             # the video's aggregate over its shots
    new_shot_scores: list[float]  # the chunk's own shots (the drift monitor's recent scores)
    probability: float = float("nan")  # calibrated P(positive) of the aggregate (NaN: not calibrated)


class ClassifierScorer:
    def __init__(self, registry: Registry, index: ShotIndex, aggregate: str = "max", cache_size: int = 256):
        self.registry = registry
        self.index = index
        self.aggregate = aggregate
        self.versions = VersionCache(registry, cache_size)

    def load(self, label: str, version: int) -> tuple[LinearModel, ModelVersion]:
        return self.versions.get(label, version)

    def deployed(self) -> list[tuple[str, int, LinearModel, ModelVersion]]:
        out = []
        for label in self.registry.labels():
            version = self.registry.deployed(label)
            if version:
                out.append((label, version, *self.load(label, version)))
        return out

    def score(self, video_id: str, n_shots: int, new_shot_ids: set[str]) -> list[VideoScore]:
        models = self.deployed()
        if not models or not n_shots:
            return []
        heads = sorted({meta.head for *_, meta in models})
        rows = sorted(self.index.get([self.index.pk_of(video_id, i) for i in range(n_shots)], heads=heads),
                      key=lambda r: r.shot_index)
        if not rows:
            return []
        X = {h: np.stack([r.vectors[h] for r in rows]) for h in heads}
        fresh = np.asarray([f"{video_id}/{r.shot_index}" in new_shot_ids for r in rows])
        out = []
        for label, version, model, meta in models:
            s = model.decision(X[meta.head])
            agg = float(s.max() if self.aggregate == "max" else s.mean())
            out.append(VideoScore(label, version, agg, [float(v) for v in s[fresh]], float(model.calibrate(agg))))
        return out

    def store(self, video_id: str, scores: list[VideoScore]) -> None:
        for vs in scores:
            self.registry.set_video_classifier(video_id, vs.label, vs.version, vs.score, probability=vs.probability)
            self.registry.push_recent(vs.label, vs.new_shot_scores)
            SHOTS_SCORED.inc(len(vs.new_shot_scores))
