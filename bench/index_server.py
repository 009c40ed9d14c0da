"""Shot index on a real Milvus 2.3.5 standalone server: ingest, HNSW / IVF_FLAT latency and recall
for text queries and shot queries.

Same catalog and queries as ``bench.index``: shots in the default model's joint space (384-d,
generated as its image tower maps images: concept mixtures, calibrated on real footage), text
queries = real prompts encoded by the model's text encoder (the modality gap), shot queries =
perturbed stored shots. Exact numpy search is the baseline for latency and the ground truth for
recall@10 and recall@100. For each index type and each ef / nprobe: p50/p99 of a top-10 search
(one query at a time, over pymilvus gRPC) and recall@10 / @100 per query kind; "text e2e" adds
the in-process prompt encoding to each call (what SearchText costs before its own gRPC hop).
For HNSW, the QPS of the one server under closed-loop load from client threads at the ``--qps-ef``
values (the capacity model's Milvus query-node input: QPS at the recall measured for that ef).
``--through-query``: ``SearchText`` as users call it, through the encoder and query services on
this server (``through_query``), with its recall@10.

The server is started from its own venv (installed on first use) on a free block of ports in a
temp dir, and stopped after. 1M x 384 HNSW (M 16, efConstruction 100) builds in ~15 min here.

Run: ``python -m bench.index_server [--n 200000] [--index-types HNSW,IVF_FLAT] [--ef 64,128,256,512,1024]
[--no-through-query]``
(PYTHONPATH=src:.). Writes ``bench/results/index_server.json`` (figures of other sizes are kept).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.index import (
    HEAD, N_TIMED_EXACT, SHOTS_PER_VIDEO, _bundle_model, _lat, _rows, concept_matrix, encode_prompts, exact_topk,
    joint_shot_vectors, prompts, query_sets, recall_at,
)
from shotline.index import ShotIndex, collection_name
from shotline.models.build_default import build_default_bundle
from shotline.stack import local
from shotline.stack.milvus_server import MilvusServer23, free_port_block

RESULTS = Path(__file__).parent / "results" / "index_server.json"
KS = (10, 100)
# The query service reads the collection of the encoder's model: a joint-only copy of the default
# bundle under this id serves the benchmark's one-head collection (same encoders, same weights).
JOINT_ONLY_MODEL = "bench-server-joint-only"
STACK_PORTS = {"kafka_port": 37092, "kafka_controller_port": 37093, "milvus_port": 37530, "redis_port": 37379,
               "query_port": 37051, "encoder_port": 37052, "console_port": 37080, "metrics_port_base": 37401}


def _figure(figure: str, value: float, unit: str, baseline: float | None = None, ratio: float | None = None) -> dict:
    return {"figure": figure, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio}


def _wait_indexed(ix: ShotIndex, n: int, timeout: float) -> None:
    """Until the vector index covers every row (2.3 builds it asynchronously on sealed segments)."""
    deadline = time.monotonic() + timeout
    d: dict[str, Any] = {}
    while time.monotonic() < deadline:
        d = ix.client.describe_index(ix.collection, f"{HEAD}_vec")
        if int(d.get("indexed_rows", 0)) >= n and int(d.get("pending_index_rows", 0)) == 0:
            return
        time.sleep(1)
    raise TimeoutError(f"index not built within {timeout:.0f}s: {d}")


def sweep(ix: ShotIndex, name: str, param: str, values: list[int], queries: dict[str, np.ndarray],
          truth: dict[str, np.ndarray], row_of_pk: dict[int, int], label: str, base: tuple[float, float],
          prompt_texts: list[str] | None = None) -> list[dict]:
    """p50/p99 of top-10 and recall@10/@100 per query kind for each value of ``param``."""
    res: list[dict] = []
    base_p50, base_p99 = base
    for v in values:
        for kind, Q in queries.items():
            ms, hits = _lat(lambda q: ix.search(HEAD, q, 10, search_params={param: v})[0], Q)  # noqa: B023
            _, wide = _lat(lambda q: ix.search(HEAD, q, 100, search_params={param: v})[0], Q)  # noqa: B023
            r10 = recall_at([[row_of_pk[h.pk] for h in hs] for hs in hits], truth[kind], 10)
            r100 = recall_at([[row_of_pk[h.pk] for h in hs] for hs in wide], truth[kind], 100)
            p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
            tag = f"{name} {param}={v}, {kind} queries"
            res += [_figure(f"{tag} top-10 p50 ({label})", p50, "ms", base_p50, base_p50 / p50),
                    _figure(f"{tag} top-10 p99 ({label})", p99, "ms", base_p99, base_p99 / p99),
                    _figure(f"{tag} recall@10 ({label})", r10, "recall", 1.0, r10),
                    _figure(f"{tag} recall@100 ({label})", r100, "recall", 1.0, r100)]
            print(f"  {tag}: p50 {p50:.1f} ms  p99 {p99:.1f} ms  recall@10 {r10:.3f}  @100 {r100:.3f}", flush=True)
            if kind == "text" and prompt_texts is not None:
                model = _bundle_model()
                e2e, _ = _lat(lambda t: ix.search(HEAD, model.encode_text([t])[0], 10,  # noqa: B023
                                                  search_params={param: v}), prompt_texts)  # noqa: B023
                res += [_figure(f"{tag} e2e (encode + search) p50 ({label})", float(np.percentile(e2e, 50)), "ms"),
                        _figure(f"{tag} e2e (encode + search) p99 ({label})", float(np.percentile(e2e, 99)), "ms")]
    return res


def throughput(ix: ShotIndex, queries: np.ndarray, params: dict[str, Any], threads: int,
               seconds: float) -> tuple[float, float]:
    """Closed-loop top-10 searches from ``threads`` client threads for ``seconds``: (QPS, p99 ms).
    One pymilvus client (its gRPC channel is thread-safe); the client runs on the server's cores."""
    stop = time.monotonic() + seconds
    lat: list[float] = []
    lock = threading.Lock()
    counter = itertools.count()

    def worker() -> None:
        mine: list[float] = []
        while time.monotonic() < stop:
            q = queries[next(counter) % len(queries)]
            t = time.perf_counter()
            ix.search(HEAD, q, 10, search_params=params)
            mine.append((time.perf_counter() - t) * 1e3)
        with lock:
            lat.extend(mine)

    t0 = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return len(lat) / (time.monotonic() - t0), float(np.percentile(lat, 99))


def joint_only_bundle(out: Path) -> Path:
    """The default bundle without its visual head, as model ``JOINT_ONLY_MODEL``. Files are hard
    links (copies across file systems): a bundle refuses symlinks that leave its directory."""
    src = build_default_bundle()
    out.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "manifest.json":
            try:
                os.link(f, out / f.name)
            except OSError:
                shutil.copy2(f, out / f.name)
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["model_id"] = JOINT_ONLY_MODEL
    del manifest["heads"]["visual"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def _search_text(port: int, text_prompts: list[str], rounds: int) -> tuple[list[float], list[list[int]], set[str]]:
    """``rounds`` x the prompts in turn through ``SearchText``: latencies (ms), the first round's
    hits as catalog rows, and the notes the service attached."""
    import grpc

    from shotline.v1 import query_pb2, query_pb2_grpc

    ms: list[float] = []
    found: list[list[int]] = []
    notes: set[str] = set()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = query_pb2_grpc.QueryServiceStub(ch)
        stub.SearchText(query_pb2.SearchTextRequest(query="warm-up", top_k=10), timeout=60)
        for r in range(rounds):
            for p in text_prompts:
                t = time.perf_counter()
                reply = stub.SearchText(query_pb2.SearchTextRequest(query=p, top_k=10), timeout=60)
                ms.append((time.perf_counter() - t) * 1e3)
                notes.add(reply.note)
                if r == 0:
                    found.append([int(h.shot.video_id.split("-")[1]) * SHOTS_PER_VIDEO + h.shot.index
                                  for h in reply.hits])
    return ms, found, notes


def through_query(uri: str, tmp: Path, text_prompts: list[str], truth: np.ndarray, label: str,
                  consistency: str, rounds: int = 3) -> list[dict]:
    """``SearchText`` as a user calls it: the encoder and query services of the local stack (Kafka
    and Redis too; Milvus = this server) started with the joint-only bundle, one client calling
    ``rounds`` x the prompts in turn over gRPC (prompt encoding, search and its own hop included,
    the deployed text ef). Recall@10 of its hits against exact search on the same prompts."""
    st = local.StackSettings(run_dir=tmp / "stack", **STACK_PORTS)
    env = {"MILVUS_URI": uri, "SHOTLINE_MODEL_BUNDLE": str(joint_only_bundle(tmp / "bundle")),
           "SHOTLINE_INDEX_TYPE": "HNSW", "SHOTLINE_MILVUS_SCALAR_INDEXES": "false",
           "SHOTLINE_RECALL_PROBE_INTERVAL_SECONDS": "0", "SHOTLINE_SEARCH_CONSISTENCY": consistency}
    with mock.patch.dict(os.environ, env):  # the stack passes these to its services
        try:
            local.up(st, with_services=False)
            local.start_services(st, "encoder", "query")
            ms, found, notes = _search_text(st.query_port, text_prompts, rounds)
        finally:
            local.down(st)
    r10 = recall_at(found, truth, 10)
    p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
    tag = f"SearchText through the query service, {consistency} consistency, 1 client, {len(ms)} calls ({label})"
    print(f"  {tag}: p50 {p50:.1f} ms  p99 {p99:.1f} ms  recall@10 {r10:.3f}  notes {sorted(notes)}", flush=True)
    return [_figure(f"{tag} p50", p50, "ms"), _figure(f"{tag} p99", p99, "ms"),
            _figure(f"{tag} recall@10", r10, "recall", 1.0, r10)]


def run(uri: str, n: int, build: dict[str, Any], efs: list[int], index_types: list[str],
        nlist: int, nprobes: list[int], qps_efs: list[int], qps_threads: int, qps_seconds: float,
        tmp: Path | None = None) -> list[dict]:
    C = concept_matrix()
    dim = C.shape[1]
    label = f"{n // 1000}k x {dim}d, Milvus 2.3.5"
    first = index_types[0]
    ix = ShotIndex(uri, collection_name(JOINT_ONLY_MODEL), {HEAD: dim}, index_type=first,  # type: ignore[arg-type]
                   index_params=build if first == "HNSW" else {"nlist": nlist},
                   model_id="bench", scalar_indexes=False, timeout=600)
    if ix.client.has_collection(ix.collection):
        ix.drop()
    ix.ensure_collection()
    X = np.empty((n, dim), dtype=np.float32)
    pk_of_row = np.empty(n, dtype=np.int64)
    t0 = time.perf_counter()
    for v0, vecs in joint_shot_vectors(n, C):  # production path: validation, pk hashing, batches
        rows = _rows(v0, vecs)
        ix.upsert(rows)
        s = v0 * SHOTS_PER_VIDEO
        X[s:s + len(vecs)] = vecs
        pk_of_row[s:s + len(vecs)] = [r.pk for r in rows]
    ingest_s = time.perf_counter() - t0
    res = [_figure(f"ingest rows/s ({label}, upsert)", n / ingest_s, "rows/s")]
    print(f"  ingest {n / ingest_s:,.0f} rows/s", flush=True)
    ix.client.flush(ix.collection, timeout=600)  # seal segments: only sealed ones get the index

    row_of_pk = {int(p): i for i, p in enumerate(pk_of_row)}
    queries = query_sets(X)
    truth = {k: exact_topk(X, Q, max(KS)) for k, Q in queries.items()}
    text_prompts = prompts(len(queries["text"]))

    def exact(q: np.ndarray) -> np.ndarray:
        s = X @ q
        top = np.argpartition(-s, 10)[:10]
        return top[np.argsort(-s[top])]

    ex_ms, _ = _lat(exact, queries["text"][:N_TIMED_EXACT])
    base = (float(np.percentile(ex_ms, 50)), float(np.percentile(ex_ms, 99)))
    res.append(_figure(f"numpy exact top-10 p50 ({label})", base[0], "ms", base[0], 1.0))
    res.append(_figure(f"numpy exact top-10 p99 ({label})", base[1], "ms", base[1], 1.0))

    for it in index_types:
        try:
            res += _one_index_type(ix, it, first, uri, dim, n, build, nlist, efs, nprobes, queries, truth,
                                   row_of_pk, label, base, text_prompts)
            if it == "HNSW":  # QPS of one server at the recall the sweep measured for each ef
                for ef in qps_efs:
                    qps, p99 = throughput(ix, queries["text"], {"ef": ef}, qps_threads, qps_seconds)
                    tag = f"HNSW ef={ef}, text queries, {qps_threads} client threads ({label})"
                    res += [_figure(f"{tag} QPS", qps, "searches/s"), _figure(f"{tag} p99", p99, "ms")]
                    print(f"  {tag}: {qps:,.0f} QPS, p99 {p99:.1f} ms", flush=True)
                if tmp is not None:  # Strong waits for the server's next time tick (~200 ms); Bounded does not
                    for consistency, rounds in (("Bounded", 3), ("Strong", 1)):
                        res += through_query(uri, tmp / consistency, text_prompts, truth["text"], label, consistency,
                                             rounds)
        except Exception as exc:  # noqa: BLE001 - e.g. a 1M IVF build past the client's timeout: keep the rest
            print(f"  {it}: failed: {exc}", flush=True)
            res.append(_figure(f"{it} failed ({label}): {str(exc)[:120]}", float("nan"), ""))
    ix.drop()
    ix.close()
    return res


def _one_index_type(ix: ShotIndex, it: str, first: str, uri: str, dim: int, n: int, build: dict[str, Any],
                    nlist: int, efs: list[int], nprobes: list[int], queries: dict[str, np.ndarray],
                    truth: dict[str, np.ndarray], row_of_pk: dict[int, int], label: str,
                    base: tuple[float, float], text_prompts: list[str]) -> list[dict]:
    res: list[dict] = []
    t0 = time.perf_counter()
    if it != first:  # swap the index, keep the data
        ix.client.release_collection(ix.collection, timeout=600)
        ix.client.drop_index(ix.collection, index_name=f"{HEAD}_vec", timeout=600)
        ix = ShotIndex(uri, ix.collection, {HEAD: dim}, index_type=it,  # type: ignore[arg-type]
                       index_params=build if it == "HNSW" else {"nlist": nlist},
                       model_id="bench", scalar_indexes=False, timeout=max(1200.0, n / 300))
        ix.ensure_collection()  # waits for the build (1M IVF_FLAT: > 10 min on a busy 2-core box)
    # 1M x 384 on 2 cores: ~15 min at efConstruction 100.
    _wait_indexed(ix, n, timeout=max(1200.0, n / 300))
    ix.client.release_collection(ix.collection, timeout=600)  # reload so every segment serves the index
    ix.client.load_collection(ix.collection, timeout=600)
    build_s = time.perf_counter() - t0
    what = f"HNSW M={build['M']} efC={build['efConstruction']}" if it == "HNSW" else f"IVF_FLAT nlist={nlist}"
    res.append(_figure(f"{what} flush+build+load ({label})", build_s, "s"))
    print(f"  {what} flush+build+load {build_s:.1f} s", flush=True)
    assert ix.count() == n
    if it == "HNSW":
        res += sweep(ix, "HNSW", "ef", efs, queries, truth, row_of_pk, label, base, text_prompts)
    else:
        res += sweep(ix, f"IVF_FLAT nlist={nlist}", "nprobe", nprobes, queries, truth, row_of_pk, label, base,
                     text_prompts)
    if it != first:
        ix.close()
    return res


def main() -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--ef", default="64,128,256,512,1024", help="comma-separated search ef values")
    ap.add_argument("--index-types", default="HNSW,IVF_FLAT")
    ap.add_argument("--nlist", type=int, default=0, help="IVF_FLAT nlist; default ~4*sqrt(n) rounded to 2^k")
    ap.add_argument("--nprobe", default="32,128,256")
    ap.add_argument("--qps-ef", default="512,1024", help="HNSW ef values whose QPS under load is measured")
    ap.add_argument("--qps-threads", type=int, default=8)
    ap.add_argument("--qps-seconds", type=float, default=20.0)
    ap.add_argument("--through-query", action=argparse.BooleanOptionalAction, default=True,
                    help="also time SearchText through the encoder and query services (local stack, ports 37xxx)")
    args = ap.parse_args()
    nlist = args.nlist or int(2 ** round(np.log2(4 * np.sqrt(args.n))))
    encode_prompts(["warm-up"])  # load the text encoder before the server takes memory
    with tempfile.TemporaryDirectory(prefix="bench-index-server-") as tmp:
        server = MilvusServer23(Path(tmp), free_port_block())
        t0 = time.perf_counter()
        server.start()
        server.wait_ready(180)
        results = [_figure("server start to ready (Milvus 2.3.5)", time.perf_counter() - t0, "s")]
        try:
            results += run(server.uri, args.n, {"M": args.M, "efConstruction": args.ef_construction},
                           [int(e) for e in args.ef.split(",")], [t for t in args.index_types.split(",") if t],
                           nlist, [int(p) for p in args.nprobe.split(",")],
                           [int(e) for e in args.qps_ef.split(",") if e], args.qps_threads, args.qps_seconds,
                           Path(tmp) if args.through_query else None)
        finally:
            server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    label = f"({args.n // 1000}k x "
    kept = [r for r in (json.loads(RESULTS.read_text()) if RESULTS.exists() else [])
            if "k x " in r["figure"] and label not in r["figure"]]
    results = kept + results
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
