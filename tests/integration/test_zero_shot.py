"""The first round of a classifier, through the public gRPC API on the sample videos.

- Labelling only text-search hits (all positive), or giving only a description, deploys a
  zero-shot version at once: scores and the four feeds are served, ranked as the search ranks.
- Adding negatives retrains; a trained version goes live only when its cross-validated AP beats
  zero-shot's (zero-shot's AP on the labels is recomputed here from `SearchText` scores).
"""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest

from shotline.learning.metrics import average_precision
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc

from .conftest import wait_for
from .test_pipeline import SAMPLES, indexed, query, services  # noqa: F401 - module fixtures

pytestmark = pytest.mark.integration

ONLY_SAMPLES = query_pb2.SearchFilters(video_ids=sorted(SAMPLES))
FEEDS = (query_pb2.FEED_KIND_TOP_POSITIVE, query_pb2.FEED_KIND_TOP_NEGATIVE, query_pb2.FEED_KIND_BORDERLINE,
         query_pb2.FEED_KIND_RANDOM)
NEGATIVES = ["cockatoo/0", "bigbuckbunny/0", "cityCC0/0", "cityCC0/1"]


def _search(query: query_pb2_grpc.QueryServiceStub, text: str) -> dict[str, float]:  # noqa: F811
    """The embedding's ranking with its cosines: zero-shot ranks by meaning, as vector search does
    (the default hybrid mode scores by fused rank, and these clips say no words)."""
    res = query.SearchText(query_pb2.SearchTextRequest(query=text, top_k=100, filters=ONLY_SAMPLES,
                                                       mode=query_pb2.SEARCH_MODE_VECTOR), timeout=60)
    return {h.shot.shot_id: h.score for h in res.hits}


def _submit(query: query_pb2_grpc.QueryServiceStub, label: str, pos=(), neg=(), description: str = "") -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    labels = [events_pb2.ShotLabel(shot_id=s, value=events_pb2.LABEL_VALUE_POSITIVE) for s in pos]
    labels += [events_pb2.ShotLabel(shot_id=s, value=events_pb2.LABEL_VALUE_NEGATIVE) for s in neg]
    query.SubmitLabels(query_pb2.SubmitLabelsRequest(label=label, labels=labels, annotator="t",
                                                     description=description), timeout=30)


def _deployed(query: query_pb2_grpc.QueryServiceStub, label: str, n_pos: int, n_neg: int):  # type: ignore[no-untyped-def]  # noqa: F811
    """The classifier once its deployed version is the latest and was trained on these counts."""
    def ready():  # type: ignore[no-untyped-def]
        try:
            c = query.GetClassifier(query_pb2.GetClassifierRequest(label=label), timeout=10)
        except grpc.RpcError:
            return None
        if not c.versions or c.deployed_version != c.versions[-1].version:
            return None
        v = c.versions[-1]
        return c if (v.positives, v.negatives) == (n_pos, n_neg) else None
    return wait_for(ready, 120, interval=0.5, what=f"{label}: a version on {n_pos}+/{n_neg}- deployed")


def _feeds(query: query_pb2_grpc.QueryServiceStub, label: str) -> dict[int, list[query_pb2.ShotHit]]:  # noqa: F811
    return {k: list(query.GetFeed(query_pb2.GetFeedRequest(label=label, kind=k, n=50), timeout=10).shots)
            for k in FEEDS}


def test_search_hits_alone_deploy_zero_shot_then_trained_only_when_it_beats_it(
        query: query_pb2_grpc.QueryServiceStub, indexed: dict) -> None:  # noqa: F811
    description = "people riding bicycles"
    search = _search(query, description)
    hits = [s for s in sorted(search, key=search.get, reverse=True) if s.startswith("bikes/")][:3]
    assert len(hits) == 3
    _submit(query, "zs-cycling", pos=hits, description=description)  # all positive: the usual first step
    c = _deployed(query, "zs-cycling", 3, 0)
    v = c.versions[-1]
    assert (v.kind, v.head) == ("zero_shot", "joint")
    feeds = wait_for(lambda: (f := _feeds(query, "zs-cycling")) and all(f.values()) and f, 60, what="four feeds")
    shown = {h.shot.shot_id for f in feeds.values() for h in f}
    assert not shown & set(hits), "feeds exclude labelled shots"
    top = [h.shot.shot_id for h in feeds[query_pb2.FEED_KIND_TOP_POSITIVE] if h.shot.video_id in SAMPLES]
    assert top[0].startswith("bikes/"), top  # the unlabelled bike shots come first
    scores = query.ScoreShots(query_pb2.ScoreShotsRequest(label="zs-cycling", shot_ids=["bikes/0", "cockatoo/0"]))
    assert scores.version == c.deployed_version and scores.scores["bikes/0"] > scores.scores["cockatoo/0"]
    # One class labelled: no CV, so no calibration — no probabilities, no threshold.
    assert not v.calibrated and math.isnan(v.threshold) and not scores.probabilities and math.isnan(scores.threshold)

    # Negatives arrive: every candidate is cross-validated; zero-shot's AP on these labels is the
    # search's. Here the description is right, so nothing beats it and zero-shot stays live.
    _submit(query, "zs-cycling", neg=NEGATIVES)
    c = _deployed(query, "zs-cycling", 3, len(NEGATIVES))
    v = c.versions[-1]
    labelled = hits + NEGATIVES
    zs_ap = average_precision(np.array([s in hits for s in labelled]), np.array([search[s] for s in labelled]))
    print(f"\nzs-cycling: deployed {v.kind} CV AP {v.ap:.3f}; zero-shot (search) AP {zs_ap:.3f}")
    if v.kind == "linear":
        assert v.ap > zs_ap, "a trained version went live without beating zero-shot"
    else:
        assert v.kind in ("zero_shot", "combined") and v.ap >= zs_ap - 1e-6
    if zs_ap == 1.0:
        assert v.kind == "zero_shot" and v.head == "joint"
    # 3 labels per class: calibrated on the CV folds; probabilities rank as the scores do.
    assert v.calibrated and v.threshold_precision == pytest.approx(0.8)
    assert math.isnan(v.threshold) or (0.0 < v.threshold <= 1.0 and 0.0 < v.threshold_recall <= 1.0)
    res = query.ScoreShots(query_pb2.ScoreShotsRequest(label="zs-cycling", shot_ids=labelled), timeout=10)
    assert set(res.probabilities) == set(labelled) and all(0.0 <= p <= 1.0 for p in res.probabilities.values())
    by_score = sorted(labelled, key=lambda s: res.scores[s])
    assert all(res.probabilities[a] <= res.probabilities[b] for a, b in zip(by_score, by_score[1:]))
    assert res.threshold == v.threshold or (math.isnan(res.threshold) and math.isnan(v.threshold))


def test_trained_version_deploys_when_its_cv_ap_beats_zero_shot(query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
                                                               indexed: dict) -> None:  # noqa: F811
    # A description that misleads the text model: its search ranks a negative first.
    description = "a cockatoo"
    search = _search(query, description)
    pos = [f"bikes/{i}" for i in range(SAMPLES["bikes"])]
    _submit(query, "zs-misled", pos=pos, neg=NEGATIVES, description=description)
    c = _deployed(query, "zs-misled", len(pos), len(NEGATIVES))
    v = c.versions[-1]
    labelled = pos + NEGATIVES
    zs_ap = average_precision(np.array([s in pos for s in labelled]), np.array([search[s] for s in labelled]))
    print(f"\nzs-misled: deployed {v.kind} ({v.head}) CV AP {v.ap:.3f}; zero-shot (search) AP {zs_ap:.3f}")
    assert zs_ap < 1.0
    assert v.kind in ("linear", "combined") and v.ap > zs_ap
    listed = {x.label: x for x in query.ListClassifiers(query_pb2.ListClassifiersRequest()).classifiers}
    assert listed["zs-misled"].deployed_version == v.version


def test_description_alone_serves_the_search_ranking(query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
                                                     indexed: dict) -> None:  # noqa: F811
    description = "a cockatoo"
    _submit(query, "zs-bird", description=description)
    c = _deployed(query, "zs-bird", 0, 0)
    assert c.versions[-1].kind == "zero_shot"
    feeds = wait_for(lambda: (f := _feeds(query, "zs-bird")) and all(f.values()) and f, 60, what="four feeds")
    search = _search(query, description)
    top = [h for h in feeds[query_pb2.FEED_KIND_TOP_POSITIVE] if h.shot.video_id in SAMPLES]
    assert top[0].shot.shot_id == "cockatoo/0"
    for h in top:  # zero-shot scores are the search's cosine similarities
        assert h.score == pytest.approx(search[h.shot.shot_id], abs=1e-3)
