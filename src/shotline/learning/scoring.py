"""Streaming catalog scoring: one mat-vec per chunk, bounded memory for what the feeds need.

The catalog is any iterator of ``(ids, vectors)`` chunks (in-memory arrays today, a Milvus
query iterator later). Per chunk we keep only candidates for: highest scores, lowest scores,
closest to the decision boundary (|logit| smallest) and a uniform random sample (each row gets
a random key; the k smallest keys are a uniform sample without replacement — a vectorised
reservoir). Memory is O(chunk + k) whatever the catalog size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from shotline.errors import BadInput

from .classifier import LinearModel

Chunk = tuple[Sequence[str] | np.ndarray, np.ndarray]


@dataclass
class Ranked:
    """Shot ids with their logits, in feed order (best first)."""

    ids: list[str]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


class _SmallestK:
    """Keeps the k rows with the smallest keys seen so far (argpartition per chunk, then merge)."""

    def __init__(self, k: int):
        self.k = k
        self.keys = np.empty(0, dtype=np.float64)
        self.scores = np.empty(0, dtype=np.float32)
        self.ids = np.empty(0, dtype=object)

    def push(self, keys: np.ndarray, scores: np.ndarray, ids: Sequence[str] | np.ndarray) -> None:
        if self.k == 0 or keys.size == 0:
            return
        cand = np.arange(keys.size)
        if self.keys.size >= self.k:  # full: only rows beating the current worst can enter
            cand = cand[keys < self.keys.max()]
            if cand.size == 0:
                return
        if cand.size > self.k:
            cand = cand[np.argpartition(keys[cand], self.k - 1)[: self.k]]
        new_ids = ids[cand] if isinstance(ids, np.ndarray) else np.array([ids[i] for i in cand], dtype=object)
        keys_all = np.concatenate([self.keys, keys[cand]])
        scores_all = np.concatenate([self.scores, scores[cand]])
        ids_all = np.concatenate([self.ids, new_ids.astype(object)])
        if keys_all.size > self.k:
            keep = np.argpartition(keys_all, self.k - 1)[: self.k]
            keys_all, scores_all, ids_all = keys_all[keep], scores_all[keep], ids_all[keep]
        self.keys, self.scores, self.ids = keys_all, scores_all, ids_all

    def ranked(self, exclude: frozenset[str] | set[str], n: int) -> Ranked:
        order = np.argsort(self.keys, kind="stable")
        keep = [i for i in order if self.ids[i] not in exclude][:n]
        return Ranked(ids=[str(self.ids[i]) for i in keep], scores=self.scores[keep].astype(np.float32))


@dataclass
class ScoreTable:
    """What one full pass over the catalog leaves behind (already excluding labelled shots).

    Each candidate list holds up to 2n entries so feeds can be de-duplicated and still be full.
    """

    n_scored: int
    n_skipped: int  # rows with non-finite vectors (skipped, counted)
    top_positive: Ranked  # highest logits first
    top_negative: Ranked  # lowest logits first
    borderline: Ranked  # smallest |logit| first
    random: Ranked  # uniform sample of the catalog
    mean: float
    std: float
    all_scores: np.ndarray | None = None  # every logit in catalog order, only with keep_all=True
    all_ids: list[str] = field(default_factory=list)


def score_chunks(model: LinearModel, chunks: Iterable[Chunk], n: int = 100, *,
                 exclude: Iterable[str] = (), seed: int = 0, keep_all: bool = False) -> ScoreTable:
    """Score every chunk with ``X @ w + b`` and keep the n best candidates per feed.

    ``exclude`` (the labelled shots) is removed from every list; each list keeps
    ``2n + len(exclude)`` candidates while streaming so that n remain after removing the labelled
    shots and de-duplicating across feeds.
    A chunk whose vectors do not match the model dimension → BadInput("dim_mismatch").
    """
    excl = frozenset(exclude)
    cap = 2 * n + len(excl)
    w = np.asarray(model.w, dtype=np.float32)
    b = np.float32(model.b)
    rng = np.random.default_rng(seed)
    heaps = {name: _SmallestK(cap) for name in ("top_positive", "top_negative", "borderline", "random")}
    n_scored = n_skipped = 0
    total = total_sq = 0.0
    kept_scores: list[np.ndarray] = []
    kept_ids: list[str] = []
    for ids, X in chunks:
        try:
            X = np.asarray(X, dtype=np.float32)  # no copy for float32 chunks
        except (TypeError, ValueError) as exc:
            raise BadInput("bad_chunk", f"vectors are not numeric: {exc}") from exc
        if X.ndim != 2 or X.shape[1] != w.shape[0]:
            raise BadInput("dim_mismatch", f"chunk of shape {X.shape} does not match model dimension {w.shape[0]}")
        if len(ids) != X.shape[0]:
            raise BadInput("bad_chunk", f"{len(ids)} ids for {X.shape[0]} vectors")
        s = X @ w + b  # the one matrix product per chunk
        ok = np.isfinite(s)
        if not ok.all():
            n_skipped += int((~ok).sum())
            idx = np.flatnonzero(ok)
            s = s[idx]
            ids = np.asarray(ids, dtype=object)[idx]
        n_scored += s.size
        s64 = s.astype(np.float64)
        total += float(s64.sum())
        total_sq += float(s64 @ s64)
        heaps["top_positive"].push(-s64, s, ids)
        heaps["top_negative"].push(s64, s, ids)
        heaps["borderline"].push(np.abs(s64), s, ids)
        heaps["random"].push(rng.random(s.size), s, ids)
        if keep_all:
            kept_scores.append(s.astype(np.float32, copy=True))
            kept_ids.extend(str(i) for i in ids)
    mean = total / n_scored if n_scored else float("nan")
    std = float(np.sqrt(max(total_sq / n_scored - mean * mean, 0.0))) if n_scored else float("nan")
    return ScoreTable(
        n_scored=n_scored, n_skipped=n_skipped,
        top_positive=heaps["top_positive"].ranked(excl, 2 * n),
        top_negative=heaps["top_negative"].ranked(excl, 2 * n),
        borderline=heaps["borderline"].ranked(excl, 2 * n), random=heaps["random"].ranked(excl, 2 * n),
        mean=mean, std=std,
        all_scores=np.concatenate(kept_scores) if keep_all and kept_scores else (np.empty(0, np.float32) if keep_all else None),
        all_ids=kept_ids,
    )


def iter_chunks(ids: Sequence[str] | np.ndarray, X: np.ndarray, chunk_size: int = 65536) -> Iterable[Chunk]:
    """In-memory catalog as a chunk iterator (views, no copies)."""
    for start in range(0, X.shape[0], chunk_size):
        yield ids[start:start + chunk_size], X[start:start + chunk_size]


def per_video_aggregate(scores: np.ndarray, video_ids: Sequence[str] | np.ndarray,
                        how: Literal["max", "mean"] = "max") -> dict[str, float]:
    """Video-level score from its shots' scores (max: "has such a shot"; mean: "is mostly such")."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(video_ids) != scores.shape[0]:
        raise BadInput("bad_chunk", f"{len(video_ids)} video ids for {scores.shape[0]} scores")
    if how not in ("max", "mean"):
        raise BadInput("bad_aggregate", f"how must be 'max' or 'mean', got {how!r}")
    if scores.size == 0:
        return {}
    uniq, inv = np.unique(np.asarray(video_ids, dtype=str), return_inverse=True)
    if how == "mean":
        agg = np.bincount(inv, weights=scores, minlength=uniq.size) / np.bincount(inv, minlength=uniq.size)
    else:
        agg = np.full(uniq.size, -np.inf)
        np.maximum.at(agg, inv, scores)
    return {str(v): float(a) for v, a in zip(uniq, agg)}
