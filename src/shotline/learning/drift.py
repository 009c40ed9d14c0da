"""Per-classifier drift: has the score distribution or the embedding population moved?

PSI (population stability index) over bins fixed on the reference window (its deciles), so
the same bins are reused for every later comparison; plus the cosine distance between the
mean embeddings of the two windows (catches a content shift even before scores react).
The centroid signal assumes embeddings share a mean direction, as CLIP-style heads do; on
zero-mean (standardised) features the centroid is noise and only PSI should be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shotline.errors import BadInput

PSI_THRESHOLD = 0.2  # industry rule of thumb: < 0.1 stable, 0.1–0.2 watch, > 0.2 shifted
CENTROID_THRESHOLD = 0.01  # cosine distance between window centroids; random halves of one
# window sit near 0.001–0.003 (digits), a 3-of-10-class content mix at 0.016. Calibrate per
# embedding model (about 5x the random-halves shift of the reference window).
N_BINS = 10
_EPS = 1e-4  # floor on bin fractions so an empty bin does not give an infinite PSI


@dataclass(frozen=True)
class DriftReport:
    psi: float
    centroid_shift: float | None
    drifted: bool


def reference_bins(reference_scores: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Inner bin edges = quantiles of the reference window (fixed from then on)."""
    ref = _finite_1d(reference_scores, "reference_scores")
    return np.unique(np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1]))


def psi(reference_scores: np.ndarray, current_scores: np.ndarray, edges: np.ndarray | None = None) -> float:
    """PSI = Σ (cur − ref) · ln(cur / ref) over bins."""
    ref = _finite_1d(reference_scores, "reference_scores")
    cur = _finite_1d(current_scores, "current_scores")
    edges = reference_bins(ref) if edges is None else np.asarray(edges)
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
    q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
    p, q = np.maximum(p, _EPS), np.maximum(q, _EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def centroid_shift(reference_vectors: np.ndarray, current_vectors: np.ndarray) -> float:
    """Cosine distance between the mean embeddings of the two windows."""
    a = np.asarray(reference_vectors, dtype=np.float64).mean(axis=0)
    b = np.asarray(current_vectors, dtype=np.float64).mean(axis=0)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0 or not np.isfinite(na * nb):
        raise BadInput("bad_embeddings", "window centroid is zero or non-finite")
    return float(1.0 - a @ b / (na * nb))


def detect_drift(reference_scores: np.ndarray, current_scores: np.ndarray,
                 reference_vectors: np.ndarray | None = None, current_vectors: np.ndarray | None = None,
                 *, psi_threshold: float = PSI_THRESHOLD, centroid_threshold: float = CENTROID_THRESHOLD,
                 edges: np.ndarray | None = None) -> DriftReport:
    """Drifted when PSI or the centroid shift (if vectors are given) crosses its threshold."""
    value = psi(reference_scores, current_scores, edges)
    shift = None
    if reference_vectors is not None and current_vectors is not None:
        if np.shape(reference_vectors)[1:] != np.shape(current_vectors)[1:] or np.ndim(reference_vectors) != 2:
            raise BadInput("dim_mismatch", "reference and current vectors must be 2-d with the same dimension")
        shift = centroid_shift(reference_vectors, current_vectors)
    drifted = value > psi_threshold or (shift is not None and shift > centroid_threshold)
    return DriftReport(psi=value, centroid_shift=shift, drifted=bool(drifted))


def _finite_1d(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise BadInput("empty_window", f"{name} has no finite scores")
    return arr
