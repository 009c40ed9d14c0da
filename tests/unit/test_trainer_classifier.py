import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split

from services.trainer.eval_al import digits_tasks
from services.trainer.learning.classifier import (
    ModelVersion,
    fit_label_model,
    model_from_bytes,
    model_to_bytes,
    train_linear,
    zero_shot_model,
)
from services.trainer.learning.metrics import average_precision, bootstrap_ap_ci
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
