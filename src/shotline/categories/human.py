"""Category labels from people: the label store's rules, the human-adapted category model and
its thresholds, and a labelled video's own categories.

- **Label store rules** (``merge_event``): per video × category the latest label wins (by event
  time, so a redelivered older event never overwrites a newer one); CLEARED removes a label.
- **Training targets** (``targets``): a person's label is ground truth for that video and
  category, and a negative reaches down the hierarchy (a negative "Pets" is a negative for every
  kind of pet; a positive "Pets > Cats" reaches "Pets" at serving time only); on the other videos the text model's confident
  pseudo-labels (``pseudo.make_targets``) are mixed in with a small weight — humans win on
  conflict, on the video they labelled by construction, and on look-alike videos by weight.
- **Model** (``HumanAdapter``): for every category a person labelled, a residual logistic head on
  top of the running (day-one) model: ``p = σ(logit(p_base) + w·x + b)``, where ``x`` is the
  video's mean joint-space shot vector beside its text embedding. L2 pulls ``w`` to 0, so with no
  evidence the base model is kept; one label already moves that video and its look-alikes. Fitted
  for all labelled categories at once (L-BFGS, one matrix product per step): well under a second
  for a thousand videos.
- **Thresholds**: per adapted category, the lowest score at ≥ 80% precision on out-of-fold scores
  (``merge.threshold_for_precision``; human labels and confident pseudo-labels as the truth, so
  the catalog's negatives count, not only the few a person gave), never below the base model's
  threshold (the measurement can make a category stricter, not laxer), once a category has
  ``merge.MIN_VAL_POSITIVES`` human positives and as many negatives; else the base model's
  threshold. A category with enough labels that never reaches 80% is switched off (its human
  labels are still served on the videos they were given on).
- **A labelled video's categories** (``apply_labels``): its human labels are applied on top of the
  model's output wherever it is classified (a positive is served, a negative never is).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from shotline.categories import merge, pseudo
from shotline.errors import BadInput
from shotline.taxonomy import Taxonomy, load_taxonomy

POSITIVE, NEGATIVE = "positive", "negative"
HUMAN_WEIGHT = 1.0
PSEUDO_WEIGHT = 0.3   # a confident text pseudo-label counts 0.3 of a person's label
PSEUDO_POS = 0.9      # "confident": the day-one threshold (pseudo-positive) ...
PSEUDO_NEG = pseudo.NEG_THRESHOLD  # ... and below 0.1 (pseudo-negative)
L2 = 0.5              # ridge on the residual head (pulls it back to the base model)
BIAS_L2 = 50.0        # a stiff ridge on its intercept: a head moves look-alikes, not every video
MIN_NEGATIVES = merge.MIN_VAL_POSITIVES  # human negatives a category needs for its own threshold
MAX_FOLDS = 5
SUBSPACE = 128        # feature directions the heads are fitted in (of 2 × 384)
MAX_LABELS_PER_REQUEST = 500
MAX_ANNOTATOR_CHARS = 200


# -- label store rules -------------------------------------------------------------------
@dataclass(frozen=True)
class HumanLabel:
    category_id: str
    positive: bool
    annotator: str = ""
    ts_ms: int = 0

    def to_json(self) -> dict:
        return {"v": POSITIVE if self.positive else NEGATIVE, "a": self.annotator, "t": self.ts_ms}

    @classmethod
    def from_json(cls, category_id: str, d: Mapping) -> HumanLabel:
        return cls(category_id, d.get("v") == POSITIVE, str(d.get("a", "")), int(d.get("t", 0)))


@dataclass
class Merged:
    """What one label event changes for one video."""

    upserts: dict[str, HumanLabel] = field(default_factory=dict)
    clears: list[str] = field(default_factory=list)
    stale: int = 0  # items older than what is stored (redelivered out of order): ignored
    problems: list[str] = field(default_factory=list)


def merge_event(current: Mapping[str, HumanLabel], items: Sequence[tuple[str, str]], annotator: str, ts_ms: int,
                taxonomy: Taxonomy) -> Merged:
    """``items``: (category id, "positive" | "negative" | "cleared") in event order — later in the
    event wins. Unknown categories and values are reported, not stored."""
    out = Merged()
    latest: dict[str, str] = {}
    for cid, value in items:
        if cid not in taxonomy:
            out.problems.append(f"unknown category {cid!r}")
            continue
        if value not in (POSITIVE, NEGATIVE, "cleared"):
            out.problems.append(f"no value for {cid}")
            continue
        if cid in latest and latest[cid] != value:
            out.problems.append(f"contradictory labels for {cid}: the later one kept")
        latest[cid] = value
    for cid, value in latest.items():
        cur = current.get(cid)
        if cur is not None and cur.ts_ms > ts_ms:
            out.stale += 1
            continue
        if value == "cleared":
            if cur is not None:
                out.clears.append(cid)
        else:
            out.upserts[cid] = HumanLabel(cid, value == POSITIVE, annotator, ts_ms)
    return out


def check_request(taxonomy: Taxonomy, video_id: str, labels: Sequence[tuple[str, int]], annotator: str) -> None:
    """The query API's checks of a LabelVideoCategories request (BadInput → INVALID_ARGUMENT).
    ``labels``: (category id, LabelValue number: 1 positive, 2 negative, 3 cleared)."""
    if not video_id:
        raise BadInput("bad_request", "video_id is required")
    if not labels:
        raise BadInput("bad_request", "labels must not be empty")
    if len(labels) > MAX_LABELS_PER_REQUEST:
        raise BadInput("too_many", f"at most {MAX_LABELS_PER_REQUEST} labels per call, got {len(labels)}")
    if len(annotator) > MAX_ANNOTATOR_CHARS:
        raise BadInput("bad_annotator", f"annotator is longer than {MAX_ANNOTATOR_CHARS} characters")
    unknown = sorted({c for c, _ in labels if c not in taxonomy})
    if unknown:
        raise BadInput("unknown_category", f"not in taxonomy {taxonomy.version}: {', '.join(unknown)[:900]}")
    unset = sorted({c for c, v in labels if v not in (1, 2, 3)})
    if unset:
        raise BadInput("bad_label_value", f"give POSITIVE, NEGATIVE or CLEARED for: {', '.join(unset)[:900]}")
    seen: dict[str, int] = {}
    for c, v in labels:
        if seen.setdefault(c, v) != v:
            raise BadInput("contradictory_labels", f"category {c} is labelled twice with different values")


@lru_cache(maxsize=4)
def cached_taxonomy(path: str | None = None) -> Taxonomy:
    return load_taxonomy(path)


# -- labelled video's own categories ------------------------------------------------------
def closed_labels(taxonomy: Taxonomy, labels: Mapping[str, bool]) -> dict[str, bool]:
    """A person's labels of one video, reaching the hierarchy: positives pull in their ancestors,
    negatives push out their descendants. Explicit labels always beat implied ones; two implied
    ones that disagree leave the category unlabelled."""
    implied: dict[str, set[bool]] = {}
    for cid, pos in labels.items():
        if pos:
            for a in taxonomy.ancestors(cid):
                implied.setdefault(a, set()).add(True)
        else:
            for d in _descendants(taxonomy, cid):
                implied.setdefault(d, set()).add(False)
    out = {c: next(iter(v)) for c, v in implied.items() if len(v) == 1 and c not in labels}
    out.update(labels)
    return out


def _descendants(taxonomy: Taxonomy, cid: str) -> list[str]:
    out, todo = [], [cid]
    while todo:
        for ch in taxonomy.children(todo.pop()):
            out.append(ch.id)
            todo.append(ch.id)
    return out


def apply_labels(doc: dict, labels: Mapping[str, bool], taxonomy: Taxonomy) -> dict:
    """A read-model categories document (``messages.read_model_doc``) with the video's human
    labels applied: a negative (or a negative ancestor) removes a category; a positive the model
    missed is added with ``source: "human"`` (score 1, threshold 0)."""
    if not labels:
        return doc
    closed = closed_labels(taxonomy, labels)
    cats = [c for c in doc.get("categories", []) if closed.get(c["category_id"], True)]
    have = {c["category_id"] for c in cats}
    for cid, pos in closed.items():
        if pos and cid not in have:
            cats.append({"category_id": cid, "name": taxonomy[cid].name, "score": 1.0, "threshold": 0.0,
                         "source": "human"})
    cats.sort(key=lambda c: -c["score"])
    return {**doc, "categories": cats, "human_labels": len(labels)}


# -- the adapted model ---------------------------------------------------------------------
def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def features(pooled_joint: np.ndarray, text_embedding: np.ndarray) -> np.ndarray:
    """[N, 2d]: the video's L2-normalised mean joint shot vector beside its text embedding
    (zeros where a video has no shots or no text)."""
    v = np.asarray(pooled_joint, np.float32)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.where(n > 0, v / np.maximum(n, 1e-12), 0.0)
    return np.concatenate([v, np.asarray(text_embedding, np.float32)], axis=1).astype(np.float32)


@dataclass
class HumanAdapter:
    category_ids: list[str]
    W: np.ndarray  # [D, K]
    b: np.ndarray  # [K]
    thresholds: merge.Thresholds  # adapted categories whose own threshold came from human labels
    release: int = 0
    info: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.W.shape[0])

    def predict(self, X: np.ndarray, p_base: np.ndarray) -> np.ndarray:
        """[N, K] adapted probabilities; ``p_base`` [N, K] the base model's on the same columns."""
        if not self.category_ids:
            return np.zeros((len(X), 0), np.float32)
        return _sigmoid(_logit(p_base) + np.asarray(X, np.float64) @ self.W + self.b).astype(np.float32)

    def threshold_array(self, base_thresholds: np.ndarray) -> np.ndarray:
        """[K]: the human-validated threshold, +inf when switched off, else the base model's."""
        out = np.asarray(base_thresholds, np.float32).copy()
        for k, cid in enumerate(self.category_ids):
            if cid in self.thresholds.values:
                out[k] = self.thresholds.values[cid]
            elif cid in self.thresholds.disabled:
                out[k] = np.inf
        return out

    def manifest(self) -> dict:
        return {"category_ids": self.category_ids, "thresholds": self.thresholds.to_json(), "release": self.release,
                "dim": self.dim}

    def weights_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, W=self.W.astype(np.float32), b=self.b.astype(np.float32))
        return buf.getvalue()

    def save(self, directory: Path) -> None:
        (directory / "human_adapter.npz").write_bytes(self.weights_bytes())
        (directory / "human_adapter.json").write_text(json.dumps({**self.manifest(), "info": self.info}, default=float))

    @classmethod
    def load(cls, directory: Path) -> HumanAdapter | None:
        meta_path = directory / "human_adapter.json"
        if not meta_path.is_file():
            return None
        doc = json.loads(meta_path.read_text())
        with np.load(directory / "human_adapter.npz", allow_pickle=False) as z:
            W, b = z["W"].astype(np.float32), z["b"].astype(np.float32)
        return cls(list(doc["category_ids"]), W, b, merge.Thresholds.from_json(doc["thresholds"]),
                   int(doc.get("release", 0)), doc.get("info", {}))


def fit_heads(X: np.ndarray, p_base: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float | None = None,
              max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Weighted BCE of ``σ(logit(p_base) + X·W + b)`` + ``l2/2·(‖W‖² + ‖b‖²)`` for K heads at once.
    X [N, D]; p_base, y, w [N, K]. Returns (W [D, K], b [K])."""
    l2 = L2 if l2 is None else l2
    X = np.asarray(X, np.float32)
    N, D = X.shape
    K = y.shape[1]
    if K == 0 or N == 0:
        return np.zeros((D, K), np.float32), np.zeros(K, np.float32)
    if D > SUBSPACE:
        # Fit in the top principal directions of the videos' features (W = V·A, ‖W‖ = ‖A‖):
        # a few times fewer flops per step, the directions the catalog does not use left out.
        _, _, vt = np.linalg.svd(X, full_matrices=False)
        V = vt[:SUBSPACE].T.astype(np.float32)  # [D, r]
        A, b = fit_heads(X @ V, p_base, y, w, l2, max_iter)
        return (V @ A).astype(np.float32), b
    reg = np.concatenate([np.full(D * K, l2), np.full(K, BIAS_L2)])
    off, y, w = _logit(p_base).astype(np.float32), np.asarray(y, np.float32), np.asarray(w, np.float32)

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = theta[: D * K].reshape(D, K).astype(np.float32), theta[D * K:].astype(np.float32)
        z = off + X @ W + b
        # log(1 + e^z) - y z, stably
        loss = float((w * (np.logaddexp(0.0, z) - y * z)).sum(dtype=np.float64)) + 0.5 * float((reg * theta) @ theta)
        g = (w * (_sigmoid(z) - y)).astype(np.float32)
        grad = np.concatenate([(X.T @ g).ravel(), g.sum(0)]).astype(np.float64) + reg * theta
        return float(loss), grad

    res = minimize(f, np.zeros(D * K + K), jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    theta = res.x
    return theta[: D * K].reshape(D, K).astype(np.float32), theta[D * K:].astype(np.float32)


@dataclass
class Targets:
    category_ids: list[str]  # the adapted categories (every one a person labelled, closed upwards/downwards)
    y: np.ndarray            # [N, K]
    w: np.ndarray            # [N, K]
    known: np.ndarray        # [N, K] bool: a person's label (explicit or implied by the hierarchy)
    stats: dict


def targets(taxonomy: Taxonomy, video_ids: Sequence[str], labels: Mapping[str, Mapping[str, bool]],
            text_p: np.ndarray) -> Targets:
    """``labels``: video → {category → positive}; ``text_p`` [N, L] the base text model's
    probabilities of the same videos (all taxonomy columns)."""
    # Implied negatives (the descendants of a negative) train; implied positives (the ancestors of
    # a positive) do not: serving pulls ancestors in anyway, and a parent trained on positives of
    # all its children learns "anything" and fires on unrelated videos.
    closed = {v: {c: p for c, p in closed_labels(taxonomy, lab).items() if c in lab or not p}
              for v, lab in labels.items() if lab}
    cids = sorted({c for lab in closed.values() for c in lab}, key=taxonomy.ids.index)
    col = {c: k for k, c in enumerate(cids)}
    tcol = np.array([taxonomy.ids.index(c) for c in cids], int)
    N, K = len(video_ids), len(cids)
    hy, known = np.zeros((N, K), np.float32), np.zeros((N, K), bool)
    for i, vid in enumerate(video_ids):
        for c, pos in closed.get(vid, {}).items():
            hy[i, col[c]], known[i, col[c]] = float(pos), True
    tp = np.asarray(text_p, np.float32)[:, tcol] if K else np.zeros((N, 0), np.float32)
    y, w, st = pseudo.make_targets(tp, hy, known, PSEUDO_POS, PSEUDO_NEG) if K else (hy, hy.copy(), None)
    w = np.where(known, HUMAN_WEIGHT, w * PSEUDO_WEIGHT).astype(np.float32)
    stats = {"videos": N, "human_videos": int(known.any(1).sum()), "categories": K,
             "human_positives": int((known & (hy > 0)).sum()), "human_negatives": int((known & (hy == 0)).sum()),
             "pseudo_positives": int(((w > 0) & ~known & (y > 0)).sum()),
             "pseudo_negatives": int(((w > 0) & ~known & (y == 0)).sum())}
    if st is not None:
        stats["pseudo"] = st.to_json()
    return Targets(cids, y, w, known, stats)


def _folds(video_ids: Sequence[str], k: int) -> np.ndarray:
    import hashlib

    return np.array([int.from_bytes(hashlib.blake2b(v.encode(), digest_size=4).digest(), "big") % k
                     for v in video_ids], int)


def fit_adapter(X: np.ndarray, p_base: np.ndarray, t: Targets, video_ids: Sequence[str], base_thresholds: np.ndarray,
                release: int = 0, target: float = merge.TARGET_PRECISION) -> HumanAdapter:
    """The adapter over ``t.category_ids``; ``p_base`` [N, K], ``base_thresholds`` [K] (the base
    model's, kept where human labels are too few to recompute them)."""
    X = np.asarray(X, np.float32)
    V = None
    if X.shape[1] > SUBSPACE and len(X):  # one subspace for the fit and every fold (see fit_heads)
        V = np.linalg.svd(X, full_matrices=False)[2][:SUBSPACE].T.astype(np.float32)
        X = X @ V
    W, b = fit_heads(X, p_base, t.y, t.w)
    thr = merge.Thresholds()
    hpos = (t.known & (t.y > 0)).sum(0)
    hneg = (t.known & (t.y == 0)).sum(0)
    enough = (hpos >= merge.MIN_VAL_POSITIVES) & (hneg >= MIN_NEGATIVES)
    oof = np.full(t.y.shape, np.nan, np.float32)
    if enough.any():
        k = int(min(MAX_FOLDS, max(2, hpos[enough].min())))
        fold = _folds(video_ids, k)
        cols = np.flatnonzero(enough)
        for f in range(k):
            held = fold == f
            w_tr = t.w[:, cols].copy()
            w_tr[held] = 0.0  # the held-out videos teach nothing, pseudo-labels included
            Wf, bf = fit_heads(X, p_base[:, cols], t.y[:, cols], w_tr)
            oof[np.ix_(held, cols)] = _sigmoid(_logit(p_base[np.ix_(held, cols)]) + X[held] @ Wf + bf)
    for kcol, cid in enumerate(t.category_ids):
        if not enough[kcol]:
            continue
        # Precision is measured on every video with a target, people's labels and confident
        # pseudo-labels alike: people label few, often easy, negatives; the catalog's own
        # (pseudo-)negatives are what a low threshold would fire on.
        rows = (t.w[:, kcol] > 0) & np.isfinite(oof[:, kcol])
        got = merge.threshold_for_precision(oof[rows, kcol], t.y[rows, kcol], target)
        if got is None:
            thr.disabled[cid] = f"precision_below_{target:.2f}"
        else:
            # Never below the base model's: labels people give are few and biased towards the
            # model's mistakes, and unlabelled videos without confident text have no target, so
            # measured precision is optimistic; raising a threshold (or switching a category off)
            # is what the measurement can back.
            thr.values[cid] = max(got, float(base_thresholds[kcol]))
    info = {**t.stats, "recomputed_thresholds": len(thr.values), "disabled": len(thr.disabled),
            "kept_base_thresholds": int((~enough).sum()),
            "base_thresholds": {c: float(x) for c, x in zip(t.category_ids, base_thresholds)}}
    if V is not None:
        W = (V @ W).astype(np.float32)
    return HumanAdapter(list(t.category_ids), W, b, thr, release, info)


def labels_of(raw: Mapping[str, Mapping]) -> dict[str, bool]:
    """A video's stored labels (category → {"v", "a", "t"}) → category → positive."""
    return {c: d.get("v") == POSITIVE for c, d in raw.items()}


def stored_labels(raw: Iterable[tuple[str, Mapping]]) -> dict[str, HumanLabel]:
    return {c: HumanLabel.from_json(c, d) for c, d in raw}


# -- one retrain -----------------------------------------------------------------------------
def retrain(base, requests: Sequence, labels: Mapping[str, Mapping[str, bool]], release: int,  # type: ignore[no-untyped-def]
            batch: int = 256):
    """The base service (``CategoryService``, the running day-one or trained model) plus an adapter
    fitted on ``labels`` (video → {category → positive}) over ``requests`` (the labelled videos and
    a sample of unlabelled ones, for pseudo-labels). Returns (``CategoryModels``, info). Always from
    the base: a release never stacks on the previous one, it is refitted from every current label."""
    from dataclasses import replace

    from shotline.categories.service import CategoryService

    tax = base.tax
    probe_adapter = HumanAdapter([], np.zeros((2 * base.m.zero_shot.E.shape[1], 0), np.float32), np.zeros(0, np.float32),
                                 merge.Thresholds())
    probe = CategoryService(replace(base.m, adapter=probe_adapter), base.encode_text)
    text_p, p_base, X = [], [], []
    for start in range(0, len(requests), batch):
        s = probe.scores(requests[start:start + batch])
        text_p.append(s.text)
        p_base.append(probe.base_proba(s))
        X.append(s.features)
    D = probe_adapter.dim
    L = len(tax)
    text_p_a = np.concatenate(text_p) if text_p else np.zeros((0, L), np.float32)
    p_base_a = np.concatenate(p_base) if p_base else np.zeros((0, L), np.float32)
    X_a = np.concatenate(X) if X else np.zeros((0, D), np.float32)
    vids = [r.video_id for r in requests]
    t = targets(tax, vids, labels, text_p_a)
    cols = np.array([tax.ids.index(c) for c in t.category_ids], int)
    base_thr = probe.base_thresholds()[cols]
    adapter = fit_adapter(X_a, p_base_a[:, cols], t, vids, base_thr, release=release)
    info = {**adapter.info, "release": release}
    return replace(base.m, adapter=adapter, info={**base.m.info, "human_labels": info}), info
