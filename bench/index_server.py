"""Shot index on a real Milvus 2.3.5 standalone server: ingest rate, HNSW latency and recall.

Same clustered shot data and queries as ``bench.index`` (milvus-lite); exact numpy search is
the baseline for latency and the ground truth for recall@10. The server is started from its
own venv (installed on first use) on a free block of ports in a temp dir, and stopped after.

Run: ``python -m bench.index_server [--n 200000] [--dim 512] [--ef 64,128]`` (PYTHONPATH=src:.).
Writes ``bench/results/index_server.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.index import HEAD, N_QUERIES, N_TIMED_EXACT, SHOTS_PER_VIDEO, TOP_K, _lat, _recall, _rows, _unit, shot_vectors
from shotline.index import ShotIndex
from shotline.stack.milvus_server import MilvusServer23, free_port_block

RESULTS = Path(__file__).parent / "results" / "index_server.json"


def _figure(figure: str, value: float, unit: str, baseline: float | None = None, ratio: float | None = None) -> dict:
    return {"figure": figure, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio}


def _wait_indexed(ix: ShotIndex, n: int, timeout: float) -> None:
    """Until the HNSW index covers every row (2.3 builds it asynchronously on sealed segments)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = ix.client.describe_index(ix.collection, f"{HEAD}_vec")
        if int(d.get("indexed_rows", 0)) >= n and int(d.get("pending_index_rows", 0)) == 0:
            return
        time.sleep(1)
    raise TimeoutError(f"index not built within {timeout:.0f}s: {d}")


def run(uri: str, n: int, dim: int, build: dict[str, Any], efs: list[int]) -> list[dict]:
    label = f"{n // 1000}k x {dim}d, Milvus 2.3.5"
    ix = ShotIndex(uri, f"bench_server_{n}_{dim}", {HEAD: dim}, index_type="HNSW", index_params=build,
                   model_id="bench", scalar_indexes=False, timeout=600)
    if ix.client.has_collection(ix.collection):
        ix.drop()
    ix.ensure_collection()
    X = np.empty((n, dim), dtype=np.float32)
    pk_of_row = np.empty(n, dtype=np.int64)
    t0 = time.perf_counter()
    for v0, vecs in shot_vectors(n, dim):  # production path: validation, pk hashing, batches
        rows = _rows(v0, vecs)
        ix.upsert(rows)
        s = v0 * SHOTS_PER_VIDEO
        X[s:s + len(vecs)] = vecs
        pk_of_row[s:s + len(vecs)] = [r.pk for r in rows]
    ingest_s = time.perf_counter() - t0
    res = [_figure(f"ingest rows/s ({label}, upsert)", n / ingest_s, "rows/s")]
    print(f"  ingest {n / ingest_s:,.0f} rows/s", flush=True)

    t0 = time.perf_counter()
    ix.client.flush(ix.collection, timeout=600)  # seal segments: only sealed ones get the index
    # 1M x 512 on 2 cores: 16 min at efConstruction 100, more than 15 at 200.
    _wait_indexed(ix, n, timeout=max(900.0, n / 400))
    ix.client.release_collection(ix.collection, timeout=600)  # reload so every segment serves HNSW
    ix.client.load_collection(ix.collection, timeout=600)
    build_s = time.perf_counter() - t0
    res.append(_figure(f"HNSW M={build['M']} efC={build['efConstruction']} flush+build+load ({label})", build_s, "s"))
    print(f"  HNSW flush+build+load {build_s:.1f} s", flush=True)
    assert ix.count() == n

    row_of_pk = {int(p): i for i, p in enumerate(pk_of_row)}
    rng = np.random.default_rng(1)
    queries = _unit(X[rng.choice(n, N_QUERIES, replace=False)]
                    + rng.standard_normal((N_QUERIES, dim)).astype(np.float32) * (0.5 / np.sqrt(dim)))
    truth = np.argsort(-(queries @ X.T), axis=1)[:, :TOP_K]

    def exact(q: np.ndarray) -> np.ndarray:
        s = X @ q
        top = np.argpartition(-s, TOP_K)[:TOP_K]
        return top[np.argsort(-s[top])]

    ex_ms, _ = _lat(exact, queries[:N_TIMED_EXACT])
    base_p50, base_p99 = float(np.percentile(ex_ms, 50)), float(np.percentile(ex_ms, 99))
    res.append(_figure(f"numpy exact top-10 p50 ({label})", base_p50, "ms", base_p50, 1.0))
    for ef in efs:
        ms, hits = _lat(lambda q: ix.search(HEAD, q, TOP_K, search_params={"ef": ef})[0], queries)  # noqa: B023
        rec = _recall([[row_of_pk[h.pk] for h in hs] for hs in hits], truth)
        p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
        res += [_figure(f"HNSW ef={ef} top-10 p50 ({label})", p50, "ms", base_p50, base_p50 / p50),
                _figure(f"HNSW ef={ef} top-10 p99 ({label})", p99, "ms", base_p99, base_p99 / p99),
                _figure(f"HNSW ef={ef} recall@10 ({label})", rec, "recall", 1.0, rec)]
        print(f"  HNSW ef={ef}: p50 {p50:.1f} ms  p99 {p99:.1f} ms  recall@10 {rec:.3f}", flush=True)
    ix.drop()
    ix.close()
    return res


def main() -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="64,128", help="comma-separated search ef values")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-index-server-") as tmp:
        server = MilvusServer23(Path(tmp), free_port_block())
        t0 = time.perf_counter()
        server.start()
        server.wait_ready(180)
        results = [_figure("server start to ready (Milvus 2.3.5)", time.perf_counter() - t0, "s")]
        try:
            results += run(server.uri, args.n, args.dim, {"M": args.M, "efConstruction": args.ef_construction},
                           [int(e) for e in args.ef.split(",")])
        finally:
            server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    table = Table(title="shot index on Milvus 2.3.5 server; baseline = numpy exact search; ratio = speed-up")
    for col in ("figure", "value", "baseline", "ratio"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    fmt = (lambda v: "-" if v is None else f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}")
    for r in results:
        table.add_row(r["figure"], f"{fmt(r['value'])} {r['unit']}", fmt(r["baseline"]),
                      "-" if r["ratio"] is None else f"{r['ratio']:.2f}x")
    Console().print(table)
    return results


if __name__ == "__main__":
    main()
