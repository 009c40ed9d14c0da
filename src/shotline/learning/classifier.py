"""Binary linear classifiers over shot embeddings: trained, zero-shot, or both combined.

- ``linear``: class-balanced logistic regression on the training head (``visual`` when the
  bundle has it);
- ``zero_shot``: cosine similarity to the description's text embedding on the ``joint`` head
  (rescaled to a logit by a 1-d fit when both classes are labelled: same ranking);
- ``combined``: logistic regression on the ``joint`` head with the zero-shot score as an
  extra (standardised) feature, folded back into one weight vector.

Every model is reduced to ``(w, b)`` on one head so that scoring a catalog is one matrix product
per chunk: ``logit = X @ w + b``. Logit 0 is the decision boundary (class-balanced training).
``fit_label_model`` is the trainer's policy: it estimates by cross-validation the AP of each
candidate the labels allow and returns the best, with every estimate and the reason attached.

Calibration: the chosen candidate's out-of-fold decision values (the same CV) are mapped to
P(positive) by Platt scaling (a 1-d logistic regression with Platt's smoothed targets, as
``CalibratedClassifierCV(method="sigmoid")`` does), and the OOF precision-recall curve of those
probabilities gives the version's threshold at a target precision (default 0.8) and its
estimated recall. The probabilities are calibrated to the *labelled* shots' class mix: labels
that over-sample positives (the top-positive feed) overstate P on the catalog. Without CV
(fewer than 3 labels of a class, no labels) a model is not calibrated and says why.
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
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import ThreadpoolController

from shotline.errors import BadInput

from .labels import validate_label_name
from .metrics import average_precision, bootstrap_ap_ci, platt_probability

ModelKind = Literal["linear", "zero_shot", "combined"]
# Which head each kind scores: zero-shot and combined need the text space.
JOINT_KINDS = ("zero_shot", "combined")
# Equal CV AP: the one closer to plain search wins (a trained model must beat zero-shot to go live).
PREFERENCE = ("zero_shot", "combined", "linear")

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # inputs are L2-normalised, so useful C sits well above 1
DEFAULT_C = 3.0  # used when there are too few labels to cross-validate
MIN_POS_FOR_LINEAR = 2  # below this a label falls back to zero-shot
MIN_PER_CLASS_FOR_CV = 3  # stratified k-fold needs k ≤ smallest class; AP on 2 folds is noise
MIN_PER_CLASS_FOR_TUNING = 5
MAX_FOLDS = 5
DEFAULT_PRECISION_TARGET = 0.8  # the version's threshold is where OOF precision first reaches this

# Label sets are small (≤ a few thousand rows): BLAS threads only add contention (measured 40x
# slower with 2 threads on a busy 2-core box). The controller is built once: building it scans
# the loaded libraries (~10 ms).
_THREADS = ThreadpoolController()


@dataclass
class Selection:
    """Cross-validated AP of every candidate (None = not possible with these labels) and why
    ``chosen`` won. The same stratified folds are used for all candidates; zero-shot has no
    parameters, so its AP is over all labelled shots."""

    chosen: ModelKind
    reason: str
    ap_trained: float | None = None
    ap_zero_shot: float | None = None
    ap_combined: float | None = None


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
    selection: Selection | None = None  # set by fit_label_model: what was compared and why this won
    # Calibration (set by fit_label_model when CV was possible): P = sigmoid(a · logit + c).
    platt: tuple[float, float] | None = None
    threshold: float | None = None  # on the probability: OOF precision ≥ threshold_precision (None: unreachable)
    threshold_precision: float = DEFAULT_PRECISION_TARGET  # the target precision
    threshold_recall: float | None = None  # OOF recall at the threshold
    calibration: str = "not calibrated: not fitted by fit_label_model"  # how, or why not

    @property
    def calibrated(self) -> bool:
        return self.platt is not None

    def decision(self, X: np.ndarray) -> np.ndarray:
        return X @ self.w + np.float32(self.b)

    def proba(self, X: np.ndarray) -> np.ndarray:
        """The logistic of the raw logit: *not* calibrated (zero-shot logits are cosines); see probability."""
        return 1.0 / (1.0 + np.exp(-self.decision(X)))

    def calibrate(self, decision: np.ndarray | float) -> np.ndarray:
        """Calibrated P(positive) of decision values (e.g. a video's aggregate); NaN when not calibrated."""
        return platt_probability(decision, self.platt)

    def probability(self, X: np.ndarray) -> np.ndarray:
        """Calibrated P(positive) of each row of ``X``; NaN when the model is not calibrated."""
        return self.calibrate(self.decision(X))

    def positive(self, X: np.ndarray) -> np.ndarray:
        """probability ≥ threshold (all False without a threshold)."""
        if self.threshold is None:
            return np.zeros(len(X), dtype=bool)
        return self.probability(X) >= self.threshold


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
    ap_trained: float | None = None  # cross-validated AP of each candidate at this retrain
    ap_zero_shot: float | None = None
    ap_combined: float | None = None
    chosen_because: str = ""
    # Calibration: Platt scaling on the out-of-fold scores; the threshold is on the calibrated
    # probability, where OOF precision reaches threshold_precision (None = not calibrated or not
    # reachable), with the OOF recall there. ``calibration`` says how, or why not.
    calibrated: bool = False
    threshold: float | None = None
    threshold_precision: float | None = None
    threshold_recall: float | None = None
    calibration: str = ""

    def __post_init__(self) -> None:
        validate_label_name(self.label)
        if self.ap_ci is not None:
            self.ap_ci = (float(self.ap_ci[0]), float(self.ap_ci[1]))

    @classmethod
    def for_model(cls, model: LinearModel, *, label: str, version: int, head: str, embedding_model: str) -> ModelVersion:
        sel = model.selection
        return cls(label=label, version=version, kind=model.kind, head=head, embedding_model=embedding_model,
                   ap=model.ap_cv, ap_ci=model.ap_ci, n_pos=model.n_pos, n_neg=model.n_neg,
                   train_seconds=model.train_seconds,
                   ap_trained=sel.ap_trained if sel else None, ap_zero_shot=sel.ap_zero_shot if sel else None,
                   ap_combined=sel.ap_combined if sel else None, chosen_because=sel.reason if sel else "",
                   calibrated=model.calibrated, threshold=model.threshold,
                   threshold_precision=model.threshold_precision, threshold_recall=model.threshold_recall,
                   calibration=model.calibration)


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
        return _train_linear(X, y, seed, tune=tune, C=C)[0]


def _train_linear(X: np.ndarray, y: np.ndarray, seed: int, *, tune: bool,
                  C: float | None) -> tuple[LinearModel, np.ndarray | None]:
    """→ (model, its out-of-fold decision values at the chosen C, or None without CV)."""
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
    best_oof: np.ndarray | None = None
    chosen = C if C is not None else DEFAULT_C
    if smallest >= MIN_PER_CLASS_FOR_CV:
        k = min(MAX_FOLDS, smallest)
        folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y))
        grid = C_GRID if (tune and C is None and smallest >= MIN_PER_CLASS_FOR_TUNING) else (chosen,)
        best_ap = -1.0
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
    ), best_oof


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


def _folds(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    k = min(MAX_FOLDS, int(min(y.sum(), len(y) - y.sum())))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def _tuned_oof(fit_oof, y: np.ndarray, folds, grid) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    """Best C of ``grid`` by mean per-fold AP → (C, its out-of-fold scores); ties keep the smaller C."""
    best_c, best_oof, best_ap = grid[0], None, -1.0
    for c in grid:
        oof = fit_oof(c)
        ap = float(np.mean([average_precision(y[te], oof[te]) for _, te in folds]))
        if ap > best_ap + 1e-9:
            best_c, best_oof, best_ap = c, oof, ap
    return best_c, best_oof


def _zs_feature(Xj: np.ndarray, t: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    s = Xj[rows] @ t
    return float(s.mean()), float(s.std()) or 1.0


def _fit_combined(Xj: np.ndarray, y: np.ndarray, t: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    """LR on ``[Xj, (Xj·t − μ)/σ]`` folded into one joint-head ``(w, b)``.

    The standardised zero-shot score costs the regulariser far less than the same direction
    spread over the embedding dimensions, so it acts as a prior the labels can overrule."""
    mu, sd = _zs_feature(Xj, t, np.arange(len(y)))
    Z = np.hstack([Xj, ((Xj @ t - mu) / sd)[:, None]])
    clf = _fit(Z, y, C)
    coef = clf.coef_[0]
    w = coef[:-1] + coef[-1] / sd * t
    return w.astype(np.float32), float(clf.intercept_[0] - coef[-1] * mu / sd)


def _calibrated_zero_shot(t: np.ndarray, s: np.ndarray, y: np.ndarray, n_pos: int, n_neg: int) -> LinearModel:
    """Zero-shot with a logit scale fitted on the labels (a 1-d balanced LR on the cosine): the
    ranking is the text search's, but logit 0 becomes a real boundary for the borderline feed."""
    clf = _fit(s[:, None].astype(np.float64), y, DEFAULT_C * 100)
    a, b = float(clf.coef_[0][0]), float(clf.intercept_[0])
    if not (np.isfinite(a) and a > 0):  # labels disagree with the text: keep plain cosine
        a, b = 1.0, 0.0
    return LinearModel(w=(a * t).astype(np.float32), b=b, kind="zero_shot", n_pos=n_pos, n_neg=n_neg)


def fit_label_model(X: np.ndarray | None, y: np.ndarray | None, text_embedding: np.ndarray | None,
                    seed: int = 0, *, tune: bool = True, X_joint: np.ndarray | None = None,
                    precision_target: float = DEFAULT_PRECISION_TARGET) -> LinearModel:
    """The trainer's policy: never worse than search.

    ``X`` are the labelled shots on the training head, ``X_joint`` the same shots on the
    ``joint`` head (defaults to ``X``: single-head bundles), ``text_embedding`` the
    description on the joint head. Candidates: ``linear`` (needs ≥2 positives and ≥1
    negative), ``zero_shot`` (needs a description), ``combined`` (needs both). With ≥3 labels
    per class each candidate's AP is estimated on the same stratified folds and the best is
    returned (ties: zero_shot, then combined, then linear); with fewer, a description wins
    (nothing could show a trained model beats it). ``model.selection`` records every AP and
    the reason. With CV the winner's out-of-fold scores calibrate it (``probability``) and set
    its threshold at ``precision_target`` (see ``calibrate_oof``); without, it is not calibrated.
    Raises BadInput("too_few_labels") when no candidate is possible, BadInput("dim_mismatch")
    when the description does not live in ``X_joint``'s space and BadInput("bad_precision_target")
    unless 0 < precision_target ≤ 1.
    """
    try:
        target = float(precision_target)
    except (TypeError, ValueError):
        target = float("nan")
    if not 0.0 < target <= 1.0:  # NaN fails too
        raise BadInput("bad_precision_target", f"precision_target must be in (0, 1], got {precision_target!r}")
    with _THREADS.limit(limits=1):
        model, y_used, oof = _fit_label_model(X, y, text_embedding, seed, tune=tune, X_joint=X_joint)
        model.threshold_precision = target
        if oof is None:
            model.platt = model.threshold = model.threshold_recall = None
            model.calibration = f"not calibrated: {_why_no_cv(model.n_pos, model.n_neg)}"
        else:
            calibrate_oof(model, y_used, oof, target)
        return model


def _why_no_cv(n_pos: int, n_neg: int) -> str:
    if n_pos == n_neg == 0:
        return "no shot is labelled, so there are no out-of-fold scores"
    if n_pos == 0 or n_neg == 0:
        return f"only one class is labelled ({n_pos} positive / {n_neg} negative)"
    return (f"fewer than {MIN_PER_CLASS_FOR_CV} labels per class ({n_pos} positive / {n_neg} negative), "
            "too few to cross-validate")


def fit_platt(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling of 1-d decision values → ``(a, c)`` with P = sigmoid(a · d + c).

    Platt's smoothed targets ((n₊+1)/(n₊+2) for positives, 1/(n₋+2) for negatives) keep the slope
    finite when the scores separate the labels; fitted as an unpenalised logistic regression on
    the soft targets (each row twice, weighted t and 1 − t) — the fit of
    ``CalibratedClassifierCV(method="sigmoid")``. Scores are rescaled to |d| ≤ 30 for the solver."""
    d = np.asarray(decision, dtype=np.float64).ravel()
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    t = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    scale = max(1.0, float(np.abs(d).max()) / 30.0) if d.size else 1.0
    X = np.r_[d, d][:, None] / scale
    target = np.r_[np.ones(d.size), np.zeros(d.size)]
    clf = LogisticRegression(C=np.inf, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, target, sample_weight=np.r_[t, 1.0 - t])
    return float(clf.coef_[0][0]) / scale, float(clf.intercept_[0])


def threshold_at_precision(y: np.ndarray, p: np.ndarray, target: float) -> tuple[float, float, float] | None:
    """Of the thresholds on ``p`` (predict positive when p ≥ t) whose precision reaches ``target``,
    the one with the highest recall (then the highest threshold) → (threshold, precision, recall);
    None when no threshold reaches it."""
    precision, recall, thresholds = precision_recall_curve(np.asarray(y).astype(int), np.asarray(p, dtype=np.float64))
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    ok = np.flatnonzero(precision >= target - 1e-12)
    if ok.size == 0:
        return None
    i = ok[np.lexsort((thresholds[ok], recall[ok]))[-1]]
    return float(thresholds[i]), float(precision[i]), float(recall[i])


def calibrate_oof(model: LinearModel, y: np.ndarray, oof: np.ndarray, precision_target: float) -> LinearModel:
    """Calibrate ``model`` in place from out-of-fold decision values on its own logit scale.

    A slope ≤ 0 (the scores rank the labels no better than chance, inverted) leaves it
    uncalibrated: a probability falling as the score rises would contradict the ranking."""
    a, c = fit_platt(oof, y)
    n = f"{int(np.sum(y))} positive / {int(len(y) - np.sum(y))} negative"
    model.threshold_precision = float(precision_target)
    if not (np.isfinite(a) and np.isfinite(c) and a > 0):
        model.platt = model.threshold = model.threshold_recall = None
        model.calibration = f"not calibrated: the out-of-fold scores do not rank the labels ({n})"
        return model
    model.platt = (a, c)
    p = platt_probability(oof, model.platt)
    hit = threshold_at_precision(y, p, precision_target)
    model.threshold, model.threshold_recall = (hit[0], hit[2]) if hit else (None, None)
    where = (f"threshold {hit[0]:.3f} reaches precision {hit[1]:.3f} at recall {hit[2]:.3f}" if hit
             else f"no threshold reaches precision {precision_target:g}")
    model.calibration = f"Platt scaling on out-of-fold scores ({n}); {where}"
    return model


def _fit_label_model(X, y, text_embedding, seed, *, tune, X_joint):  # type: ignore[no-untyped-def]
    """→ (model, y, the model's out-of-fold decision values on its own logit scale or None)."""
    t0 = time.perf_counter()
    n_pos = n_neg = 0
    if X is not None and y is not None and len(y):
        X, y = _check_xy(X, y)
        X_joint = X if X_joint is None else _check_xy(X_joint, y)[0]
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    zs = None
    if text_embedding is not None:
        zs = zero_shot_model(text_embedding, n_pos, n_neg)
        if X_joint is not None and len(X_joint) and zs.w.shape[0] != X_joint.shape[1]:
            raise BadInput("dim_mismatch", f"text embedding dim {zs.w.shape[0]} ≠ joint-head shot embedding dim "
                                           f"{X_joint.shape[1]}")
    counts = f"{n_pos} positive / {n_neg} negative"
    can_train = n_pos >= MIN_POS_FOR_LINEAR and n_neg >= 1
    if zs is None:
        if not can_train:
            raise BadInput("too_few_labels", f"{counts} labels and no description")
        model, oof_lin = _train_linear(X, y, seed, tune=tune, C=None)
        model.selection = Selection("linear", f"trained: no description, so no zero-shot to compare ({counts})",
                                    ap_trained=model.ap_cv)
        return model, y, oof_lin
    if n_pos == 0 or n_neg == 0:
        what = "no shot is labelled yet" if n_pos == n_neg == 0 else f"only one class is labelled ({counts})"
        zs.selection = Selection("zero_shot", f"zero-shot from the description: {what}")
        return zs, y, None
    t = zs.w.astype(np.float64)
    Xj = X_joint.astype(np.float64)
    s = Xj @ t
    ap_zs = float(average_precision(y, s))
    if min(n_pos, n_neg) < MIN_PER_CLASS_FOR_CV:
        model = _calibrated_zero_shot(zs.w, s, y, n_pos, n_neg)
        model.ap_cv = ap_zs
        model.selection = Selection("zero_shot", f"zero-shot: fewer than {MIN_PER_CLASS_FOR_CV} labels per class "
                                    f"({counts}), too few to show a trained model beats it", ap_zero_shot=ap_zs)
        return model, y, None
    folds = _folds(y, seed)
    smallest = min(n_pos, n_neg)
    grid = C_GRID if tune and smallest >= MIN_PER_CLASS_FOR_TUNING else (DEFAULT_C,)
    Xf = X.astype(np.float64)
    oof: dict[str, np.ndarray] = {"zero_shot": s}
    Cs: dict[str, float] = {}
    if can_train:
        Cs["linear"], oof["linear"] = _tuned_oof(lambda c: _oof_scores(Xf, y, c, folds), y, folds, grid)

    def combined_oof(c: float) -> np.ndarray:
        out = np.empty(len(y))
        for tr, te in folds:
            w, b = _fit_combined(Xj[tr], y[tr], t, c)
            out[te] = Xj[te] @ w + b
        return out

    Cs["combined"], oof["combined"] = _tuned_oof(combined_oof, y, folds, grid)
    aps = {k: float(average_precision(y, v)) for k, v in oof.items()}
    best = max(PREFERENCE, key=lambda k: (aps.get(k, -1.0), -PREFERENCE.index(k)))
    sel = Selection(best, _reason(best, aps, counts, len(folds)), ap_trained=aps.get("linear"),
                    ap_zero_shot=aps["zero_shot"], ap_combined=aps["combined"])
    if best == "linear":
        clf = _fit(Xf, y, Cs["linear"])
        model = LinearModel(w=clf.coef_[0].astype(np.float32), b=float(clf.intercept_[0]), kind="linear",
                            C=Cs["linear"], n_pos=n_pos, n_neg=n_neg)
    elif best == "combined":
        w, b = _fit_combined(Xj, y, t, Cs["combined"])
        model = LinearModel(w=w, b=b, kind="combined", C=Cs["combined"], n_pos=n_pos, n_neg=n_neg)
    else:
        model = _calibrated_zero_shot(zs.w, s, y, n_pos, n_neg)
    model.ap_cv = aps[best]
    model.ap_ci = bootstrap_ap_ci(y, oof[best], seed=seed)
    model.selection = sel
    model.train_seconds = time.perf_counter() - t0
    # Out-of-fold scores on the deployed model's own logit scale: the fold models' for trained
    # and combined; zero-shot has no fitted ranking, its logit is an affine map of the cosine.
    return model, y, (model.decision(X_joint).astype(np.float64) if best == "zero_shot" else oof[best])


def _reason(best: str, aps: dict[str, float], counts: str, k: int) -> str:
    names = {"linear": "trained", "zero_shot": "zero-shot", "combined": "combined"}
    table = ", ".join(f"{names[n]} {aps[n]:.3f}" for n in PREFERENCE if n in aps)
    others = [aps[n] for n in aps if n != best]
    if best == "zero_shot" and others and max(others) >= aps[best] - 1e-9:
        why = "no model beats zero-shot"
    elif best == "zero_shot":
        why = "zero-shot ranks the labels best"
    else:
        why = f"{names[best]} has the highest AP"
    return f"{why} ({k}-fold CV AP: {table}; {counts})"


def model_to_bytes(model: LinearModel, meta: ModelVersion) -> bytes:
    """Serialise to one .npz blob: weights as arrays, metadata as JSON (no pickle)."""
    extra = {"C": model.C, "ap_cv": model.ap_cv, "ap_ci": model.ap_ci,
             "platt": list(model.platt) if model.platt is not None else None}
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
    # Blobs written before calibration have no "platt": they load uncalibrated (probability NaN).
    platt = extra.get("platt")
    platt = (float(platt[0]), float(platt[1])) if platt is not None else None
    model = LinearModel(w=w, b=b, kind=meta.kind, C=extra.get("C"), ap_cv=extra.get("ap_cv"), ap_ci=ap_ci,
                        n_pos=meta.n_pos, n_neg=meta.n_neg, train_seconds=meta.train_seconds, platt=platt,
                        threshold=meta.threshold if platt is not None else None,
                        threshold_precision=(meta.threshold_precision if meta.threshold_precision is not None
                                             else DEFAULT_PRECISION_TARGET),
                        threshold_recall=meta.threshold_recall if platt is not None else None,
                        calibration=meta.calibration or "not calibrated: written before calibration existed")
    return model, meta
