import numpy as np
import pytest

from research.eval_al import digits_tasks
from shotline.learning.classifier import LinearModel, train_linear
from shotline.learning.feeds import build_feeds
from shotline.learning.scoring import iter_chunks, per_video_aggregate, score_chunks
from shotline.errors import BadInput


@pytest.fixture(scope="module")
def catalog():
    """Real data: digits embeddings; a 'digit 7' classifier trained on the first 300 shots."""
    task = digits_tasks()[7]
    ids = np.array([f"shot-{i}" for i in range(len(task.y))], dtype=object)
    model = train_linear(task.X[:300], task.y[:300].astype(int))
    return ids, task.X, model, set(ids[:300])


def test_streaming_equals_brute_force(catalog):
    ids, X, model, labelled = catalog
    n = 20
    table = score_chunks(model, iter_chunks(ids, X, chunk_size=97), n=n, exclude=labelled, keep_all=True)
    s = X @ model.w + np.float32(model.b)
    free = np.array([i not in labelled for i in ids])
    order = np.argsort(-s)
    expect_top = [ids[i] for i in order if free[i]][:n]
    expect_bottom = [ids[i] for i in order[::-1] if free[i]][:n]
    expect_border = [ids[i] for i in np.argsort(np.abs(s)) if free[i]][:n]
    assert table.top_positive.ids[:n] == expect_top
    assert table.top_negative.ids[:n] == expect_bottom
    assert table.borderline.ids[:n] == expect_border
    np.testing.assert_allclose(table.all_scores, s, rtol=1e-5, atol=1e-6)
    assert table.n_scored == len(ids)
    assert table.mean == pytest.approx(float(s.mean()), rel=1e-4)
    # random sample: unlabelled, unique, and actually spread over the catalog
    assert len(set(table.random.ids)) == len(table.random.ids) == 2 * n
    assert not set(table.random.ids) & labelled


def test_chunk_size_does_not_change_result(catalog):
    ids, X, model, labelled = catalog
    a = score_chunks(model, iter_chunks(ids, X, chunk_size=50), n=10, exclude=labelled)
    b = score_chunks(model, iter_chunks(ids, X, chunk_size=5000), n=10, exclude=labelled)
    assert a.top_positive.ids == b.top_positive.ids and a.borderline.ids == b.borderline.ids


def test_feeds_semantics(catalog):
    ids, X, model, labelled = catalog
    table = score_chunks(model, iter_chunks(ids, X), n=15, exclude=labelled)
    feeds = build_feeds(table, 15, exclude=labelled)
    all_ids = [i for f in feeds.values() for i in f.ids]
    assert all(len(f) == 15 for f in feeds.values())
    assert len(all_ids) == len(set(all_ids)), "a shot appears in two feeds"
    assert not set(all_ids) & labelled, "a labelled shot was served again"
    s = dict(zip(ids, X @ model.w + np.float32(model.b)))
    free = np.array([s[i] for i in ids if i not in labelled])
    tp, tn, bl = feeds["top_positive"].scores, feeds["top_negative"].scores, feeds["borderline"].scores
    assert np.all(np.diff(tp) <= 0) and np.all(np.diff(tn) >= 0) and np.all(np.diff(np.abs(bl)) >= 0)
    assert tp.min() >= np.sort(free)[-40]  # among the top of the unlabelled catalog
    assert tn.max() <= np.sort(free)[40]
    # borderline = the shots nearest logit 0, i.e. all closer to the boundary than any top/bottom shot
    assert np.abs(bl).max() <= np.sort(np.abs(free))[40]
    assert np.abs(bl).max() < min(np.abs(tp).min(), np.abs(tn).min())


def test_dimension_mismatch_is_bad_input(catalog):
    ids, X, model, _ = catalog
    with pytest.raises(BadInput) as e:
        score_chunks(model, [(ids[:5], X[:5, :10])])
    assert e.value.reason == "dim_mismatch"
    with pytest.raises(BadInput):
        score_chunks(model, [(ids[:4], X[:5])])


def test_nonfinite_rows_skipped_and_counted():
    X = np.eye(4, dtype=np.float32)
    X[2, 0] = np.nan
    model = LinearModel(w=np.array([1, 2, 3, 4], dtype=np.float32), b=0.0)
    t = score_chunks(model, [(["a", "b", "c", "d"], X)], n=4)
    assert t.n_scored == 3 and t.n_skipped == 1 and t.top_positive.ids[:3] == ["d", "b", "a"]


def test_per_video_aggregate():
    scores = np.array([0.1, 0.9, 0.3, -1.0, 0.5])
    vids = ["v1", "v1", "v1", "v2", "v2"]
    assert per_video_aggregate(scores, vids, "max") == pytest.approx({"v1": 0.9, "v2": 0.5})
    assert per_video_aggregate(scores, vids, "mean") == pytest.approx({"v1": 13 / 30, "v2": -0.25})
    with pytest.raises(BadInput):
        per_video_aggregate(scores, vids, "median")
