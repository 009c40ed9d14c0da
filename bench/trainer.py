"""Trainer round at catalog scale: retrain + rescore the whole catalog + build the four feeds.

Catalog: synthetic L2-normalised embeddings with a shared mean direction and a rare concept
(~2% positives), streamed by a pluggable chunk iterator (in-memory today; pass a Milvus query
iterator factory to ``run_case`` later). 1,000 labelled shots (20% positive, as after a few
active rounds). Ours: ``train_linear`` (C tuned by CV) → ``score_chunks`` → ``build_feeds``.
Baseline: the naive way — sklearn ``predict_proba`` on the full matrix (in 200k-row slices so
the float64 up-cast fits in RAM), then full argsorts for top/bottom/borderline and a set-lookup
mask excluding labelled shots. Ours selects feed candidates while scoring, so "rescore + feeds"
is compared as one figure.

Run: ``python -m bench.trainer`` (``--quick`` for 200k only). Writes bench/results/trainer.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from shotline.learning.classifier import DEFAULT_C, train_linear
from shotline.learning.feeds import build_feeds
from shotline.learning.scoring import Chunk, iter_chunks, score_chunks

FEED_N = 100
N_LABELLED = 1000
RESULTS = Path(__file__).parent / "results" / "trainer.json"


def synthetic_catalog(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids, X (n×d float32, unit rows), y (concept membership, ~2%). Built in place, chunk by chunk."""
    rng = np.random.default_rng(seed)
    mean_dir = rng.standard_normal(d).astype(np.float32)
    mean_dir *= 0.5 * np.sqrt(d) / np.linalg.norm(mean_dir)  # shared direction, like CLIP heads
    concept = rng.standard_normal(d).astype(np.float32)
    concept *= 0.12 * np.sqrt(d) / np.linalg.norm(concept)  # weak signal: AP well below 1
    X = np.empty((n, d), dtype=np.float32)
    y = rng.random(n) < 0.02
    step = 100_000
    for s in range(0, n, step):
        blk = X[s:s + step]
        rng.standard_normal(out=blk, dtype=np.float32)
        blk += mean_dir
        blk[y[s:s + step]] += concept
        blk /= np.linalg.norm(blk, axis=1, keepdims=True)
    ids = np.array([f"shot-{i}" for i in range(n)], dtype=object)
    return ids, X, y


def pick_labels(y: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pos = rng.choice(np.flatnonzero(y), N_LABELLED // 5, replace=False)
    neg = rng.choice(np.flatnonzero(~y), N_LABELLED - pos.size, replace=False)
    return np.concatenate([pos, neg])


def ours(ids: np.ndarray, X: np.ndarray, y: np.ndarray, lab: np.ndarray,
         chunks: Callable[[], Iterable[Chunk]]) -> dict[str, float]:
    t0 = time.perf_counter()
    model = train_linear(X[lab], y[lab].astype(int), seed=0)
    t1 = time.perf_counter()
    labelled = set(ids[lab])
    table = score_chunks(model, chunks(), n=FEED_N, exclude=labelled)
    t2 = time.perf_counter()
    feeds = build_feeds(table, FEED_N, exclude=labelled)
    t3 = time.perf_counter()
    assert all(len(f) == FEED_N for f in feeds.values())
    return {"train": t1 - t0, "score": t2 - t1, "feeds": t3 - t2, "total": t3 - t0, "C": model.C}


def naive(ids: np.ndarray, X: np.ndarray, y: np.ndarray, lab: np.ndarray) -> dict[str, float]:
    t0 = time.perf_counter()
    clf = LogisticRegression(C=DEFAULT_C, class_weight="balanced", max_iter=500).fit(X[lab], y[lab])
    t1 = time.perf_counter()
    p = np.concatenate([clf.predict_proba(X[s:s + 200_000])[:, 1] for s in range(0, len(X), 200_000)])
    t2 = time.perf_counter()
    labelled = set(ids[lab])
    free = np.fromiter((i not in labelled for i in ids), dtype=bool, count=len(ids))
    order = np.argsort(-p)
    top = order[free[order]][:FEED_N]
    bottom = order[::-1][free[order[::-1]]][:FEED_N]
    border = np.argsort(np.abs(p - 0.5))
    border = border[free[border]][:FEED_N]
    rand = np.random.default_rng(0).choice(np.flatnonzero(free), FEED_N, replace=False)
    t3 = time.perf_counter()
    assert len(top) == len(bottom) == len(border) == len(rand) == FEED_N
    return {"train": t1 - t0, "score": t2 - t1, "feeds": t3 - t2, "total": t3 - t0}


def run_case(n: int, d: int) -> list[dict]:
    ids, X, y = synthetic_catalog(n, d)
    lab = pick_labels(y)
    o = ours(ids, X, y, lab, lambda: iter_chunks(ids, X, 65536))
    b = naive(ids, X, y, lab)
    del ids, X, y
    gc.collect()
    tag = f"{n // 1000}k×{d}" if n < 1_000_000 else f"{n // 1_000_000}M×{d}"
    for r in (o, b):
        r["score+feeds"] = r["score"] + r["feeds"]
    rows = []
    for part, label in (("total", "retrain+rescore+feeds"), ("train", "retrain (ours: C tuned by 5-fold CV)"),
                        ("score+feeds", "rescore catalog + select feeds")):
        rows.append({"figure": f"{label} {tag}", "value": round(o[part], 3), "unit": "s",
                     "baseline": round(b[part], 3), "ratio": round(b[part] / max(o[part], 1e-9), 2)})
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(prog="python -m bench.trainer", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200k rows only")
    args = ap.parse_args(argv)
    sizes = [200_000] if args.quick else [200_000, 1_000_000]
    rows: list[dict] = []
    for n in sizes:
        for d in (384, 1280):
            rows += run_case(n, d)
            print(f"done {n}×{d}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    from rich.console import Console
    from rich.table import Table

    t = Table(title="trainer round (ours vs naive predict_proba + full argsort); ratio = baseline / ours")
    for col in ("figure", "ours", "baseline", "ratio"):
        t.add_column(col, justify="right" if col != "figure" else "left")
    for r in rows:
        t.add_row(r["figure"], f"{r['value']:.3f} {r['unit']}", f"{r['baseline']:.3f} {r['unit']}", f"{r['ratio']:.1f}x")
    Console().print(t)
    return rows


if __name__ == "__main__":
    main()
