"""Average precision that is fast enough to bootstrap (hundreds of resamples, vectorised)."""

from __future__ import annotations

import numpy as np


def average_precision(y: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray | float:
    """AP = mean over positives of precision at that positive's rank (ties broken by order).

    ``weights`` (shape (n,) or (B, n)) are per-item multiplicities, which is how a bootstrap
    resample is expressed without copying data. Returns a float, or an array of B values.
    Matches ``sklearn.metrics.average_precision_score`` for untied scores.
    """
    y = np.asarray(y).astype(bool)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ys = y[order].astype(np.float64)
    if weights is None:
        w = np.ones((1, ys.size))
    else:
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))[:, order]
    tp = np.cumsum(w * ys, axis=1)
    seen = np.cumsum(w, axis=1)
    precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
    pos_w = (w * ys).sum(axis=1)
    ap = np.divide((w * ys * precision).sum(axis=1), pos_w, out=np.full_like(pos_w, np.nan), where=pos_w > 0)
    return float(ap[0]) if weights is None or np.ndim(weights) == 1 else ap


def bootstrap_ap_ci(
    y: np.ndarray, scores: np.ndarray, n_boot: int = 200, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap interval of AP, resampling items with replacement."""
    n = len(y)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    aps = average_precision(y, scores, counts)
    aps = aps[~np.isnan(aps)]
    if aps.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(aps, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))
