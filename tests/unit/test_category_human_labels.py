"""Category labels from people: the label store's rules, request checks, the hierarchy, the
adapter's fit and thresholds, and a retrained service end to end (save → load → same answers)."""

from __future__ import annotations

import numpy as np
import pytest

from shotline.categories import human, merge
from shotline.categories.human import HumanLabel
from shotline.errors import BadInput
from shotline.taxonomy import load_taxonomy

TAX = load_taxonomy()


def test_latest_label_wins_and_cleared_removes() -> None:
    cur = {"pets.cats": HumanLabel("pets.cats", True, "ann", 2000), "pets.dogs": HumanLabel("pets.dogs", True, "ann", 1000)}
    m = human.merge_event(cur, [("pets.cats", "negative"), ("pets.dogs", "cleared"), ("sports", "positive")], "b", 1500, TAX)
    assert m.stale == 1 and "pets.cats" not in m.upserts  # stored label is newer than the event
    assert m.clears == ["pets.dogs"]
    assert m.upserts["sports"] == HumanLabel("sports", True, "b", 1500)
    # a newer event overrides; clearing an unlabelled category changes nothing
    m = human.merge_event(cur, [("pets.cats", "negative"), ("travel", "cleared")], "c", 3000, TAX)
    assert m.upserts["pets.cats"].positive is False and m.clears == []


def test_event_problems_are_reported_and_later_in_the_event_wins() -> None:
    m = human.merge_event({}, [("nope", "positive"), ("pets", "unspecified"), ("travel", "positive"),
                               ("travel", "negative")], "a", 1, TAX)
    assert not m.upserts["travel"].positive
    assert any("nope" in p for p in m.problems) and any("pets" in p for p in m.problems)
    assert any("contradictory" in p for p in m.problems)


@pytest.mark.parametrize("labels, reason", [
    ([], "bad_request"),
    ([("pets.cats", 1), ("not.a.category", 1), ("zzz", 2)], "unknown_category"),
    ([("pets.cats", 0)], "bad_label_value"),
    ([("pets.cats", 1), ("pets.cats", 2)], "contradictory_labels"),
    ([("pets.cats", 1)] * (human.MAX_LABELS_PER_REQUEST + 1), "too_many"),
])
def test_request_checks(labels, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadInput) as e:
        human.check_request(TAX, "v1", labels, "ann")
    assert e.value.reason == reason
    if reason == "unknown_category":
        assert "not.a.category" in str(e.value) and "zzz" in str(e.value) and "pets.cats" not in str(e.value)


def test_request_checks_pass_and_video_id_is_required() -> None:
    human.check_request(TAX, "v1", [("pets.cats", 1), ("pets.cats", 1), ("sports", 3)], "")
    with pytest.raises(BadInput):
        human.check_request(TAX, "", [("pets.cats", 1)], "")


def test_hierarchy_positive_pulls_ancestors_negative_pushes_descendants() -> None:
    closed = human.closed_labels(TAX, {"pets.cats": True, "sports": False})
    assert closed["pets"] is True
    assert all(closed[c.id] is False for c in TAX.children("sports"))
    # an explicit label beats an implied one
    assert human.closed_labels(TAX, {"pets": False, "pets.cats": True})["pets"] is False


def test_apply_labels_to_a_served_document() -> None:
    doc = {"categories": [{"category_id": "pets.dogs", "name": "Dogs", "score": 0.95, "threshold": 0.9, "source": "visual"},
                          {"category_id": "pets", "name": "Pets", "score": 0.95, "threshold": 0.9, "source": "visual"},
                          {"category_id": "travel", "name": "Travel", "score": 0.92, "threshold": 0.9, "source": "text"}],
           "model_versions": {"categories": "x"}}
    out = human.apply_labels(doc, {"pets": False, "sports.cycling": True}, TAX)
    ids = [c["category_id"] for c in out["categories"]]
    assert "pets" not in ids and "pets.dogs" not in ids  # a negative parent removes its children
    assert {"sports.cycling", "sports", "travel"} <= set(ids)
    added = {c["category_id"]: c for c in out["categories"]}["sports.cycling"]
    assert added["source"] == "human" and added["score"] == 1.0
    assert human.apply_labels(doc, {}, TAX) is doc


def _blobs(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two well separated clusters of unit vectors; labels = cluster."""
    rng = np.random.default_rng(seed)
    centre = np.zeros((2, d), np.float32)
    centre[0, 0], centre[1, 1] = 1, 1
    y = rng.integers(0, 2, n)
    X = centre[y] + 0.1 * rng.normal(size=(n, d)).astype(np.float32)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


def test_one_positive_moves_its_video_and_look_alikes_not_the_rest() -> None:
    X, y = _blobs(200, 16)
    p0 = np.full((200, 1), 0.2, np.float32)
    w = np.zeros((200, 1), np.float32)
    tgt = np.zeros((200, 1), np.float32)
    first = int(np.flatnonzero(y == 1)[0])
    w[first], tgt[first] = 1.0, 1.0
    W, b = human.fit_heads(X, p0, tgt, w)
    ad = human.HumanAdapter(["c"], W, b, merge.Thresholds())
    p = ad.predict(X, p0)[:, 0]
    assert p[first] > 0.4  # moved up from 0.2 by one label (ridge: evidence, not a switch)
    assert p[y == 1].mean() > p[y == 0].mean() + 0.1  # look-alikes follow, the other cluster less
    assert abs(float(np.median(p[y == 0])) - 0.2) < 0.1  # far videos stay near the base model


def test_thresholds_recomputed_from_enough_labels_else_kept() -> None:
    X, y = _blobs(300, 16, seed=1)
    vids = [f"v{i}" for i in range(300)]
    yy = np.stack([y, y], 1).astype(np.float32)
    known = np.zeros((300, 2), bool)
    known[:120, 0] = True  # plenty of labels for category a
    known[:3, 1] = True    # three for category b
    t = human.Targets(["a", "b"], yy, known.astype(np.float32), known, {})
    ad = human.fit_adapter(X, np.full((300, 2), 0.3, np.float32), t, vids, np.array([0.9, 0.9], np.float32))
    assert "a" in ad.thresholds.values and "b" not in ad.thresholds.values and "b" not in ad.thresholds.disabled
    thr = ad.threshold_array(np.array([0.9, 0.9], np.float32))
    assert thr[1] == pytest.approx(0.9) and thr[0] == ad.thresholds.values["a"]
    p = ad.predict(X, np.full((300, 2), 0.3, np.float32))[:, 0]
    sel = p >= thr[0]
    assert sel.sum() and (y[sel] == 1).mean() >= 0.8  # ≥ 80% precision where it fires


def test_targets_humans_win_and_pseudo_labels_fill_in() -> None:
    vids = ["a", "b", "c"]
    text_p = np.zeros((3, len(TAX)), np.float32)
    j = TAX.ids.index("pets.cats")
    text_p[:, j] = [0.95, 0.95, 0.05]  # confident text: a, b cats; c not
    t = human.targets(TAX, vids, {"a": {"pets.cats": False}}, text_p)
    k = t.category_ids.index("pets.cats")
    assert t.y[0, k] == 0 and t.w[0, k] == human.HUMAN_WEIGHT  # the person beats the text
    assert t.y[1, k] == 1 and t.w[1, k] == pytest.approx(human.PSEUDO_WEIGHT)  # pseudo-positive
    assert t.y[2, k] == 0 and t.w[2, k] == pytest.approx(human.PSEUDO_WEIGHT)  # pseudo-negative
    assert t.stats["human_negatives"] == 1


def test_no_labels_left_gives_an_empty_adapter() -> None:
    t = human.targets(TAX, ["a"], {}, np.zeros((1, len(TAX)), np.float32))
    ad = human.fit_adapter(np.zeros((1, 8), np.float32), np.zeros((1, 0), np.float32), t, ["a"], np.zeros(0, np.float32))
    assert ad.category_ids == [] and ad.predict(np.zeros((1, 8)), np.zeros((1, 0))).shape == (1, 0)
