import numpy as np
import pytest

from research.eval_al import digits_tasks
from shotline.learning.classifier import train_linear
from shotline.learning.drift import detect_drift, psi
from shotline.errors import BadInput
from sklearn.datasets import load_digits


@pytest.fixture(scope="module")
def digits():
    """Digits as an embedding-like set: raw non-negative pixels, L2-normalised. Like real image
    embeddings (and unlike standardised features) they share a strong mean direction."""
    X, y = load_digits(return_X_y=True)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    task = digits_tasks()[0]
    task.X = X
    model = train_linear(X[:400], (y[:400] == 0).astype(int))
    return task, model, y


def test_no_drift_between_random_halves(digits):
    task, model, _ = digits
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(task.y))
    a, b = idx[: len(idx) // 2], idx[len(idx) // 2:]
    r = detect_drift(model.decision(task.X[a]), model.decision(task.X[b]), task.X[a], task.X[b])
    assert not r.drifted and r.psi < 0.1 and r.centroid_shift < 0.005


def test_drift_when_content_mix_changes(digits):
    """Recent window over-represents digits 0-2 (a content shift): both signals fire."""
    task, model, y = digits
    recent = np.flatnonzero(y <= 2)
    r = detect_drift(model.decision(task.X), model.decision(task.X[recent]), task.X, task.X[recent])
    assert r.drifted and r.psi > 0.2 and r.centroid_shift > 0.01


def test_psi_of_shifted_scores():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(20000)
    assert psi(ref, rng.standard_normal(20000)) < 0.01
    assert psi(ref, rng.standard_normal(20000) + 1.0) > 0.2


def test_empty_window_is_bad_input():
    with pytest.raises(BadInput):
        psi(np.array([]), np.array([1.0]))
