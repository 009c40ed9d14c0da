"""What is said and shown as category text sources, on the real MiniLM encoder: the uploader's
text alone scores exactly as before, a transcript alone can carry a category, and the sources'
weights are learned from labelled videos that have them."""

from __future__ import annotations

import numpy as np
import pytest

from research import category_datasets as datasets
from shotline.categories import visual_model as vm
from shotline.categories.inputs import VideoText
from shotline.categories.service import load_models, save_models
from shotline.categories.text_model import TextBlend, TextModel, ZeroShotText, embed_documents
from shotline.categories.train import day_one, fit
from shotline.models import load_bundle
from shotline.models.build_default import build_default_bundle
from shotline.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def encode():
    return load_bundle(build_default_bundle()).encode_text


@pytest.fixture(scope="module")
def zs(encode) -> ZeroShotText:
    return ZeroShotText.build(load_taxonomy(), encode)


def test_the_uploaders_text_alone_scores_as_the_zero_shot_does(encode, zs: ZeroShotText) -> None:
    texts = [VideoText("My kitten chasing a toy mouse"), VideoText("Changing the oil of my car", "in the garage")]
    got = TextModel(zs).predict(texts, encode)
    want = zs.proba_from_cos(zs.cosines(encode([t.joined() for t in texts])))
    np.testing.assert_array_equal(got, want)
    assert not TextModel(zs).predict([VideoText()], encode).any()  # no text at all: 0


def test_a_transcript_alone_carries_its_category(encode, zs: ZeroShotText) -> None:
    tax = load_taxonomy()
    cats = tax.ids.index("pets.cats")
    said = VideoText(transcript="hey guys welcome back so today my kitten is chasing a toy mouse around the "
                                "living room and the cat keeps purring " * 20)  # ~400 words: several windows
    p = TextModel(zs).predict([said, VideoText(transcript="hey guys welcome back thanks for watching")], encode)
    assert int(np.argmax(p[0])) == cats or cats in np.argsort(-p[0])[:3]
    assert p[0, cats] > p[1, cats]
    # long texts are embedded whole, as the mean of their windows, not cut at the encoder's limit
    long = embed_documents([said.transcript], encode)
    assert long.shape == (1, zs.E.shape[1]) and np.isclose(np.linalg.norm(long), 1.0, atol=1e-5)


def test_sources_add_up_in_log_odds() -> None:
    blend = TextBlend()
    meta = (np.array([0, 1]), np.array([[0.9], [0.5]], np.float32))
    speech = (np.array([1, 2]), np.array([[0.9], [0.9]], np.float32))
    p = blend.combine({"metadata": meta, "speech": speech}, 4, 1)[:, 0]
    assert p[0] == pytest.approx(0.9)                      # uploader's text alone: unchanged
    assert p[1] == pytest.approx(1 / (1 + np.exp(-0.7 * np.log(9))), abs=1e-6)  # 0.5 adds nothing
    assert p[2] == p[1] and p[3] == 0.0                     # speech alone, weighted; nothing: 0


def test_weights_are_learned_from_videos_with_spoken_text(encode, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tax = load_taxonomy()
    train = datasets.synthetic_benchmark(tax, encode, 200, seed=11, p_speech=0.6, p_on_screen=0.4)
    val = datasets.synthetic_benchmark(tax, encode, 300, seed=12, p_speech=0.6, p_on_screen=0.4)
    human = {e.request.video_id for e in train[:40]}
    svc, info = fit(tax, encode, train, val, human, kind="meanpool", policy="union", cfg=vm.TrainConfig(epochs=2))
    blend = svc.m.text_blend
    assert blend is not None and blend.learned_from == info["text_blend"]["learned_from"] > 50
    assert blend.weights["speech"] > 0 and blend.weights["on_screen"] > 0  # each source is evidence
    # persisted with the artefact, and part of its version
    back = load_models(save_models(svc.m, tmp_path))
    assert back.text_blend == blend
    # without such videos the defaults stay, and say so
    plain, plain_info = fit(tax, encode, train, datasets.synthetic_benchmark(tax, encode, 300, seed=12), human,
                            kind="meanpool", policy="union", cfg=vm.TrainConfig(epochs=2))
    assert plain.m.text_blend is None and plain_info["text_blend"].startswith("defaults")
    assert plain.version != svc.version
    print("\nlearned text blend:", blend.to_json())


def test_day_one_reads_what_is_said(encode) -> None:
    tax = load_taxonomy()
    svc = day_one(tax, encode)
    silent = svc.scores([_req("v", VideoText())])
    spoken = svc.scores([_req("v", VideoText(transcript="my kitten is chasing a toy mouse, the cat loves it"))])
    j = tax.ids.index("pets.cats")
    assert silent.text[0, j] == 0 and spoken.text[0, j] > 0 and spoken.has_text[0] and not silent.has_text[0]


def _req(vid: str, text: VideoText):  # type: ignore[no-untyped-def]
    from shotline.categories.service import Request
    return Request(vid, {"joint": np.zeros((0, 384), np.float32)}, text)
