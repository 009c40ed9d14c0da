"""research.eval_al's deployed-vs-zero-shot bookkeeping and the real-footage labels file."""

import re

import numpy as np
import pytest

from research.eval_al import Comparison, Task, compare_models, compare_summary, split
from research.footage_al_set import CONCEPTS, VIDEOS, read_labels


def test_labels_file_is_well_formed():
    ids, Y = read_labels()  # header, 0/1 values, unique ids
    assert len(ids) >= 500 and Y.shape == (len(ids), len(CONCEPTS))
    assert (Y.sum(0) >= 40).all(), dict(zip(CONCEPTS, Y.sum(0)))  # enough positives per task for CV
    assert (Y.sum(0) <= len(ids) // 2).all()
    for sid in ids:
        prefix = sid.split(":", 1)[0]
        assert prefix in {"video", "bg", "skimage", "palapeli", "kivy", "tuxpaint", "lfw"}, sid
        if prefix == "video":
            m = re.fullmatch(r"video:(\w+)#(\d+)@(\d+)", sid)
            assert m and m.group(1) in VIDEOS, sid


def _cmp(task, seed, dep, zs, chosen="linear"):
    return Comparison(task, seed, "random", 25, 3, {"deployed": dep, "zero_shot": zs, "trained": dep,
                                                    "combined": zs}, chosen)


def test_compare_summary_counts_shortfalls():
    rows = [_cmp("a", 0, 0.5, 0.7), _cmp("a", 1, 0.9, 0.7, "zero_shot"),  # task a: mean 0.7 = 0.7
            _cmp("b", 0, 0.4, 0.6), _cmp("b", 1, 0.6, 0.6, "zero_shot")]  # task b: mean 0.5 < 0.6
    d = compare_summary(rows)["random"]["25"]
    assert d["tasks"] == 2 and d["sets"] == 4
    assert d["deployed"] == pytest.approx((0.7 + 0.5) / 2) and d["zero_shot"] == pytest.approx(0.65)
    assert d["tasks_deployed_below_zero_shot"] == 1 and d["worst_task_gap"] == pytest.approx(0.1)
    assert d["sets_deployed_below_zero_shot"] == 2
    assert d["mean_shortfall"] == pytest.approx(0.2) and d["worst_shortfall"] == pytest.approx(0.2)
    assert d["chosen"] == {"zero_shot": 2, "combined": 0, "linear": 2, "none": 0}


def test_compare_models_on_a_set_where_the_prompt_is_perfect():
    rng = np.random.default_rng(0)
    text = np.eye(8, dtype=np.float32)[0]
    X = rng.normal(size=(200, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = X[:, 0] > 0.4  # the prompt direction ranks the test set perfectly
    sel = np.r_[np.flatnonzero(y)[:1], np.flatnonzero(~y)[:5]]  # 1 positive: nothing can be trained
    test = np.setdiff1d(np.arange(200), sel)
    aps, chosen, _ = compare_models(X[sel], X[sel], y[sel], X[test], X[test], y[test], text, 0)
    assert aps["zero_shot"] == pytest.approx(1.0)
    assert chosen == "zero_shot" and aps["deployed"] == pytest.approx(1.0)  # stays zero-shot below 3 per class
    assert aps["trained"] == pytest.approx(y[test].mean())  # no model → AP = prevalence


def test_grouped_split_keeps_groups_together():
    y = np.tile([True, False, False], 20)
    groups = np.repeat(np.arange(15), 4)
    task = Task("t", np.zeros((60, 2), np.float32), y, groups=groups)
    pool, test = split(task, seed=0)
    assert not set(groups[pool]) & set(groups[test]) and len(pool) + len(test) == 60
