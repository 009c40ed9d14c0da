"""A retrained (human-adapted) category service on the real text encoder: labels change the
labelled video's scores, the artefact round-trips through bytes with the same version and answers,
and the trainer's label handling (latest wins, CLEARED, dirty flag) over a stand-in read model."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from research import category_datasets as datasets
from services.trainer.categories import CategoryLabels
from shotline.categories import human
from shotline.categories.service import CategoryService, artefact_bytes, models_from_bytes
from shotline.categories.train import day_one
from shotline.events import new_meta
from shotline.models import load_bundle
from shotline.models.build_default import build_default_bundle
from shotline.settings import Settings
from shotline.taxonomy import load_taxonomy
from shotline.v1 import events_pb2

@pytest.fixture(scope="module")
def encode():
    return load_bundle(build_default_bundle()).encode_text  # built by `make setup`; reused, never skipped


def test_labels_change_the_next_categories_and_the_artefact_round_trips(encode) -> None:  # type: ignore[no-untyped-def]
    tax = load_taxonomy()
    base = day_one(tax, encode)
    ex = datasets.synthetic_benchmark(tax, encode, 200, seed=4)
    reqs = [e.request for e in ex]
    before = {r.video_id: {h.id for h in r.categories} for r in base.classify_batch(reqs)}
    # The person's picks, from what the base model serves: a wrong category it shows, and a right one it misses.
    vid = next(v for v, cats in before.items() if cats)
    wrong = sorted(before[vid])[0]
    missing = next(c for c in tax.ids if c not in before[vid] and not tax.children(c))
    labels = {vid: {wrong: False, missing: True}}
    t0 = time.perf_counter()
    models, info = human.retrain(base, reqs, labels, release=7)
    assert time.perf_counter() - t0 < 60
    svc = CategoryService(models, encode)
    assert svc.version.startswith("h7-") and svc.version != base.version
    i = [r.video_id for r in reqs].index(vid)
    s_base, s_new = base.scores([reqs[i]]), svc.scores([reqs[i]])
    j_w, j_m = tax.ids.index(wrong), tax.ids.index(missing)
    p_new = svc.m.adapter.predict(s_new.features, svc.base_proba(s_new)[:, svc._adapted])
    k_w, k_m = svc.m.adapter.category_ids.index(wrong), svc.m.adapter.category_ids.index(missing)
    assert p_new[0, k_m] > svc.base_proba(s_base)[0, j_m]  # the missing category moved up
    assert p_new[0, k_w] < svc.base_proba(s_base)[0, j_w]  # the wrong one moved down
    # Served with the video's labels: exactly what the person said.
    res = svc.classify_batch([reqs[i]])[0]
    doc = human.apply_labels({"categories": [{"category_id": h.id, "name": h.name, "score": h.score,
                                              "threshold": h.threshold, "source": h.source} for h in res.categories]},
                             labels[vid], tax)
    served = {c["category_id"] for c in doc["categories"]}
    assert missing in served and wrong not in served
    # The artefact (the blob the scorers load) gives the same version and the same answers.
    again = CategoryService(models_from_bytes(artefact_bytes(models), tax), encode)
    assert again.version == svc.version
    a, b = svc.classify_batch(reqs[:20]), again.classify_batch(reqs[:20])
    assert [[(h.id, round(h.score, 5)) for h in x.categories] for x in a] == \
           [[(h.id, round(h.score, 5)) for h in x.categories] for x in b]


class _Registry:
    """The read-model calls CategoryLabels makes, over dicts."""

    def __init__(self) -> None:
        self.labels: dict[str, dict[str, dict]] = {}
        self.dirty: float | None = None

    def video_category_labels(self, vid: str) -> dict:
        return dict(self.labels.get(vid, {}))

    def set_video_category_labels(self, vid: str, upserts: dict, clears: list) -> None:
        cur = self.labels.setdefault(vid, {})
        cur.update(upserts)
        for c in clears:
            cur.pop(c, None)

    def mark_categories_dirty(self, at: float | None = None) -> None:
        self.dirty = at or time.time()


def _event(vid: str, items: list[tuple[str, int]], ts_s: int) -> SimpleNamespace:
    ev = events_pb2.CategoryLabelsSubmitted(meta=new_meta(vid, "test"), annotator="ann",
                                            labels=[events_pb2.VideoCategoryLabel(category_id=c, value=v) for c, v in items])
    ev.meta.occurred_at.FromSeconds(ts_s)
    return SimpleNamespace(topic="shotline.categories.labels", partition=0, offset=0, value=ev.SerializeToString())


def test_trainer_stores_latest_labels_and_marks_the_model_dirty() -> None:
    reg = _Registry()
    base = SimpleNamespace(tax=load_taxonomy())
    cl = CategoryLabels(Settings(), reg, None, None, base)  # type: ignore[arg-type]
    P, N, C = events_pb2.LABEL_VALUE_POSITIVE, events_pb2.LABEL_VALUE_NEGATIVE, events_pb2.LABEL_VALUE_CLEARED
    assert cl.handle(_event("v1", [("pets.cats", P), ("sports", N)], 100)) == []
    assert reg.dirty is not None
    assert {c: d["v"] for c, d in reg.labels["v1"].items()} == {"pets.cats": "positive", "sports": "negative"}
    cl.handle(_event("v1", [("pets.cats", N)], 50))  # an older event, redelivered late: ignored
    assert reg.labels["v1"]["pets.cats"]["v"] == "positive"
    cl.handle(_event("v1", [("pets.cats", C), ("sports", P)], 200))
    assert {c: d["v"] for c, d in reg.labels["v1"].items()} == {"sports": "positive"}
    out = cl.handle(_event("v1", [("nope", P), ("travel", P)], 300))  # partly bad: the rest is kept, the error said
    assert reg.labels["v1"]["travel"]["v"] == "positive" and len(out) == 1 and b"nope" in out[0].value
    with pytest.raises(Exception):
        cl.handle(_event("v1", [("nope", P)], 400))  # nothing valid: dead-lettered


def test_a_failing_category_retrain_does_not_stop_the_trainer() -> None:
    from services.trainer.handler import TrainerHandler

    class Cats:
        undirtied: list[float] = []

        def due(self) -> float:
            return 123.0

        def retrain(self):  # type: ignore[no-untyped-def]
            raise ValueError("no usable videos")

        def undirty(self, seen_at: float) -> None:
            self.undirtied.append(seen_at)

    cats = Cats()
    reg = SimpleNamespace(due=lambda debounce: [])
    h = TrainerHandler(Settings(), reg, SimpleNamespace(), categories=cats)  # type: ignore[arg-type]
    res = h.tick()
    assert res.outputs == []
    res.on_delivered()
    assert cats.undirtied == [123.0]  # retried on the next label event, not in a crash loop
