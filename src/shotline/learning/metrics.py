"""Average precision that is fast enough to bootstrap (hundreds of resamples, vectorised), and the
calibration helpers (sigmoid, Platt probabilities, expected calibration error). numpy only: the query
service imports this module without scikit-learn."""

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


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """Logistic function without overflow warnings (``tanh`` form), in float64."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def platt_probability(decision: np.ndarray | float, platt: tuple[float, float] | list[float] | None) -> np.ndarray:
    """Calibrated P(positive) from decision values with Platt parameters ``(a, c)``:
    ``P = sigmoid(a · decision + c)``; ``platt=None`` (not calibrated) → NaN of the same shape."""
    d = np.asarray(decision, dtype=np.float64)
    if platt is None:
        return np.full(d.shape, np.nan)
    a, c = platt
    return sigmoid(a * d + c)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE with ``n_bins`` equal-width bins on [0, 1]: Σ_bins (n_bin / n) · |mean(y) − mean(p)|.
    A probability of exactly 1 falls in the last bin. NaN for an empty input."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if p.size == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    n = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, y, n_bins) - np.bincount(bins, p, n_bins))  # |Σy − Σp| per bin
    return float(gap.sum() / p.size) if n.sum() else float("nan")
