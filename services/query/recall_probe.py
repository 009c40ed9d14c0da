"""Recall probe: a periodic, sampled check of the deployed search configuration against exact search.

Approximate indexes lose recall as the catalog grows and drifts (and text queries, out of the
distribution the index was built on, lose more than shot queries: README "Search"), so the
recall of what is deployed is measured, not assumed. The servicer hands every unfiltered
search's query vector to ``record`` (a bounded deque append, no I/O on the request path). Every
``interval_seconds`` a background thread takes up to ``sample_size`` of the recent queries per
kind and
- re-runs them through the deployed path (``ShotIndex.search`` with the same kind, so the same
  per-kind search parameters), and
- computes their exact top-k by brute force over every stored vector of the head
  (``ShotIndex.iterate_vectors``: one streamed pass for all sampled queries, memory one batch),
then publishes mean recall@k per kind as ``shotline_query_search_recall_ratio{kind}``. Both
answers are computed in the same run, so a catalog that changed since the user's query does
not count as a miss. The pass costs a full scan of the collection (at 1M x 384 on milvus-lite
~10 min of one Milvus thread), which is why it is periodic and sampled; ``exact`` replaces it
(e.g. a FLAT replica or a vector snapshot).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from shotline import logs
from shotline.index import QUERY_KINDS, QueryKind, ShotIndex

log = logs.get("shotline.query.recall_probe")

# Gauges: one process runs the probe (SHOTLINE_GRPC_PROCESSES: process 0), so in prometheus_client's
# multiprocess mode its latest value is the value, not one series per pid.
RECALL = Gauge("shotline_query_search_recall_ratio",
               "Recall@k of the deployed search against exact brute-force search, on a sample of recent "
               "unfiltered queries re-run by the recall probe (kind: text = SearchText, shot = SearchSimilar)",
               ["kind"], multiprocess_mode="mostrecent")
SAMPLED = Gauge("shotline_query_recall_probe_sampled_queries",
                "Queries the recall probe's last run checked, by kind", ["kind"], multiprocess_mode="mostrecent")
RUNS = Counter("shotline_query_recall_probe_runs_total",
               "Recall probe runs by outcome (ok, empty: no recent query or no stored row, error)", ["outcome"])
DURATION = Histogram("shotline_query_recall_probe_duration_seconds",
                     "Wall time of one recall probe run (deployed re-search + brute-force pass)",
                     buckets=(0.1, 0.5, 1, 5, 15, 60, 180, 600, 1800))
LAST_SUCCESS = Gauge("shotline_query_recall_probe_last_success_timestamp_seconds",
                     "Unix time of the recall probe's last successful run", multiprocess_mode="max")

# (head, query matrix (n, d), k) -> exact top-k primary keys, (n, k)
ExactSearch = Callable[[str, np.ndarray, int], np.ndarray]


def brute_force(index: ShotIndex, batch_rows: int = 10_000) -> ExactSearch:
    """Exact top-k by inner product over every stored vector of ``head``, in one streamed pass."""

    def exact(head: str, queries: np.ndarray, k: int) -> np.ndarray:
        best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        best_pk = np.full((len(queries), k), -1, dtype=np.int64)
        for pks, _, vecs in index.iterate_vectors(head, batch_size=batch_rows):
            s = np.concatenate([best_s, queries @ vecs.T], axis=1)
            p = np.concatenate([best_pk, np.broadcast_to(pks, (len(queries), len(pks)))], axis=1)
            top = np.argpartition(-s, k - 1, axis=1)[:, :k]  # s has >= k + 1 columns
            best_s, best_pk = np.take_along_axis(s, top, axis=1), np.take_along_axis(p, top, axis=1)
        return best_pk

    return exact


def recall_at_k(found: list[list[int]], exact: np.ndarray, k: int) -> float:
    """Mean over queries of |found[:k] & exact[:k]| / min(k, stored rows); ``-1`` pads exact."""
    vals = []
    for f, e in zip(found, exact, strict=True):
        truth = {int(x) for x in e[:k] if x >= 0}
        if truth:
            vals.append(len(set(f[:k]) & truth) / len(truth))
    return float(np.mean(vals)) if vals else float("nan")


class RecallProbe:
    """Samples recent queries and publishes the deployed search's recall against exact search.

    ``heads``: the index head each query kind searches (SearchText: joint; SearchSimilar: the
    servicer's similar head). ``start()`` runs a daemon thread (the first run after one interval);
    ``stop()`` ends it; ``run_once()`` is the check itself, callable directly."""

    def __init__(self, index: ShotIndex, heads: dict[str, str] | None = None, interval_seconds: float = 1800.0,
                 sample_size: int = 16, recent_size: int = 256, top_k: int = 10,
                 consistency_level: str = "Strong", exact: ExactSearch | None = None, seed: int | None = None):
        if interval_seconds <= 0 or sample_size < 1 or recent_size < 1 or not 1 <= top_k <= 1000:
            raise ValueError("need interval_seconds > 0, sample_size >= 1, recent_size >= 1, 1 <= top_k <= 1000")
        self.index = index
        self.heads = dict(heads or {"text": "joint", "shot": "visual" if "visual" in index.dims else "joint"})
        unknown = set(self.heads) - set(QUERY_KINDS)
        if unknown:
            raise ValueError(f"unknown query kinds {sorted(unknown)}; kinds are {QUERY_KINDS}")
        self.interval_seconds = interval_seconds
        self.sample_size = sample_size
        self.top_k = top_k
        self.consistency_level = consistency_level
        self.exact = exact or brute_force(index)
        self._recent: dict[str, deque[np.ndarray]] = {k: deque(maxlen=recent_size) for k in self.heads}
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: dict[str, float] = {}

    def record(self, kind: QueryKind, vector: np.ndarray) -> None:
        """Remember an unfiltered query's vector (the caller skips filtered ones: exact search
        here has no filters). Cheap: a deque append; safe from any thread."""
        recent = self._recent.get(kind)
        if recent is not None:
            recent.append(np.asarray(vector, dtype=np.float32).reshape(-1))

    def run_once(self) -> dict[str, float]:
        """Check a sample of the recent queries of every kind; returns and publishes recall@k."""
        t0 = time.perf_counter()
        out: dict[str, float] = {}
        try:
            for kind, head in self.heads.items():
                recent = list(self._recent[kind])
                if not recent:
                    continue
                sample = self._rng.sample(recent, min(self.sample_size, len(recent)))
                Q = np.stack(sample)
                deployed = self.index.search(head, Q, self.top_k, kind=kind,  # type: ignore[arg-type]
                                             consistency_level=self.consistency_level)
                truth = self.exact(head, Q, self.top_k)
                r = recall_at_k([[h.pk for h in hs] for hs in deployed], truth, self.top_k)
                if r == r:  # not NaN: the collection had rows
                    out[kind] = r
                    RECALL.labels(kind).set(r)
                    SAMPLED.labels(kind).set(len(sample))
        except Exception:
            RUNS.labels("error").inc()
            log.exception("recall probe failed")
            raise
        finally:
            DURATION.observe(time.perf_counter() - t0)
        RUNS.labels("ok" if out else "empty").inc()
        if out:
            LAST_SUCCESS.set(time.time())
            log.info("recall probe", seconds=round(time.perf_counter() - t0, 2), **{f"recall_{k}": round(v, 4)
                                                                                    for k, v in out.items()})
        self.last = out
        return out

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - counted and logged in run_once; try again next interval
                pass

    def start(self) -> RecallProbe:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="recall-probe", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the loop; a run in progress finishes in the background (daemon thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
