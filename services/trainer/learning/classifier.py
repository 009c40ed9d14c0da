"""Binary linear classifiers over shot embeddings: trained (logistic regression) or zero-shot (text prompt).

Every model is reduced to ``(w, b)`` so that scoring a catalog is one matrix product per chunk:
``logit = X @ w + b``. Logit 0 is the decision boundary (class-balanced training).
"""

from __future__ import annotations

import io
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import ThreadpoolController

from shotline.errors import BadInput

from .labels import validate_label_name
from .metrics import average_precision, bootstrap_ap_ci

ModelKind = Literal["linear", "zero_shot"]

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # inputs are L2-normalised, so useful C sits well above 1
DEFAULT_C = 3.0  # used when there are too few labels to cross-validate
MIN_POS_FOR_LINEAR = 2  # below this a label falls back to zero-shot
MIN_PER_CLASS_FOR_CV = 3  # stratified k-fold needs k ≤ smallest class; AP on 2 folds is noise
MIN_PER_CLASS_FOR_TUNING = 5
MAX_FOLDS = 5

# Label sets are small (≤ a few thousand rows): BLAS threads only add contention (measured 40x
# slower with 2 threads on a busy 2-core box). The controller is built once: building it scans
# the loaded libraries (~10 ms).
_THREADS = ThreadpoolController()


@dataclass
class LinearModel:
    """``logit = X @ w + b``. ``ap_cv``/``ap_ci`` are cross-validated AP (None if too few labels)."""

    w: np.ndarray
    b: float
    kind: ModelKind = "linear"
    C: float | None = None
    ap_cv: float | None = None
    ap_ci: tuple[float, float] | None = None
    n_pos: int = 0
    n_neg: int = 0
    train_seconds: float = 0.0

    def decision(self, X: np.ndarray) -> np.ndarray:
        return X @ self.w + np.float32(self.b)

    def proba(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision(X)))


@dataclass
class ModelVersion:
    """Metadata stored next to a model blob (and in the registry)."""

    label: str
    version: int
    kind: ModelKind
    head: str  # "visual" | "joint"
    embedding_model: str
    ap: float | None = None
    ap_ci: tuple[float, float] | None = None
    n_pos: int = 0
    n_neg: int = 0
    trained_at: float = field(default_factory=time.time)
    train_seconds: float = 0.0

    def __post_init__(self) -> None:
        validate_label_name(self.label)
        if self.ap_ci is not None:
            self.ap_ci = (float(self.ap_ci[0]), float(self.ap_ci[1]))

    @classmethod
    def for_model(cls, model: LinearModel, *, label: str, version: int, head: str, embedding_model: str) -> ModelVersion:
        return cls(label=label, version=version, kind=model.kind, head=head, embedding_model=embedding_model,
                   ap=model.ap_cv, ap_ci=model.ap_ci, n_pos=model.n_pos, n_neg=model.n_neg,
                   train_seconds=model.train_seconds)


def _check_xy(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise BadInput("bad_embeddings", f"embeddings are not numeric: {exc}") from exc
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise BadInput("bad_embeddings", f"expected a non-empty 2-d embedding matrix, got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise BadInput("bad_labels", f"expected {X.shape[0]} labels, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise BadInput("bad_labels", "labels must be 0/1 or booleans")
    if not np.isfinite(X).all():
        raise BadInput("bad_embeddings", "embeddings contain NaN or inf")
    return X, y.astype(np.int8)


def _fit(X: np.ndarray, y: np.ndarray, C: float) -> LogisticRegression:
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a near-converged boundary is fine for ranking
        return clf.fit(X, y)


def _oof_scores(X: np.ndarray, y: np.ndarray, C: float, folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    out = np.empty(len(y), dtype=np.float64)
    for tr, te in folds:
        out[te] = _fit(X[tr], y[tr], C).decision_function(X[te])
    return out


def train_linear(X: np.ndarray, y: np.ndarray, seed: int = 0, *, tune: bool = True, C: float | None = None) -> LinearModel:
    """Class-balanced logistic regression; C chosen by stratified k-fold AP when labels allow.

    ``ap_cv`` (pooled out-of-fold AP at the chosen C, 95% bootstrap CI) is reported when each
    class has ≥ 3 labels; C is tuned over ``C_GRID`` when each class has ≥ 5 and ``tune``.
    Raises BadInput("too_few_labels") with one class or fewer than 2 positives.
    """
    with _THREADS.limit(limits=1):
        return _train_linear(X, y, seed, tune=tune, C=C)


def _train_linear(X: np.ndarray, y: np.ndarray, seed: int, *, tune: bool, C: float | None) -> LinearModel:
    t0 = time.perf_counter()
    X, y = _check_xy(X, y)
    X = X.astype(np.float64)  # lbfgs works in float64; convert once, not per fit
    n_pos = int(y.sum())
    n_neg = int(len(y) - n_pos)
    if n_pos < MIN_POS_FOR_LINEAR or n_neg < 1:
        raise BadInput("too_few_labels", f"need ≥{MIN_POS_FOR_LINEAR} positives and ≥1 negative, got {n_pos}/{n_neg}")
    smallest = min(n_pos, n_neg)
    ap_cv: float | None = None
    ap_ci: tuple[float, float] | None = None
    chosen = C if C is not None else DEFAULT_C
    if smallest >= MIN_PER_CLASS_FOR_CV:
        k = min(MAX_FOLDS, smallest)
        folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y))
        grid = C_GRID if (tune and C is None and smallest >= MIN_PER_CLASS_FOR_TUNING) else (chosen,)
        best_oof, best_ap = None, -1.0
        for c in grid:
            oof = _oof_scores(X, y, c, folds)
            ap = float(np.mean([average_precision(y[te], oof[te]) for _, te in folds]))
            if ap > best_ap + 1e-9:  # ties keep the smaller (more regularised) C
                best_ap, best_oof, chosen = ap, oof, c
        ap_cv = float(average_precision(y, best_oof))
        ap_ci = bootstrap_ap_ci(y, best_oof, seed=seed)
    clf = _fit(X, y, chosen)
    return LinearModel(
        w=clf.coef_[0].astype(np.float32), b=float(clf.intercept_[0]), kind="linear", C=float(chosen),
        ap_cv=ap_cv, ap_ci=ap_ci, n_pos=n_pos, n_neg=n_neg, train_seconds=time.perf_counter() - t0,
    )


def zero_shot_model(text_embedding: np.ndarray, n_pos: int = 0, n_neg: int = 0) -> LinearModel:
    """Score = cosine similarity to the text prompt (joint head; shots are L2-normalised).

    There is no calibrated boundary, so logit 0 means "orthogonal to the prompt"; use it for
    ranking (top-k) only.
    """
    t = np.asarray(text_embedding, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(t)) if t.size else 0.0
    if t.size == 0 or not np.isfinite(norm) or norm == 0.0:
        raise BadInput("bad_text_embedding", "text embedding must be a finite, non-zero vector")
    return LinearModel(w=t / norm, b=0.0, kind="zero_shot", n_pos=n_pos, n_neg=n_neg)


def fit_label_model(X: np.ndarray | None, y: np.ndarray | None, text_embedding: np.ndarray | None,
                    seed: int = 0, *, tune: bool = True) -> LinearModel:
    """The trainer's policy: a linear model when labels allow, else zero-shot from the text prompt.

    Raises BadInput("too_few_labels") when neither is possible.
    """
    n_pos = n_neg = 0
    if X is not None and y is not None and len(y):
        X, y = _check_xy(X, y)
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        if n_pos >= MIN_POS_FOR_LINEAR and n_neg >= 1:
            return train_linear(X, y, seed, tune=tune)
    if text_embedding is None:
        raise BadInput("too_few_labels", f"{n_pos} positives / {n_neg} negatives and no text prompt")
    model = zero_shot_model(text_embedding, n_pos, n_neg)
    if X is not None and len(X) and model.w.shape[0] != np.shape(X)[1]:
        raise BadInput("dim_mismatch", f"text embedding dim {model.w.shape[0]} ≠ shot embedding dim {np.shape(X)[1]}")
    return model


def model_to_bytes(model: LinearModel, meta: ModelVersion) -> bytes:
    """Serialise to one .npz blob: weights as arrays, metadata as JSON (no pickle)."""
    extra = {"C": model.C, "ap_cv": model.ap_cv, "ap_ci": model.ap_ci}
    buf = io.BytesIO()
    np.savez(buf, w=model.w.astype(np.float32), b=np.float64(model.b),
             meta=np.frombuffer(json.dumps({"version": asdict(meta), "model": extra}).encode(), dtype=np.uint8))
    return buf.getvalue()


def model_from_bytes(blob: bytes) -> tuple[LinearModel, ModelVersion]:
    """Inverse of ``model_to_bytes``; anything unreadable → BadInput("bad_model_blob")."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            w, b, raw = z["w"], float(z["b"]), z["meta"].tobytes()
        doc = json.loads(raw)
        meta = ModelVersion(**doc["version"])
        extra = doc["model"]
    except BadInput:
        raise
    except Exception as exc:  # zip/npz/json/TypeError all mean the same thing: not our blob
        raise BadInput("bad_model_blob", f"cannot decode model blob: {exc}") from exc
    ap_ci = tuple(extra["ap_ci"]) if extra.get("ap_ci") is not None else None
    model = LinearModel(w=w, b=b, kind=meta.kind, C=extra.get("C"), ap_cv=extra.get("ap_cv"), ap_ci=ap_ci,
                        n_pos=meta.n_pos, n_neg=meta.n_neg, train_seconds=meta.train_seconds)
    return model, meta
