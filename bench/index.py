"""Shot index: search latency/recall, ingest and bulk-read throughput on milvus-lite 2.5.1.

Data has the structure of a shot catalogue, not uniform noise: a few thousand topics of
varying spread on the unit sphere, videos drawn around topics, and each video's shots
near-duplicates of its centroid. Queries are perturbed stored shots. Exact numpy search
(one query at a time, like a query service) is the baseline for latency and the ground
truth for recall@10.

Run: ``python -m bench.index [--sizes 200000,1000000] [--dim 512]`` (PYTHONPATH=src:.).
Writes ``bench/results/index.json``; starts its own milvus-lite server in a temp dir unless
``--uri`` names one.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from shotline.index import SearchFilter, ShotIndex, ShotRow
from shotline.stack.milvus import MilvusLiteServer

RESULTS = Path(__file__).parent / "results" / "index.json"
SHOTS_PER_VIDEO = 20
TOP_K = 10
N_QUERIES = 200
N_TIMED_EXACT = 40  # exact search is slow; its latency is sampled on fewer queries
HEAD = "emb"


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def shot_vectors(n: int, dim: int, seed: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (first video number, vectors) chunks of clustered unit vectors, deterministic."""
    rng = np.random.default_rng(seed)
    n_topics = max(50, n // 200)  # 1,000 topics at 200k, 5,000 at 1M
    topics = _unit(rng.standard_normal((n_topics, dim)))
    topic_spread = rng.uniform(0.4, 1.4, n_topics).astype(np.float32)  # noise norm relative to 1
    chunk_videos = 500
    n_videos = -(-n // SHOTS_PER_VIDEO)
    for v0 in range(0, n_videos, chunk_videos):
        v = min(chunk_videos, n_videos - v0)
        t = rng.integers(0, n_topics, v)
        centroids = _unit(topics[t] + rng.standard_normal((v, dim)).astype(np.float32)
                          * (topic_spread[t, None] / np.sqrt(dim)))
        shot_spread = rng.uniform(0.15, 0.6, v).astype(np.float32)
        shots = centroids[:, None, :] + rng.standard_normal((v, SHOTS_PER_VIDEO, dim)).astype(np.float32) * (
            shot_spread[:, None, None] / np.sqrt(dim))
        flat = _unit(shots.reshape(-1, dim))
        take = min(len(flat), n - v0 * SHOTS_PER_VIDEO)
        yield v0, flat[:take]


def _rows(v0: int, vecs: np.ndarray) -> list[ShotRow]:
    return [
        ShotRow(video_id=f"video-{v0 + i // SHOTS_PER_VIDEO:07d}", shot_index=i % SHOTS_PER_VIDEO,
                catalog_id=f"cat-{(v0 + i // SHOTS_PER_VIDEO) % 8}", start_ms=(i % SHOTS_PER_VIDEO) * 4000,
                end_ms=(i % SHOTS_PER_VIDEO) * 4000 + 3500, keyframe_ref=f"kf/{v0 + i // SHOTS_PER_VIDEO}/{i}",
                ingest_ms=1, video_version="1", vectors={HEAD: vecs[i]})
        for i in range(len(vecs))
    ]


def _lat(fn: Callable[[np.ndarray], Any], queries: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    fn(queries[0])  # warm-up
    times, out = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        times.append(time.perf_counter() - t)
    return np.asarray(times) * 1e3, out


def _recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t.tolist())) / TOP_K for f, t in zip(found, truth)]))


def run_size(uri: str, n: int, dim: int, nlists: list[int], nprobes: list[int]) -> list[dict]:
    res: list[dict] = []
    label = f"{n // 1000}k x {dim}d"
    coll = f"bench_index_{n}_{dim}"
    flat = ShotIndex(uri, coll, {HEAD: dim}, index_type="FLAT", model_id="bench", timeout=600)
    flat.drop()
    flat.ensure_collection()

    # Ingest through the production path (validation, pk hashing, 2,000-row batches).
    X = np.empty((n, dim), dtype=np.float32)
    pk_of_row = np.empty(n, dtype=np.int64)
    t0 = time.perf_counter()
    for v0, vecs in shot_vectors(n, dim):
        rows = _rows(v0, vecs)
        flat.upsert(rows)
        s = v0 * SHOTS_PER_VIDEO
        X[s:s + len(vecs)] = vecs
        pk_of_row[s:s + len(vecs)] = [r.pk for r in rows]
    ingest_s = time.perf_counter() - t0
    flat.client.flush(coll, timeout=600)  # seal segments so searches use the built index
    assert flat.count() == n
    res.append({"figure": f"ingest rows/s ({label}, upsert, 2k batches)", "value": n / ingest_s,
                "unit": "rows/s", "baseline": None, "ratio": None})
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
    res.append({"figure": f"numpy exact top-10 p50 ({label})", "value": base_p50, "unit": "ms",
                "baseline": base_p50, "ratio": 1.0})

    def milvus_search(ix: ShotIndex, params: dict[str, Any], qs: np.ndarray, name: str) -> None:
        ms, hits = _lat(lambda q: ix.search(HEAD, q, TOP_K, search_params=params)[0], qs)
        rec = _recall([[row_of_pk[h.pk] for h in hs] for hs in hits], truth[: len(qs)])
        p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
        res.append({"figure": f"{name} top-10 p50 ({label})", "value": p50, "unit": "ms",
                    "baseline": base_p50, "ratio": base_p50 / p50})
        res.append({"figure": f"{name} top-10 p99 ({label})", "value": p99, "unit": "ms",
                    "baseline": base_p99, "ratio": base_p99 / p99})
        res.append({"figure": f"{name} recall@10 ({label})", "value": rec, "unit": "recall",
                    "baseline": 1.0, "ratio": rec})
        print(f"  {name}: p50 {p50:.1f} ms  p99 {p99:.1f} ms  recall@10 {rec:.3f}", flush=True)

    milvus_search(flat, {}, queries[:N_TIMED_EXACT], "FLAT")
    f = SearchFilter(catalog_ids=["cat-3"], min_start_ms=8000)
    ms, _ = _lat(lambda q: flat.search(HEAD, q, TOP_K, filters=f), queries[:N_TIMED_EXACT])
    res.append({"figure": f"FLAT filtered top-10 p50 ({label}, 1/8 catalogs, time window)",
                "value": float(np.percentile(ms, 50)), "unit": "ms", "baseline": base_p50,
                "ratio": base_p50 / float(np.percentile(ms, 50))})

    # Bulk read, as the trainer does it: every vector of the collection in pk order.
    t0 = time.perf_counter()
    seen = 0
    for pks, _, vecs in flat.iterate_vectors(HEAD, batch_size=10_000):
        seen += len(pks)
    it_rate = seen / (time.perf_counter() - t0)
    assert seen == n
    # Baseline: pymilvus' own query_iterator (public API), on a prefix only (it is slow).
    t0 = time.perf_counter()
    qi = flat.client.query_iterator(coll, batch_size=1000, output_fields=["video_id", f"{HEAD}_vec"])
    got = 0
    while got < 20_000 and (page := qi.next()):
        np.asarray([r[f"{HEAD}_vec"] for r in page], dtype=np.float32)
        got += len(page)
    qi.close()
    qi_rate = got / (time.perf_counter() - t0)
    res.append({"figure": f"iterate_vectors rows/s ({label})", "value": it_rate, "unit": "rows/s",
                "baseline": qi_rate, "ratio": it_rate / qi_rate})
    print(f"  iterate_vectors {it_rate:,.0f} rows/s (query_iterator {qi_rate:,.0f})", flush=True)

    # The alternative for the trainer: a local float32 snapshot, read by memory map.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot.npy"
        np.save(path, X)
        t0 = time.perf_counter()
        mm = np.load(path, mmap_mode="r")
        for i in range(0, n, 65_536):
            np.asarray(mm[i:i + 65_536]).sum()
        snap_rate = n / (time.perf_counter() - t0)
    res.append({"figure": f"npy snapshot read rows/s ({label}, page cache warm)", "value": snap_rate,
                "unit": "rows/s", "baseline": it_rate, "ratio": snap_rate / it_rate})

    # IVF_FLAT on the same rows: swap the index, keep the data. On milvus-lite 2.5.1 nlist and
    # nprobe have no effect (its segments stay unsealed and are searched through segcore's
    # interim IVF index with fixed parameters); on a Milvus server they do.
    for nlist in nlists:
        c = flat.client
        c.release_collection(coll, timeout=600)
        c.drop_index(coll, index_name=f"{HEAD}_vec", timeout=600)
        ivf = ShotIndex(uri, coll, {HEAD: dim}, index_type="IVF_FLAT", index_params={"nlist": nlist},
                        model_id="bench", timeout=600)
        t0 = time.perf_counter()
        ivf.ensure_collection()  # creates the missing vector index and loads
        build_s = time.perf_counter() - t0
        res.append({"figure": f"IVF_FLAT nlist={nlist} build+load ({label})", "value": build_s,
                    "unit": "s", "baseline": None, "ratio": None})
        print(f"  IVF_FLAT nlist={nlist}: build+load {build_s:.1f} s", flush=True)
        for nprobe in nprobes:
            milvus_search(ivf, {"nprobe": nprobe}, queries, f"IVF_FLAT nlist={nlist} nprobe={nprobe}")
        ivf.close()
    flat.drop()
    flat.close()
    return res


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200000", help="comma-separated collection sizes")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--nlist", default="", help="comma-separated; default ~4*sqrt(n) rounded to 2^k")
    ap.add_argument("--nprobe", default="32")
    ap.add_argument("--uri", default="", help="an existing Milvus; default: a fresh milvus-lite server")
    args = ap.parse_args()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        server = None
        uri = args.uri
        if not uri:
            server = MilvusLiteServer(Path(tmp), _free_port(), db_name="bench.db")
            server.start()
            server.wait_ready(120)
            uri = server.uri
        try:
            for n in (int(s) for s in args.sizes.split(",")):
                nlists = ([int(x) for x in args.nlist.split(",")] if args.nlist
                          else [int(2 ** round(np.log2(4 * np.sqrt(n))))])
                print(f"{n:,} shots x {args.dim}d", flush=True)
                results += run_size(uri, n, args.dim, nlists, [int(x) for x in args.nprobe.split(",")])
        finally:
            if server is not None:
                server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # Keep figures of sizes not run this time (the 1M run is optional and slow).
    labels = {f"({n // 1000}k x {args.dim}d" for n in (int(s) for s in args.sizes.split(","))}
    kept = [r for r in (json.loads(RESULTS.read_text()) if RESULTS.exists() else [])
            if not any(lbl in r["figure"] for lbl in labels)]
    results = kept + results
    RESULTS.write_text(json.dumps(results, indent=2))
    table = Table(title="shot index (milvus-lite 2.5.1); baseline = numpy exact search / alternative; ratio = speed-up")
    for col in ("figure", "value", "baseline", "ratio"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for r in results:
        fmt = (lambda v: "-" if v is None else f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}")
        table.add_row(r["figure"], f"{fmt(r['value'])} {r['unit']}", fmt(r["baseline"]),
                      "-" if r["ratio"] is None else f"{r['ratio']:.2f}x")
    Console().print(table)
    return results


if __name__ == "__main__":
    main()
