"""Calibrated probabilities and per-version thresholds (issue 19).

Expectations are derived independently of the code under test: out-of-fold scores and the Platt
fit by scikit-learn's own ``cross_val_predict`` / ``CalibratedClassifierCV``; precision and
recall at a threshold counted with numpy; the query API's probabilities recomputed from the
scores it returns.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict

import grpc
import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

from research.eval_al import digits_tasks
from shotline.errors import BadInput
from shotline.learning.classifier import (
    LinearModel,
    ModelVersion,
    calibrate_oof,
    fit_label_model,
    model_from_bytes,
    model_to_bytes,
    threshold_at_precision,
)
from shotline.learning.metrics import expected_calibration_error, platt_probability, sigmoid


@pytest.fixture(scope="module")
def digit3():
    task = digits_tasks()[3]
    Xtr, Xte, ytr, yte = train_test_split(task.X, task.y.astype(int), test_size=0.5, stratify=task.y,
                                          random_state=0)
    return Xtr, Xte, ytr, yte, Xtr[ytr == 1][:5].mean(axis=0)


def _sk_oof(X: np.ndarray, y: np.ndarray, C: float = 3.0) -> np.ndarray:
    """The trainer's CV (5 stratified shuffled folds, seed 0), done by scikit-learn."""
    est = LogisticRegression(C=C, class_weight="balanced", max_iter=500)
    return cross_val_predict(est, X.astype(np.float64), y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                             method="decision_function")


def _precision_recall(y: np.ndarray, p: np.ndarray, t: float) -> tuple[float, float]:
    hit = p >= t
    return float(y[hit].mean()), float(hit[y == 1].mean())


def test_probabilities_match_sklearn_calibrated_classifier_cv(digit3):
    Xtr, Xte, ytr, _, _ = digit3
    m = fit_label_model(Xtr, ytr, None, tune=False)  # no description: the trained model, C = 3
    assert m.kind == "linear" and m.C == 3.0 and m.calibrated
    ref = CalibratedClassifierCV(LogisticRegression(C=3.0, class_weight="balanced", max_iter=500), method="sigmoid",
                                 cv=StratifiedKFold(5, shuffle=True, random_state=0), ensemble=False)
    ref.fit(Xtr.astype(np.float64), ytr)
    np.testing.assert_allclose(m.probability(Xte), ref.predict_proba(Xte.astype(np.float64))[:, 1], atol=2e-3)


def test_probabilities_are_in_unit_interval_and_monotone_in_the_decision(digit3):
    Xtr, Xte, ytr, _, text = digit3
    for txt in (None, text):
        m = fit_label_model(Xtr, ytr, txt)
        assert m.calibrated and m.platt[0] > 0
        d, p = m.decision(Xte), m.probability(Xte)
        assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
        order = np.argsort(d, kind="stable")
        assert (np.diff(p[order]) >= 0).all()
        assert (np.diff(m.calibrate(np.linspace(-50, 50, 101))) >= 0).all()  # no overflow at the tails


def test_threshold_reaches_target_precision_on_the_oof_scores_with_the_most_recall(digit3):
    Xtr, _, ytr, _, _ = digit3
    m = fit_label_model(Xtr, ytr, None, tune=False)
    p_oof = m.calibrate(_sk_oof(Xtr, ytr))  # OOF decision values recomputed by sklearn
    assert m.threshold_precision == 0.8 and m.threshold is not None
    precision, recall = _precision_recall(ytr, p_oof, m.threshold)
    assert precision >= 0.8
    assert recall == pytest.approx(m.threshold_recall, abs=1e-9)
    for t in np.unique(p_oof[p_oof < m.threshold]):  # every lower threshold misses the target
        assert _precision_recall(ytr, p_oof, t)[0] < 0.8 or _precision_recall(ytr, p_oof, t)[1] <= recall
    strict = fit_label_model(Xtr, ytr, None, tune=False, precision_target=0.95)
    assert strict.threshold >= m.threshold and strict.threshold_recall <= m.threshold_recall
    assert _precision_recall(ytr, p_oof, strict.threshold)[0] >= 0.95


def test_zero_shot_version_is_calibrated_on_its_cosines_when_cv_is_possible():
    rng = np.random.default_rng(2)
    y = (np.arange(120) % 4 == 0).astype(int)
    jdir = rng.normal(size=16)
    Xj = rng.normal(size=(120, 16)) + 4.0 * np.outer(y, jdir)
    Xj = (Xj / np.linalg.norm(Xj, axis=1, keepdims=True)).astype(np.float32)
    Xv = rng.normal(size=(120, 64)).astype(np.float32)  # the visual head is noise
    m = fit_label_model(Xv, y, jdir.astype(np.float32), X_joint=Xj)
    assert m.kind == "zero_shot" and m.calibrated
    cos = Xj @ (jdir / np.linalg.norm(jdir))
    p = m.probability(Xj)
    order = np.argsort(cos, kind="stable")
    assert (np.diff(p[order]) >= -1e-12).all()
    if m.threshold is not None:  # zero-shot has no fitted ranking: its OOF scores are the cosines
        assert _precision_recall(y, p, m.threshold)[0] >= 0.8


def test_no_cv_means_not_calibrated_and_no_invented_probabilities(digit3):
    Xtr, Xte, ytr, _, text = digit3
    pos, neg = np.flatnonzero(ytr == 1), np.flatnonzero(ytr == 0)
    cases = {
        "only one class": fit_label_model(Xtr[pos[:10]], np.ones(10), text),
        "no shot is labelled": fit_label_model(None, None, text),
        "fewer than 3 labels per class": fit_label_model(Xtr[np.r_[pos[:2], neg[:10]]], ytr[np.r_[pos[:2], neg[:10]]],
                                                         text),
        "fewer than 3": fit_label_model(Xtr[np.r_[pos[:2], neg[:10]]], ytr[np.r_[pos[:2], neg[:10]]], None),
    }
    for why, m in cases.items():
        assert not m.calibrated and m.platt is None, why
        assert np.isnan(m.probability(Xte)).all() and not m.positive(Xte).any()
        assert m.threshold is None and m.threshold_recall is None
        assert m.calibration.startswith("not calibrated") and why in m.calibration
        meta = ModelVersion.for_model(m, label="x", version=1, head="joint", embedding_model="e")
        assert (meta.calibrated, meta.threshold, meta.threshold_recall) == (False, None, None)
        assert meta.threshold_precision == 0.8 and why in meta.calibration


def test_inverted_scores_are_not_calibrated():
    y = np.r_[np.ones(10), np.zeros(30)].astype(int)
    oof = np.r_[np.linspace(-3, -1, 10), np.linspace(0, 3, 30)]  # positives score lowest
    m = calibrate_oof(LinearModel(w=np.ones(2, np.float32), b=0.0), y, oof, 0.8)
    assert not m.calibrated and "do not rank" in m.calibration and m.threshold is None


def test_threshold_at_precision_by_hand():
    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert threshold_at_precision(y, p, 0.75) == (0.6, 0.75, 1.0)  # 3 of the top 4
    assert threshold_at_precision(y, p, 0.9) == (0.8, 1.0, 2 / 3)
    assert threshold_at_precision(np.array([0, 1, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]), 0.8) is None


def test_unreachable_target_is_none_in_the_version_and_nan_in_the_api(digit3):
    Xtr, _, ytr, _, _ = digit3
    rng = np.random.default_rng(0)
    y = rng.permutation(ytr)  # labels unrelated to the pixels
    m = fit_label_model(Xtr, y, None, tune=False, precision_target=1.0)
    meta = ModelVersion.for_model(m, label="x", version=1, head="visual", embedding_model="e")
    if m.calibrated:
        p_oof = m.calibrate(_sk_oof(Xtr, y))
        reachable = any(_precision_recall(y, p_oof, t)[0] >= 1.0 for t in np.unique(p_oof))
        assert (m.threshold is not None) == reachable
    if m.threshold is None:
        assert meta.threshold is None and meta.threshold_recall is None and meta.threshold_precision == 1.0


@pytest.mark.parametrize("target", [0.0, -0.1, 1.5, float("nan"), "high", None])
def test_bad_precision_target(digit3, target):
    Xtr, _, ytr, _, _ = digit3
    with pytest.raises(BadInput) as e:
        fit_label_model(Xtr, ytr, None, precision_target=target)
    assert e.value.reason == "bad_precision_target"
    assert fit_label_model(Xtr, ytr, None, tune=False, precision_target=np.float32(0.9)).threshold_precision == \
        pytest.approx(0.9)


def test_round_trip_keeps_the_calibration(digit3):
    Xtr, Xte, ytr, _, text = digit3
    m = fit_label_model(Xtr, ytr, text)
    meta = ModelVersion.for_model(m, label="digit-3", version=2, head="joint", embedding_model="e")
    assert meta.calibrated and meta.threshold == m.threshold and meta.threshold_recall == m.threshold_recall
    m2, meta2 = model_from_bytes(model_to_bytes(m, meta))
    assert meta2 == meta and m2.platt == m.platt and m2.threshold == m.threshold
    np.testing.assert_array_equal(m2.probability(Xte), m.probability(Xte))
    doc = asdict(meta)
    assert json.loads(json.dumps(doc, allow_nan=False)) == json.loads(json.dumps(doc))  # strict JSON: no NaN


# A version's metadata as written before calibration existed (no calibration fields).
OLD_VERSION = {"label": "old-one", "version": 4, "kind": "linear", "head": "visual", "embedding_model": "e",
               "ap": 0.9, "ap_ci": [0.8, 0.95], "n_pos": 5, "n_neg": 20, "trained_at": 1.0, "train_seconds": 0.1,
               "ap_trained": 0.9, "ap_zero_shot": None, "ap_combined": None, "chosen_because": "trained"}


def _old_blob(w: np.ndarray, b: float) -> bytes:
    """A blob as written before calibration existed (no "platt" either)."""
    buf = io.BytesIO()
    np.savez(buf, w=w.astype(np.float32), b=np.float64(b), meta=np.frombuffer(
        json.dumps({"version": OLD_VERSION, "model": {"C": 3.0, "ap_cv": 0.9, "ap_ci": [0.8, 0.95]}}).encode(),
        dtype=np.uint8))
    return buf.getvalue()


def test_old_blobs_load_uncalibrated():
    m, meta = model_from_bytes(_old_blob(np.ones(4), 0.5))
    assert not m.calibrated and not meta.calibrated and meta.threshold is None
    assert np.isnan(m.probability(np.eye(4, dtype=np.float32))).all()
    np.testing.assert_allclose(m.decision(np.eye(4, dtype=np.float32)), 1.5)
    assert "not calibrated" in m.calibration


def test_metrics_helpers_by_hand():
    assert sigmoid(0.0) == 0.5 and sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0
    assert platt_probability(np.zeros(3), None).shape == (3,) and np.isnan(platt_probability(1.0, None))
    assert platt_probability(2.0, (0.5, -1.0)) == pytest.approx(0.5)
    # bins [0.1, 0.2): p 0.1, 0.15, y 0, 1 → |1 − 0.25| ; bin [0.9, 1]: p 0.9, 1.0, y 1, 1 → |2 − 1.9|
    y, p = np.array([0, 1, 1, 1]), np.array([0.1, 0.15, 0.9, 1.0])
    assert expected_calibration_error(y, p) == pytest.approx((0.75 + 0.1) / 4)
    assert math.isnan(expected_calibration_error(np.array([]), np.array([])))


# -- the scorer's per-video probability and the query API ---------------------------------------

class _Row:
    def __init__(self, video_id: str, i: int, vectors: dict[str, np.ndarray]):
        self.pk, self.video_id, self.shot_index, self.vectors = hash((video_id, i)), video_id, i, vectors


class _Index:
    dims = {"visual": 64, "joint": 64}

    def __init__(self, rows: list[_Row]):
        self.rows = {r.pk: r for r in rows}

    def pk_of(self, video_id: str, i: int) -> int:
        return hash((video_id, i))

    def get(self, pks, heads=()):  # type: ignore[no-untyped-def]
        return [self.rows[p] for p in pks if p in self.rows]


class _Registry:
    def __init__(self, blobs: dict[tuple[str, int], bytes], metas: dict[tuple[str, int], dict],
                 per_video: dict[str, dict] | None = None):
        self.blobs, self.metas, self.per_video, self.stored = blobs, metas, per_video or {}, []

    def labels(self): return sorted({k for k, _ in self.blobs})  # noqa: E704
    def exists(self, label): return label in self.labels()  # noqa: E704
    def deployed(self, label): return max(v for k, v in self.blobs if k == label)  # noqa: E704
    def pinned(self, label): return False  # noqa: E704
    def model_blob(self, label, version): return self.blobs.get((label, version))  # noqa: E704
    def versions(self, label): return {v: m for (k, v), m in self.metas.items() if k == label}  # noqa: E704
    def annotations(self, label): return []  # noqa: E704
    def meta(self, label): return {"description": ""}  # noqa: E704
    def video_read_models(self, ids): return [(None, self.per_video.get(v, {})) for v in ids]  # noqa: E704
    def push_recent(self, label, scores): pass  # noqa: E704
    def training_since_ms(self, label): return 0  # noqa: E704
    def dirty_score(self, label): return None  # noqa: E704

    def set_video_classifier(self, video_id, label, version, score, probability=None):  # type: ignore[no-untyped-def]
        self.stored.append((video_id, label, version, score, probability))


class _Context:
    def abort(self, code, message):  # type: ignore[no-untyped-def]
        raise grpc.RpcError(code, message)


@pytest.fixture(scope="module")
def deployed(digit3):
    Xtr, Xte, ytr, _, _ = digit3
    m = fit_label_model(Xtr, ytr, None, tune=False)
    meta = ModelVersion.for_model(m, label="digit-3", version=1, head="visual", embedding_model="e")
    rows = [_Row("vid", i, {"visual": Xte[i], "joint": Xte[i]}) for i in range(40)]
    blobs = {("digit-3", 1): model_to_bytes(m, meta), ("old-one", 4): _old_blob(np.ones(64), 0.0)}
    metas = {("digit-3", 1): json.loads(json.dumps(asdict(meta))), ("old-one", 4): dict(OLD_VERSION)}
    return m, meta, rows, blobs, metas, Xte[:40]


def test_scorer_stores_the_probability_of_the_video_aggregate(deployed):
    from services.scorer.classifiers import ClassifierScorer

    m, meta, rows, blobs, metas, X = deployed
    reg = _Registry({("digit-3", 1): blobs[("digit-3", 1)]}, metas)
    scorer = ClassifierScorer(reg, _Index(rows), aggregate="max")  # type: ignore[arg-type]
    [vs] = scorer.score("vid", 40, {"vid/0"})
    top = float((X @ m.w + np.float32(m.b)).max())
    a, c = m.platt
    assert vs.score == pytest.approx(top, abs=1e-5)
    assert vs.probability == pytest.approx(1 / (1 + math.exp(-(a * top + c))), abs=1e-6)
    scorer.store("vid", [vs])
    assert reg.stored == [("vid", "digit-3", 1, vs.score, vs.probability)]


def test_query_api_maps_calibration(deployed):
    from services.query.servicer import QueryServicer
    from shotline.settings import Settings
    from shotline.v1 import common_pb2, query_pb2

    m, meta, rows, blobs, metas, X = deployed
    per_video = {"vid": {"digit-3": {"version": 1, "score": 2.0, "probability": 0.97},
                         "old-one": {"version": 4, "score": 1.0}},
                 "low": {"digit-3": {"version": 1, "score": -3.0, "probability": 0.01}},
                 "rescored": {"digit-3": {"version": 1, "score": 2.0}}}  # the trainer's rescore stores no p
    reg = _Registry(blobs, metas, per_video)
    svc = QueryServicer(Settings(), _Index(rows), common_pb2.ModelRef(), None, reg, None)  # type: ignore[arg-type]
    ctx = _Context()

    v = svc.GetClassifier(query_pb2.GetClassifierRequest(label="digit-3"), ctx).versions[0]
    assert v.calibrated and v.threshold == pytest.approx(m.threshold) and v.threshold_precision == 0.8
    assert v.threshold_recall == pytest.approx(m.threshold_recall)
    old = svc.GetClassifier(query_pb2.GetClassifierRequest(label="old-one"), ctx).versions[0]
    assert not old.calibrated and math.isnan(old.threshold) and math.isnan(old.threshold_recall)
    assert math.isnan(old.threshold_precision)

    ids = [f"vid/{i}" for i in range(40)]
    res = svc.ScoreShots(query_pb2.ScoreShotsRequest(label="digit-3", shot_ids=ids), ctx)
    a, c = m.platt
    for s in ids:  # the probability is the stored calibration applied to the returned score
        assert res.probabilities[s] == pytest.approx(1 / (1 + math.exp(-(a * res.scores[s] + c))), abs=1e-9)
    assert res.threshold == pytest.approx(m.threshold)
    np.testing.assert_allclose([res.probabilities[s] for s in ids], m.probability(X), atol=1e-5)
    res = svc.ScoreShots(query_pb2.ScoreShotsRequest(label="old-one", shot_ids=ids[:3]), ctx)
    assert len(res.scores) == 3 and not res.probabilities and math.isnan(res.threshold)

    got = {c.label: c for c in svc.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id="vid"),
                                                      ctx).classifiers}
    assert got["digit-3"].probability == 0.97 and got["digit-3"].positive == (0.97 >= m.threshold)
    assert math.isnan(got["old-one"].probability) and not got["old-one"].positive
    [low] = svc.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id="low"), ctx).classifiers
    assert low.probability == 0.01 and low.positive == (0.01 >= m.threshold)
    [rescored] = svc.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id="rescored"), ctx).classifiers
    assert rescored.score == 2.0 and math.isnan(rescored.probability) and not rescored.positive
