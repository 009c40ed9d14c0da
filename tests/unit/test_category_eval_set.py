"""The labelled category evaluation set (issue 19) is well-formed, and the served visual
exemplars were built from its val part only."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from shotline.categories import exemplars
from shotline.taxonomy import load_taxonomy

SET = Path(__file__).resolve().parents[2] / "research" / "data" / "category_eval_set.json"


def test_the_set_is_big_enough_labelled_with_visual_leaves_and_its_splits_share_no_footage() -> None:
    tax = load_taxonomy()
    videos = json.loads(SET.read_text())["videos"]
    assert len(videos) >= 100 and len({v["id"] for v in videos}) == len(videos)
    cats = {c for v in videos for c in v["categories"]}
    assert len(cats) >= 20
    for c in cats:
        assert c in tax.ids and tax[c].visual and not tax.children(c), c
    assert {v["split"] for v in videos} == {"val", "test"}
    shots = Counter(s for v in videos for s in v["shots"])
    assert max(shots.values()) == 1  # a still (or real video) belongs to one video, so val and test share none
    assert all(v["shots"] and v["seen"] for v in videos)
    assert len({v["language"] for v in videos if v.get("title")}) >= 2


def test_served_exemplars_come_from_val_videos_only() -> None:
    videos = json.loads(SET.read_text())["videos"]
    z = np.load(exemplars.DEFAULT_PATH)
    val = Counter(c for v in videos if v["split"] == "val" for c in v["categories"])
    got = dict(zip((str(c) for c in z["category_ids"]), z["counts"].tolist()))
    assert got == dict(val)
