"""CategoryService end to end on the real MiniLM text encoder and a small synthetic training set."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from research import category_datasets as datasets
from shotline.categories import visual_model as vm
from shotline.categories.inputs import VideoText
from shotline.categories.service import CategoryService
from shotline.categories.text_model import ZeroShotText
from shotline.categories.train import fit
from shotline.errors import BadInput
from shotline.models import load_bundle
from shotline.models.build_default import build_default_bundle
from shotline.taxonomy import load_taxonomy

@pytest.fixture(scope="module")
def encode():
    return load_bundle(build_default_bundle()).encode_text  # built by `make setup`; reused, never skipped


@pytest.fixture(scope="module")
def fitted(encode):
    tax = load_taxonomy()
    train = datasets.synthetic_benchmark(tax, encode, 400, seed=1)
    val = datasets.synthetic_benchmark(tax, encode, 300, seed=2)
    human = {e.request.video_id for e in train[:40]}
    svc, info = fit(tax, encode, train, val, human, kind="meanpool", policy="union", cfg=vm.TrainConfig(epochs=5))
    test = datasets.synthetic_benchmark(tax, encode, 50, seed=3)
    return svc, info, test


def test_zero_shot_ranks_the_right_category(encode) -> None:
    tax = load_taxonomy()
    zs = ZeroShotText.build(tax, encode)
    cos = zs.cosines(encode(["my kitten chasing a toy mouse", "changing the oil of my car in the garage",
                             "surfing big waves in hawaii"]))
    top3 = [[tax.ids[j] for j in np.argsort(-row)[:3]] for row in cos]
    assert "pets.cats" in top3[0]
    assert "automotive.car-repair" in top3[1]
    assert "sports.surfing" in top3[2]


def test_classify_returns_taxonomy_categories_with_versions(fitted) -> None:
    svc, info, test = fitted
    assert info["pseudo_labels"]["human_videos"] == 40 and 0 < info["pseudo_labels"]["human_share_of_positives"] <= 1
    results = svc.classify_batch([e.request for e in test])
    assert sum(bool(r.categories) for r in results) > 0
    tp = fp = 0
    for e, r in zip(test, results):
        assert r.taxonomy_version == "shotline-iab-like-v1" and r.model_versions["categories"] == svc.version
        ids = [h.id for h in r.categories]
        assert len(ids) == len(set(ids)) and all(i in svc.tax for i in ids)
        assert [h.score for h in r.categories] == sorted((h.score for h in r.categories), reverse=True)
        for h in r.categories:
            assert h.source in {"text", "visual", "merged"}
            assert all(a in ids for a in svc.tax.ancestors(h.id))  # hierarchy-closed
            tp, fp = tp + (h.id in e.labels), fp + (h.id not in e.labels)
    assert tp > fp  # far better than chance on held-out videos


def test_single_video_matches_batch(fitted) -> None:
    # Its speed is measured by `make bench ONLY=taxonomy`, not asserted here.
    svc, _, test = fitted
    r = test[0].request
    one = svc.classify(r.video_id, r.shot_vectors, r.text, r.duration_ms, r.catalog_id)
    batch = svc.classify_batch([r, test[1].request])[0]
    assert [h.id for h in one.categories] == [h.id for h in batch.categories]


def test_empty_and_bad_inputs(fitted) -> None:
    svc, _, _ = fitted
    nothing = svc.classify("v-empty", {"joint": np.zeros((0, 384), np.float32)}, VideoText())
    assert nothing.categories == [] and set(nothing.notes) == {"no_text", "no_shots"}
    text_only = svc.classify("v-text", {"joint": np.zeros((0, 384), np.float32)},
                             VideoText("Отличный рецепт борща", language="ru"))
    assert "no_shots" in text_only.notes  # any language or none: a result, never a crash
    with pytest.raises(BadInput) as e:
        svc.classify("v-bad", {"joint": np.zeros((3, 100), np.float32)})
    assert e.value.reason == "bad_shot_vectors"
    with pytest.raises(BadInput):
        svc.classify("v-nan", {"joint": np.full((2, 384), np.nan, np.float32)})
    with pytest.raises(BadInput) as e:
        svc.classify("v-head", {"visual": np.zeros((2, 1280), np.float32)})
    assert e.value.reason == "missing_head"


def test_save_load_round_trip_and_meta_policy(fitted, encode, tmp_path: Path) -> None:
    svc, _, test = fitted
    svc.save(tmp_path / "m")
    again = CategoryService.load(tmp_path / "m", encode)
    assert again.version == svc.version
    reqs = [e.request for e in test[:10]]
    a, b = svc.classify_batch(reqs), again.classify_batch(reqs)
    assert [[(h.id, round(h.score, 5)) for h in r.categories] for r in a] == \
           [[(h.id, round(h.score, 5)) for h in r.categories] for r in b]
    meta = CategoryService(replace(svc.m, policy="meta"), encode)
    assert meta.version != svc.version and meta.classify_batch(reqs)[0].model_versions["policy"] == "meta"
    with pytest.raises(BadInput):
        CategoryService.load(tmp_path / "nowhere", encode)


def test_day_one_zero_shot_on_a_real_photo(encode) -> None:
    """No labels, no trained model: the joint-space visual zero-shot still reads real pixels."""
    from skimage import data

    from shotline.categories.train import day_one

    bundle = load_bundle(build_default_bundle())
    shots = bundle.encode_images([data.chelsea(), data.coffee()])
    svc = day_one(load_taxonomy(), encode, threshold=0.5)
    assert svc.model_versions["visual"] == "zero_shot:joint"
    rows, p = svc.visual_zero_shot_scores([svc_req(shots, 0), svc_req(shots, 1)])
    vis_ids = [c for c in svc.tax.ids if svc.tax[c].visual]
    top = [[vis_ids[j] for j in np.argsort(-row)[:5]] for row in p]
    assert "pets.cats" in top[0] and "food-drink.coffee-tea" in top[1]
    result = svc.classify("cat-photo", {h: v[:1] for h, v in shots.items()}, VideoText("Mon chat", language="fr"))
    assert result.taxonomy_version == svc.tax.version  # runs end to end without any training


def svc_req(shots: dict[str, np.ndarray], i: int):
    from shotline.categories.service import Request

    return Request(f"photo-{i}", {h: v[i : i + 1] for h, v in shots.items()})
