"""Category building blocks on real inputs: visual models (torch vs ONNX Runtime), thresholds,
labels, pseudo-labels and the supervised text model."""

from __future__ import annotations

import numpy as np
import pytest

from shotline.categories import merge, pseudo
from shotline.categories import visual_model as vm
from shotline.categories.inputs import META_DIM, meta_features
from shotline.categories.text_model import SupervisedText
from shotline.errors import BadInput
from shotline.taxonomy import load_taxonomy


def _clustered(n: int, n_labels: int, dim: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Videos whose shots scatter around their label's centre, plus off-topic shots."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(n_labels, dim)).astype(np.float32)
    vids, y = [], np.zeros((n, n_labels), np.float32)
    for i in range(n):
        lab = rng.integers(n_labels)
        y[i, lab] = 1
        k = int(rng.integers(1, 7))
        shots = centres[lab] + rng.normal(size=(k, dim)).astype(np.float32) * 1.5
        if rng.random() < 0.5:  # an unrelated shot
            shots = np.vstack([shots, rng.normal(size=(1, dim)).astype(np.float32) * 2])
        vids.append(shots.astype(np.float32))
    return vids, y


@pytest.mark.parametrize("kind", ["meanpool", "nextvlad"])
def test_visual_model_learns_and_onnx_matches_torch(kind: str) -> None:
    vids, y = _clustered(200, 5, 32, seed=0)
    meta = np.zeros((len(vids), META_DIM), np.float32)
    model = vm.build(kind, dim=32, n_labels=5, meta_dim=META_DIM, hidden=64)
    vm.train(model, vids, meta, y, np.ones_like(y), vm.TrainConfig(epochs=12, batch_size=32))
    test_vids, test_y = _clustered(100, 5, 32, seed=1)
    test_meta = np.zeros((100, META_DIM), np.float32)
    p_torch = vm.torch_predict(model, test_vids, test_meta)
    assert (p_torch.argmax(1) == test_y.argmax(1)).mean() > 0.8  # chance is 0.2
    ort_model = vm.OrtVisualModel(vm.export_onnx(model))
    p_ort = ort_model.predict(test_vids, test_meta)
    assert np.abs(p_ort - p_torch).max() < 1e-4
    # Padding is masked out: a video alone scores as it does next to a longer one.
    alone = ort_model.predict(test_vids[:1], test_meta[:1])
    assert np.abs(alone - p_ort[:1]).max() < 1e-5


def test_visual_model_rejects_bad_shapes() -> None:
    model = vm.build("meanpool", dim=8, n_labels=2, meta_dim=META_DIM, hidden=8)
    ort_model = vm.OrtVisualModel(vm.export_onnx(model))
    with pytest.raises(BadInput):
        ort_model.predict([np.zeros((3, 9), np.float32)], np.zeros((1, META_DIM)))
    with pytest.raises(BadInput):
        vm.build("transformer", dim=8, n_labels=2)
    with pytest.raises(BadInput):
        vm.train(model, [], np.zeros((0, META_DIM)), np.zeros((0, 2)), np.zeros((0, 2)))


def test_threshold_is_lowest_score_reaching_target_precision() -> None:
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    y = np.array([1, 1, 1, 0, 1, 1, 0, 0])
    # Pessimistic precision tp/(n+1) by cut: .5, .67, .75, .6, .67, .71, .63, .56.
    assert merge.threshold_for_precision(scores, y, 0.7) == pytest.approx(0.5)  # most recall
    assert merge.threshold_for_precision(scores, y, 0.75) == pytest.approx(0.8)
    assert merge.threshold_for_precision(scores, y, 0.8) is None  # 3 of 3 is not proof of 80%
    noisy = np.array([0, 1] * 10)
    t = merge.pick_thresholds(np.c_[np.linspace(1, 0, 20), np.linspace(1, 0, 20)],
                              np.c_[np.r_[np.ones(6), np.zeros(14)], noisy], ["good", "noise"])
    assert "good" in t.values and t.disabled["noise"] == "precision_below_0.80"


def test_merge_union_and_metrics() -> None:
    text = np.array([[0.9, 0.1], [0.0, 0.0]])
    vis = np.array([[0.2, 0.7], [0.0, 0.3]])
    sel, score = merge.union(text, vis, np.array([0.5, 0.5]), np.array([0.6, 0.6]))
    assert sel.tolist() == [[True, True], [False, False]] and score[0].tolist() == [0.9, 0.7]
    m = merge.metrics(sel, np.array([[1, 0], [0, 1]]))
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["coverage"] == 0.5


def test_pseudo_labels_prefer_humans_and_skip_unknowns() -> None:
    text_p = np.array([[0.95, 0.5, 0.01], [0.0, 0.0, 0.0], [0.2, 0.92, 0.05]], np.float32)
    human_y = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0]], np.float32)
    known = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 1]], bool)
    y, w, stats = pseudo.make_targets(text_p, human_y, known, pos_threshold=0.9, neg_threshold=0.1)
    assert y.tolist() == [[1, 0, 0], [0, 0, 0], [1, 0, 0]]
    assert w.tolist() == [[1, 0, 1], [0, 0, 0], [1, 1, 1]]  # middling / no text → unknown
    assert stats.human_positives == 1 and stats.pseudo_positives == 1 and stats.human_share_of_positives == 0.5


def test_supervised_text_is_language_agnostic() -> None:
    cooking = ["receta de cocina fácil", "recette de cuisine facile", "easy cooking recipe", "レシピ 料理 簡単",
               "cocina casera rápida", "cuisine maison rapide", "home cooking quick recipe", "料理 レシピ 家庭"]
    cars = ["prueba del coche nuevo", "essai de la voiture neuve", "new car test drive", "新車 試乗 レビュー",
            "coche deportivo rápido", "voiture de sport rapide", "fast sports car review", "車 試乗 スポーツカー"]
    y = np.array([[1, 0]] * 8 + [[0, 1]] * 8, np.float32)
    model = SupervisedText().fit(cooking + cars, y)
    p, covered = model.predict(["receta rápida de cocina", "試乗 新車", "voiture neuve essai"], 2)
    assert covered.all()
    assert p.argmax(1).tolist() == [0, 1, 1]


def test_meta_features() -> None:
    f = meta_features("pt-BR", 120_000, "catalog-1")
    assert f.shape == (META_DIM,) and f.sum() > 2
    assert meta_features("", None)[:13].argmax() == 12  # "none" slot


def test_union_thresholds_drop_the_model_that_breaks_precision() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((400, 1)) < 0.3).astype(np.float32)
    text = np.where(y > 0, 0.9, 0.1) + rng.normal(0, 0.02, y.shape)  # clean text model
    vis = rng.random(y.shape)  # a visual model that is pure noise
    t_text = merge.Thresholds({"c": 0.5})
    t_vis = merge.Thresholds({"c": 0.3})  # fires on 70% of videos: wrecks the union
    ut, uv = merge.union_thresholds(text, vis, y, ["c"], t_text, t_vis)
    assert ut.values == {"c": 0.5} and "c" not in uv.values and uv.disabled["c"] == "union_precision"
