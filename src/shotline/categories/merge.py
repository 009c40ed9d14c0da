"""Per-category thresholds at a target precision, the union merge and the stacking meta-classifier.

Thresholds are picked on labelled validation data: for each category the lowest score whose
predictions reach the target precision (≥ 80% by default), i.e. the most recall at that
precision. A category that never reaches it (or has too few validation positives to tell) is
switched off for that model and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression

TARGET_PRECISION = 0.8
MIN_VAL_POSITIVES = 5  # fewer validation positives than this: precision is not measurable
MIN_SCORE = 0.05  # never fire below this, whatever validation says


@dataclass
class Thresholds:
    values: dict[str, float] = field(default_factory=dict)  # category id → threshold
    disabled: dict[str, str] = field(default_factory=dict)  # category id → why

    def as_array(self, ids: list[str]) -> np.ndarray:
        """[L] thresholds; +inf where a category is switched off."""
        return np.array([self.values.get(c, np.inf) for c in ids], np.float32)

    def to_json(self) -> dict:
        return {"values": self.values, "disabled": self.disabled}

    @classmethod
    def from_json(cls, doc: dict) -> Thresholds:
        return cls(dict(doc.get("values", {})), dict(doc.get("disabled", {})))


def threshold_for_precision(scores: np.ndarray, y: np.ndarray, target: float = TARGET_PRECISION) -> float | None:
    """Lowest threshold with precision ≥ target on (scores, y), or None."""
    y = np.asarray(y).astype(bool)
    if y.sum() < MIN_VAL_POSITIVES:
        return None
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], y[order]
    tp = np.cumsum(t)
    # tp / (n + 1): a pessimistic precision, so 3-of-3 on a handful of validation videos does
    # not pass for "100%" (the winner's curse of picking the lowest passing threshold).
    precision = tp / np.arange(2, len(t) + 2)
    # Only cut between distinct scores: a threshold keeps every tie.
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    ok = np.flatnonzero(last_of_tie & (precision >= target) & (s >= MIN_SCORE) & (tp > 0))
    if not len(ok):
        return None
    return float(s[ok[-1]])


def pick_thresholds(scores: np.ndarray, y: np.ndarray, ids: list[str], applicable: np.ndarray | None = None,
                    target: float = TARGET_PRECISION) -> Thresholds:
    """Per-category thresholds; ``applicable`` [L] bool (e.g. the visual model only has visual ids)."""
    out = Thresholds()
    for j, cid in enumerate(ids):
        if applicable is not None and not applicable[j]:
            out.disabled[cid] = "not_applicable"
            continue
        if y[:, j].sum() < MIN_VAL_POSITIVES:
            out.disabled[cid] = "too_few_validation_positives"
            continue
        thr = threshold_for_precision(scores[:, j], y[:, j], target)
        if thr is None:
            out.disabled[cid] = f"precision_below_{target:.2f}"
        else:
            out.values[cid] = thr
    return out


def union(text_p: np.ndarray, visual_p: np.ndarray, t_text: np.ndarray, t_vis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(selected [N,L] bool, score [N,L]): a category is in if either model clears its threshold;
    the score is the larger probability among the models that fired."""
    ft, fv = text_p >= t_text, visual_p >= t_vis
    score = np.where(ft & fv, np.maximum(text_p, visual_p), np.where(ft, text_p, visual_p))
    return ft | fv, np.where(ft | fv, score, 0.0)


def union_thresholds(text_p: np.ndarray, visual_p: np.ndarray, y: np.ndarray, ids: list[str],
                     t_text: Thresholds, t_vis: Thresholds, target: float = TARGET_PRECISION) -> tuple[Thresholds, Thresholds]:
    """Per-model thresholds each reach the target, but their union's false positives add up.
    Where the union misses the target on validation, keep only the better single model (by
    true positives among those that pass), or switch the category off."""
    tt, tv = t_text.as_array(ids), t_vis.as_array(ids)
    out_t, out_v = Thresholds(dict(t_text.values), dict(t_text.disabled)), Thresholds(dict(t_vis.values), dict(t_vis.disabled))
    for j, cid in enumerate(ids):
        ft, fv, yj = text_p[:, j] >= tt[j], visual_p[:, j] >= tv[j], y[:, j] > 0

        def ok(sel: np.ndarray) -> bool:
            return sel.sum() == 0 or (sel & yj).sum() / (sel.sum() + 1) >= target

        if ok(ft | fv):
            continue
        keep_text = ok(ft) and (ft & yj).sum() >= (fv & yj).sum() if ok(fv) else ok(ft)
        if keep_text:
            out_v.values.pop(cid, None)
            out_v.disabled[cid] = "union_precision"
        elif ok(fv):
            out_t.values.pop(cid, None)
            out_t.disabled[cid] = "union_precision"
        else:
            for t in (out_t, out_v):
                t.values.pop(cid, None)
                t.disabled[cid] = "union_precision"
    return out_t, out_v


def _stack_features(text_p: np.ndarray, visual_p: np.ndarray, has_text: np.ndarray, visual_cat: np.ndarray) -> np.ndarray:
    """Per (video, category) features → [N*L, 7]. Text/visual availability lets the stacker
    lean on whichever model has something to say for this video and category."""
    N, L = text_p.shape
    ht = np.broadcast_to(np.asarray(has_text, np.float32)[:, None], (N, L))
    vc = np.broadcast_to(np.asarray(visual_cat, np.float32)[None, :], (N, L))
    lt, lv = np.log(np.clip(text_p, 1e-4, 1)), np.log(np.clip(visual_p, 1e-4, 1))
    f = [text_p, visual_p, text_p * visual_p, lt * ht, lv * vc, ht, vc]
    return np.stack(f, axis=-1).reshape(-1, len(f)).astype(np.float32)


class MetaClassifier:
    """One small logistic regression over stacked text/visual probabilities, shared by all
    categories (pooled, so it needs little validation data)."""

    def __init__(self, coef: list[float] | None = None, intercept: float = 0.0):
        self.coef, self.intercept = coef, intercept

    def fit(self, text_p: np.ndarray, visual_p: np.ndarray, has_text: np.ndarray, visual_cat: np.ndarray,
            y: np.ndarray) -> MetaClassifier:
        X, t = _stack_features(text_p, visual_p, has_text, visual_cat), np.asarray(y).reshape(-1)
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(X, t)
        self.coef, self.intercept = lr.coef_[0].tolist(), float(lr.intercept_[0])
        return self

    def predict(self, text_p: np.ndarray, visual_p: np.ndarray, has_text: np.ndarray, visual_cat: np.ndarray) -> np.ndarray:
        if self.coef is None:
            raise RuntimeError("meta-classifier is not fitted")
        z = _stack_features(text_p, visual_p, has_text, visual_cat) @ np.asarray(self.coef, np.float32) + self.intercept
        return (1 / (1 + np.exp(-z))).reshape(text_p.shape).astype(np.float32)


def metrics(selected: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Micro precision/recall, coverage (share of videos with ≥ 1 category), categories/video."""
    sel, y = np.asarray(selected, bool), np.asarray(y, bool)
    tp = float((sel & y).sum())
    n_sel, n_pos = float(sel.sum()), float(y.sum())
    per_video = sel.sum(1)
    fired = sel.sum(0)
    judged = fired >= 5  # per-category precision only where a category fired often enough to tell
    per_cat = (sel & y).sum(0)[judged] / fired[judged]
    return {
        "categories_judged": float(judged.sum()),
        "categories_at_80pct": float((per_cat >= 0.8).sum()),
        "precision": tp / n_sel if n_sel else float("nan"),
        "recall": tp / n_pos if n_pos else float("nan"),
        "coverage": float((per_video > 0).mean()) if len(sel) else 0.0,
        "categories_per_video": float(per_video.mean()) if len(sel) else 0.0,
        "videos": float(len(sel)),
    }
