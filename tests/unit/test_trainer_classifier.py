import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split

from research.eval_al import digits_tasks
from shotline.learning.classifier import (
    ModelVersion,
    fit_label_model,
    model_from_bytes,
    model_to_bytes,
    train_linear,
    zero_shot_model,
)
from shotline.learning.metrics import average_precision, bootstrap_ap_ci
from shotline.errors import BadInput


@pytest.fixture(scope="module")
def digit3():
    task = digits_tasks()[3]
    return train_test_split(task.X, task.y.astype(int), test_size=0.4, stratify=task.y, random_state=0)


def test_ap_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.random(400) < 0.15
    s = rng.standard_normal(400) + y
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    lo, hi = bootstrap_ap_ci(y, s)
    assert lo < average_precision(y, s) < hi


def test_train_linear_on_digits(digit3):
    Xtr, Xte, ytr, yte = digit3
    m = train_linear(Xtr, ytr, seed=0)
    assert m.kind == "linear" and m.w.shape == (64,) and m.w.dtype == np.float32
    test_ap = average_precision_score(yte, m.decision(Xte))
    assert test_ap > 0.9  # digit 3 vs rest is linearly easy
    assert m.ap_cv is not None and m.ap_cv > 0.85
    assert m.ap_ci[0] <= m.ap_cv <= m.ap_ci[1]
    assert (m.n_pos, m.n_neg) == (int(ytr.sum()), int(len(ytr) - ytr.sum()))
    assert m.train_seconds > 0
    # the (w, b) form is exactly the sklearn decision function: score = X @ w + b
    np.testing.assert_allclose(m.decision(Xte), Xte @ m.w + m.b, rtol=1e-5, atol=1e-5)


def test_few_labels_use_fixed_c_and_no_cv(digit3):
    Xtr, _, ytr, _ = digit3
    idx = np.r_[np.flatnonzero(ytr)[:2], np.flatnonzero(ytr == 0)[:10]]
    m = train_linear(Xtr[idx], ytr[idx])
    assert m.ap_cv is None and m.ap_ci is None and m.n_pos == 2


def test_one_class_falls_back_to_zero_shot(digit3):
    Xtr, _, ytr, _ = digit3
    pos = Xtr[ytr == 1]
    text = pos[:5].mean(axis=0)
    with pytest.raises(BadInput) as e:
        train_linear(pos[:10], np.ones(10))
    assert e.value.reason == "too_few_labels"
    m = fit_label_model(pos[:10], np.ones(10), text)
    assert m.kind == "zero_shot" and m.n_pos == 10
    np.testing.assert_allclose(np.linalg.norm(m.w), 1.0, rtol=1e-5)
    with pytest.raises(BadInput):
        fit_label_model(pos[:10], np.ones(10), None)
    with pytest.raises(BadInput) as e:
        fit_label_model(pos[:10], np.ones(10), np.ones(32))
    assert e.value.reason == "dim_mismatch"


def test_zero_shot_ranks_by_prompt_similarity(digit3):
    Xtr, Xte, ytr, yte = digit3
    m = zero_shot_model(Xtr[ytr == 1][:5].mean(axis=0))
    assert average_precision_score(yte, m.decision(Xte)) > 0.5  # far above the ~0.1 prevalence
    with pytest.raises(BadInput):
        zero_shot_model(np.zeros(64))


@pytest.mark.parametrize("X,y", [
    (np.zeros((0, 4)), np.zeros(0)),
    (np.ones((3, 4)), np.array([0, 1])),
    (np.ones((3, 4)), np.array([0, 1, 2])),
    (np.full((3, 4), np.nan), np.array([0, 1, 1])),
    (np.array([["a", "b"], ["c", "d"]]), np.array([0, 1])),
])
def test_bad_training_input(X, y):
    with pytest.raises(BadInput):
        train_linear(X, y)


def test_serialisation_round_trip(digit3):
    Xtr, Xte, ytr, _ = digit3
    m = train_linear(Xtr, ytr)
    meta = ModelVersion.for_model(m, label="digit-3", version=7, head="joint", embedding_model="digits-std")
    m2, meta2 = model_from_bytes(model_to_bytes(m, meta))
    assert meta2 == meta
    np.testing.assert_array_equal(m2.w, m.w)
    assert (m2.b, m2.kind, m2.C, m2.ap_cv, m2.ap_ci) == (m.b, m.kind, m.C, m.ap_cv, m.ap_ci)
    np.testing.assert_array_equal(m2.decision(Xte), m.decision(Xte))
    z = zero_shot_model(Xtr[0])
    z2, zmeta = model_from_bytes(model_to_bytes(z, ModelVersion.for_model(z, label="x", version=1, head="joint",
                                                                          embedding_model="e")))
    assert z2.kind == zmeta.kind == "zero_shot" and z2.ap_ci is None


@pytest.mark.parametrize("blob", [b"", b"garbage", model_to_bytes.__doc__.encode()])
def test_bad_blob(blob):
    with pytest.raises(BadInput) as e:
        model_from_bytes(blob)
    assert e.value.reason == "bad_model_blob"


def test_model_version_rejects_bad_label():
    with pytest.raises(BadInput):
        ModelVersion(label="Bad Name", version=1, kind="linear", head="visual", embedding_model="m")


# -- the selection policy: never worse than search ---------------------------------------------

def _two_heads(n: int, seed: int, *, visual_signal: float, text_signal: float):
    """Shots with a `visual` head (64-d) and a `joint` head (16-d) plus a text prompt in the joint
    space: each head carries the label with its own strength."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 4 == 0).astype(int)  # 25% positives
    vdir, jdir = rng.normal(size=64), rng.normal(size=16)
    Xv = rng.normal(size=(n, 64)) + visual_signal * np.outer(y, vdir)
    Xj = rng.normal(size=(n, 16)) + text_signal * np.outer(y, jdir)
    norm = lambda M: (M / np.linalg.norm(M, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return norm(Xv), norm(Xj), y, jdir.astype(np.float32)


def test_all_positive_or_no_labels_serve_zero_shot_on_the_joint_head():
    Xv, Xj, y, text = _two_heads(40, 0, visual_signal=2.0, text_signal=2.0)
    pos = y == 1
    m = fit_label_model(Xv[pos], y[pos], text, X_joint=Xj[pos])  # 1280-d visual vs 384-d text: no mismatch
    assert m.kind == "zero_shot" and m.w.shape == (16,) and m.selection.chosen == "zero_shot"
    assert "one class" in m.selection.reason and m.selection.ap_trained is None
    m = fit_label_model(None, None, text)
    assert m.kind == "zero_shot" and "no shot is labelled" in m.selection.reason
    neg = y == 0
    assert fit_label_model(Xv[neg][:6], y[neg][:6], text, X_joint=Xj[neg][:6]).kind == "zero_shot"
    with pytest.raises(BadInput) as e:
        fit_label_model(Xv[pos], y[pos], np.ones(32), X_joint=Xj[pos])
    assert e.value.reason == "dim_mismatch"
    with pytest.raises(BadInput) as e:
        fit_label_model(Xv[pos], y[pos], None, X_joint=Xj[pos])
    assert e.value.reason == "too_few_labels"


def test_trained_model_deploys_only_when_its_cv_ap_beats_zero_shot():
    # Pixels know the concept, the description does not: the trained model wins, by CV.
    Xv, Xj, y, _ = _two_heads(120, 1, visual_signal=3.0, text_signal=0.0)
    useless_text = np.random.default_rng(9).normal(size=16).astype(np.float32)
    m = fit_label_model(Xv, y, useless_text, X_joint=Xj)
    s = m.selection
    assert m.kind == "linear" and m.w.shape == (64,)
    assert s.ap_trained > s.ap_zero_shot + 0.2 and m.ap_cv == s.ap_trained
    assert s.ap_combined is not None and "trained has the highest AP" in s.reason
    # The description is exactly right and the pixels are noise: zero-shot stays live.
    Xv, Xj, y, text = _two_heads(120, 2, visual_signal=0.0, text_signal=4.0)
    m = fit_label_model(Xv, y, text, X_joint=Xj)
    s = m.selection
    assert m.kind in ("zero_shot", "combined") and m.w.shape == (16,)
    assert s.ap_zero_shot > s.ap_trained and m.ap_cv == max(s.ap_zero_shot, s.ap_combined)
    if m.kind == "zero_shot":  # rescaled to a logit, it still ranks exactly as the text search does
        np.testing.assert_array_equal(np.argsort(-m.decision(Xj)), np.argsort(-(Xj @ (text / np.linalg.norm(text)))))


def test_ties_and_too_few_labels_keep_zero_shot():
    # Both heads separate the labels perfectly: equal AP 1.0 → the model closest to search wins.
    Xv, Xj, y, text = _two_heads(60, 3, visual_signal=8.0, text_signal=8.0)
    m = fit_label_model(Xv, y, text, X_joint=Xj)
    s = m.selection
    assert s.ap_zero_shot == s.ap_trained == 1.0 and m.kind == "zero_shot"
    assert "no model beats zero-shot" in s.reason
    # 2 positives: no CV possible, so nothing shows a trained model beats the description.
    idx = np.r_[np.flatnonzero(y == 1)[:2], np.flatnonzero(y == 0)[:10]]
    m = fit_label_model(Xv[idx], y[idx], text, X_joint=Xj[idx])
    assert m.kind == "zero_shot" and m.ap_cv == m.selection.ap_zero_shot and "too few" in m.selection.reason
    # ... but without a description the labels are all there is.
    m = fit_label_model(Xv[idx], y[idx], None, X_joint=Xj[idx])
    assert m.kind == "linear" and "no description" in m.selection.reason


def test_combined_model_is_one_joint_head_vector():
    Xv, Xj, y, text = _two_heads(160, 4, visual_signal=0.0, text_signal=1.0)
    from shotline.learning.classifier import _fit_combined
    w, b = _fit_combined(Xj.astype(np.float64), y, (text / np.linalg.norm(text)).astype(np.float64), 3.0)
    assert w.shape == (16,) and np.isfinite(b)
    assert average_precision(y, Xj @ w + b) > 0.8


def test_selection_is_recorded_on_the_version():
    Xv, Xj, y, _ = _two_heads(80, 5, visual_signal=3.0, text_signal=0.0)
    m = fit_label_model(Xv, y, np.random.default_rng(1).normal(size=16), X_joint=Xj)
    meta = ModelVersion.for_model(m, label="reel-7", version=3, head="visual", embedding_model="e")
    assert (meta.ap_trained, meta.ap_zero_shot, meta.ap_combined) == (
        m.selection.ap_trained, m.selection.ap_zero_shot, m.selection.ap_combined)
    assert meta.chosen_because == m.selection.reason and meta.ap == m.ap_cv
    _, meta2 = model_from_bytes(model_to_bytes(m, meta))
    assert meta2 == meta
