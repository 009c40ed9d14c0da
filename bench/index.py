"""Shot index: search latency and recall (text and shot queries), ingest and bulk-read throughput on
milvus-lite 2.5.1.

The catalog lives in the default model's joint space (384-d) and is generated the way its image
tower maps an image: synthetic ImageNet logits -> softmax -> top-20 -> @ the bundle's concept
matrix -> L2 (``joint_shot_vectors``): videos around a main subject with related ones, Zipf-like
subject popularity, shots varying around their video. Its logit scales were calibrated on real
footage so that text and shot vectors relate as they do for real frames (``--gap-report``:
bench/results/index_gap.json). Two query kinds: **text** = real prompts encoded by the model's text
encoder (out of the catalog's distribution: the modality gap), **shot** = perturbed stored shots
(what SearchSimilar sends). Exact numpy search (one query at a time) is the baseline for latency
and the ground truth for recall@10 and recall@100.

Run: ``python -m bench.index [--sizes 200000,1000000]`` (PYTHONPATH=src:.); 1M takes ~15 min here.
Writes ``bench/results/index.json``; starts its own milvus-lite server in a temp dir unless
``--uri`` names one.
"""

from __future__ import annotations

import argparse
import functools
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
GAP_RESULTS = Path(__file__).parent / "results" / "index_gap.json"
SHOTS_PER_VIDEO = 20
TOP_K = 10
N_QUERIES = 200
N_TIMED_EXACT = 40  # exact search is slow; its latency is sampled on fewer queries
HEAD = "joint"  # the model's joint head: the query service searches text there


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


# -- the model's joint space: catalog and queries with the real modality gap ------------------
#
# A text prompt's vector is not a perturbed shot: the default model maps an image into the text
# space as a mix of ImageNet concept embeddings (softmax top-20 @ [1000, 384] matrix in the image
# ONNX graph), while a prompt is a free MiniLM sentence embedding. Shots therefore sit in a cone
# around the concepts' mean and prompts elsewhere (mean cosine prompt->shot ~0.3 against ~0.6
# between shots; bench/results/index_gap.json). The synthetic catalog is generated exactly as the
# image tower would produce it -- logits -> softmax -> top-20 -> @ the bundle's own concept
# matrix -> L2 norm -- with synthetic logits calibrated on real footage (top-1 probability and
# shot/catalog cosines match), and text queries are real prompts encoded by the model's text
# encoder. Shot queries are stored shots plus noise, as before.

JOINT_TOP_K = 20  # the bundle keeps the 20 likeliest classes (build_default.TOP_K)
# Logit model (calibrated with --gap-report on the fixtures' real frames): background N(0, BG),
# a video's main class +U(MAIN), 3 related classes (its nearest concepts) +U(SIDE), each shot
# its video's logits + N(0, SHOT) and, with P_SWITCH, another related class as its main one.
BG, MAIN, SIDE, SHOT, P_SWITCH = 1.0, (4.0, 9.0), (1.0, 5.0), 0.7, 0.25
N_RELATED = 12


def concept_matrix(bundle: Path | None = None) -> np.ndarray:
    """The [1000, d] concept embedding matrix baked into the default bundle's image graph."""
    import onnx
    from onnx import numpy_helper

    from shotline.models.build_default import build_default_bundle

    path = (bundle or build_default_bundle()) / "image.onnx"
    model = onnx.load(str(path), load_external_data=True)
    for init in model.graph.initializer:
        if len(init.dims) == 2 and init.dims[0] == 1000 and init.dims[1] < 1000:
            return _unit(numpy_helper.to_array(init).astype(np.float32))
    raise RuntimeError(f"no [1000, d] concept matrix in {path}")


def _joint(logits: np.ndarray, concepts: np.ndarray) -> np.ndarray:
    """What the image ONNX graph does after the classifier: softmax, top-20, @ concepts, L2."""
    top = np.argpartition(-logits, JOINT_TOP_K, axis=1)[:, :JOINT_TOP_K]
    lt = np.take_along_axis(logits, top, axis=1)
    m = logits.max(axis=1, keepdims=True)
    p = np.exp(lt - m) / np.exp(logits - m).sum(axis=1, keepdims=True)
    return _unit(np.einsum("nk,nkd->nd", p.astype(np.float32), concepts[top]))


def joint_shot_vectors(n: int, concepts: np.ndarray, seed: int = 0,
                       chunk_videos: int = 500) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (first video number, joint vectors) chunks of a catalog in the model's joint space.

    Videos' main classes follow a Zipf-like popularity (some subjects are everywhere), a video
    mixes its main class with related ones, its shots vary around it. Deterministic."""
    rng = np.random.default_rng(seed)
    k = len(concepts)
    related = np.argsort(-(concepts @ concepts.T), axis=1)[:, 1:N_RELATED + 1]
    popularity = 1.0 / np.arange(1, k + 1) ** 0.7
    popularity = rng.permutation(popularity / popularity.sum())
    n_videos = -(-n // SHOTS_PER_VIDEO)
    for v0 in range(0, n_videos, chunk_videos):
        v = min(chunk_videos, n_videos - v0)
        main = rng.choice(k, v, p=popularity)
        vlog = rng.standard_normal((v, k)).astype(np.float32) * BG
        vlog[np.arange(v), main] += rng.uniform(*MAIN, v)
        for _ in range(3):
            side = related[main, rng.integers(0, N_RELATED, v)]
            vlog[np.arange(v), side] += rng.uniform(*SIDE, v)
        logits = vlog[:, None, :] + rng.standard_normal((v, SHOTS_PER_VIDEO, k)).astype(np.float32) * SHOT
        switch = rng.random((v, SHOTS_PER_VIDEO)) < P_SWITCH
        vi, si = np.nonzero(switch)
        other = related[main[vi], rng.integers(0, N_RELATED, len(vi))]
        logits[vi, si, other] += rng.uniform(*MAIN, len(vi))
        logits[vi, si, main[vi]] -= rng.uniform(2.0, 5.0, len(vi))
        flat = _joint(logits.reshape(-1, k), concepts)
        take = min(len(flat), n - v0 * SHOTS_PER_VIDEO)
        yield v0, flat[:take]


_SUBJECTS_FREE = [
    "a bicycle race on a mountain road", "a cockatoo sitting on a branch", "people dancing at a wedding",
    "a city street at night with traffic", "a goal in a football match", "a chef chopping vegetables",
    "waves crashing on a beach at sunset", "a cat playing with a toy", "a rocket launch",
    "a news anchor in a studio", "children playing in a park", "a car driving through the desert",
    "a concert crowd with stage lights", "snow falling in a forest", "a close-up of a smartphone screen",
    "a basketball dunk", "an aerial view of a city", "a dog running on grass", "a cartoon rabbit",
    "a person typing on a laptop", "fireworks over a river", "a horse galloping", "a busy train station",
    "someone cooking pasta in a kitchen", "a surfer riding a wave", "a tennis serve in slow motion",
    "a mountain landscape with clouds", "a car crash test", "a makeup tutorial", "a politician giving a speech",
    "a motorcycle on a race track", "a birthday cake with candles", "an underwater coral reef",
    "a farmer driving a tractor", "a yoga class", "a skateboarder doing a trick", "a thunderstorm",
    "a hospital operating room", "a video game boss fight", "a wedding ring close-up",
]
_CONTEXTS = ["", " at night", " in the rain", " close-up", " on a table", " in a city street", " on the beach",
             " in slow motion", " in a living room", " in the snow", " from above", " with people around it",
             " in a forest", " on television", " in a shop window", " at sunset"]


def prompts(n: int, seed: int = 0) -> list[str]:
    """n text prompts: the 40 free-form ones, then 'a/an <ImageNet class name><context>' and
    pairs of two subjects (what a user types), deterministic."""
    from shotline.models.imagenet_concepts import load_concepts

    rng = np.random.default_rng(seed)
    names = [c.lemmas[0].replace("_", " ") for c in load_concepts()]
    out = list(_SUBJECTS_FREE[:n])
    while len(out) < n:
        a = names[rng.integers(len(names))]
        if rng.random() < 0.3:
            out.append(f"a {a} and a {names[rng.integers(len(names))]}")
        else:
            out.append(f"a {a}{_CONTEXTS[rng.integers(len(_CONTEXTS))]}")
    return out


@functools.lru_cache(maxsize=1)
def _bundle_model() -> Any:
    from shotline.models.build_default import build_default_bundle
    from shotline.models.runtime import load_bundle

    return load_bundle(build_default_bundle(), ["CPUExecutionProvider"])


def encode_prompts(texts: list[str]) -> np.ndarray:
    """Real prompt vectors from the default bundle's text encoder (in-process ONNX)."""
    return _unit(_bundle_model().encode_text(texts))


def shot_queries(X: np.ndarray, n_q: int, seed: int = 1) -> np.ndarray:
    """In-distribution queries: stored shots plus noise (what SearchSimilar sends)."""
    rng = np.random.default_rng(seed)
    dim = X.shape[1]
    return _unit(X[rng.choice(len(X), n_q, replace=False)]
                 + rng.standard_normal((n_q, dim)).astype(np.float32) * (0.5 / np.sqrt(dim)))


def gap_stats(shots: np.ndarray, texts: np.ndarray) -> dict[str, float]:
    """How text and shot vectors relate: the figures the synthetic catalog must reproduce."""
    rng = np.random.default_rng(0)
    s = shots[rng.choice(len(shots), min(len(shots), 2000), replace=False)]
    ms, mt = s.mean(0), texts.mean(0)
    ss = s @ s.T
    ts = texts @ s.T
    return {
        "shots": float(len(shots)), "texts": float(len(texts)),
        "shot_mean_norm": float(np.linalg.norm(ms)),  # 1 = all shots identical, 0 = isotropic
        "text_mean_norm": float(np.linalg.norm(mt)),
        "cos_shot_mean_text_mean": float(_unit(ms) @ _unit(mt)),
        "mean_cos_shot_shot": float(ss[np.triu_indices(len(s), 1)].mean()),
        "mean_cos_text_shot": float(ts.mean()),
        "mean_max_cos_text_shot": float((texts @ shots.T).max(1).mean()),
        "mean_cos_text_shot_mean_dir": float((texts @ _unit(ms)).mean()),
        "mean_cos_shot_shot_mean_dir": float((s @ _unit(ms)).mean()),
    }


def real_frames(every_s: float = 1.0, max_frames: int = 400) -> list[np.ndarray]:
    """RGB frames of the real footage in the fixtures (one every ``every_s``), for calibration."""
    import av

    from shotline.settings import Settings

    root = Settings().cache_dir / "fixtures"
    frames: list[np.ndarray] = []
    for name in ("bikes.mp4", "cockatoo.mp4", "cityCC0.mpg", "bigbuckbunny.mp4", "long_720p_60s.mp4",
                 "montage_360p.mp4"):
        path = root / name
        if not path.exists():
            continue
        with av.open(str(path)) as c:
            last = -1e9
            for f in c.decode(video=0):
                t = float(f.time or 0.0)
                if t - last >= every_s:
                    frames.append(f.to_ndarray(format="rgb24"))
                    last = t
    return frames[:max_frames]


def gap_report(n_synth: int = 20_000) -> dict[str, Any]:
    """Real footage vs synthetic catalog: the gap statistics side by side (bench/results/index_gap.json)."""
    model = _bundle_model()
    frames = real_frames()
    real = np.concatenate([model.encode_images(frames[i:i + 32])["joint"] for i in range(0, len(frames), 32)])
    texts = _unit(model.encode_text(prompts(200)))
    C = concept_matrix()
    synth = np.concatenate([v for _, v in joint_shot_vectors(n_synth, C)])
    return {"real_footage": gap_stats(real, texts), "synthetic": gap_stats(synth, texts),
            "perturbed_shots_as_queries_synthetic": gap_stats(synth, shot_queries(synth, 200))}


def exact_topk(X: np.ndarray, Q: np.ndarray, k: int, block: int = 32) -> np.ndarray:
    """Row numbers of the exact top-k of each query (inner product), best first: the ground truth."""
    out = np.empty((len(Q), k), dtype=np.int64)
    for i in range(0, len(Q), block):
        s = Q[i:i + block] @ X.T
        top = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1)
        out[i:i + block] = np.take_along_axis(top, order, axis=1)
    return out


def recall_at(found: list[list[int]], truth: np.ndarray, k: int) -> float:
    """Mean |found[:k] & truth[:k]| / k."""
    return float(np.mean([len(set(f[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth, strict=True)]))


def query_sets(X: np.ndarray, n_q: int = N_QUERIES) -> dict[str, np.ndarray]:
    """The two query kinds: real text prompts (encoded by the model) and perturbed stored shots."""
    return {"text": encode_prompts(prompts(n_q)), "shot": shot_queries(X, n_q)}

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


def _search_figures(ix: ShotIndex, name: str, params: dict[str, Any], queries: dict[str, np.ndarray],
                    truth: dict[str, np.ndarray], row_of_pk: dict[int, int], label: str,
                    base: tuple[float, float], n_timed: int | None = None) -> list[dict]:
    """Top-10 p50/p99 and recall@10 / @100 per query kind; recall@10 also from the first 10 of a
    top-100 search (over-fetch, then keep the best 10: the exact scores Milvus returns re-rank it)."""
    res: list[dict] = []
    for kind, Q in queries.items():
        qs = Q[:n_timed] if n_timed else Q
        ms, hits = _lat(lambda q: ix.search(HEAD, q, TOP_K, search_params=params)[0], qs)  # noqa: B023
        _, wide = _lat(lambda q: ix.search(HEAD, q, 100, search_params=params)[0], qs)  # noqa: B023
        t = truth[kind][:len(qs)]
        r10 = recall_at([[row_of_pk[h.pk] for h in hs] for hs in hits], t, 10)
        r100 = recall_at([[row_of_pk[h.pk] for h in hs] for hs in wide], t, 100)
        over = recall_at([[row_of_pk[h.pk] for h in hs[:10]] for hs in wide], t, 10)
        p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
        tag = f"{name}, {kind} queries"
        res += [
            {"figure": f"{tag} top-10 p50 ({label})", "value": p50, "unit": "ms", "baseline": base[0],
             "ratio": base[0] / p50},
            {"figure": f"{tag} top-10 p99 ({label})", "value": p99, "unit": "ms", "baseline": base[1],
             "ratio": base[1] / p99},
            {"figure": f"{tag} recall@10 ({label})", "value": r10, "unit": "recall", "baseline": 1.0, "ratio": r10},
            {"figure": f"{tag} recall@100 ({label})", "value": r100, "unit": "recall", "baseline": 1.0,
             "ratio": r100},
            {"figure": f"{tag} recall@10 of a top-100 over-fetch ({label})", "value": over, "unit": "recall",
             "baseline": r10, "ratio": over / r10 if r10 else None},
        ]
        print(f"  {tag}: p50 {p50:.1f} ms  p99 {p99:.1f} ms  recall@10 {r10:.3f}  @100 {r100:.3f}  "
              f"@10 of top-100 {over:.3f}", flush=True)
    return res


def run_size(uri: str, n: int, nlists: list[int], nprobes: list[int], bulk_reads: bool = True) -> list[dict]:
    res: list[dict] = []
    C = concept_matrix()
    dim = C.shape[1]
    label = f"{n // 1000}k x {dim}d"
    coll = f"bench_index_{n}_{dim}"
    flat = ShotIndex(uri, coll, {HEAD: dim}, index_type="FLAT", model_id="bench", timeout=600)
    flat.drop()
    flat.ensure_collection()

    # Ingest through the production path (validation, pk hashing, 2,000-row batches).
    X = np.empty((n, dim), dtype=np.float32)
    pk_of_row = np.empty(n, dtype=np.int64)
    t0 = time.perf_counter()
    for v0, vecs in joint_shot_vectors(n, C):
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
    print(f"  ingest {n / ingest_s:,.0f} rows/s", flush=True)
    row_of_pk = {int(p): i for i, p in enumerate(pk_of_row)}

    queries = query_sets(X)
    truth = {k: exact_topk(X, Q, 100) for k, Q in queries.items()}

    def exact(q: np.ndarray) -> np.ndarray:
        s = X @ q
        top = np.argpartition(-s, TOP_K)[:TOP_K]
        return top[np.argsort(-s[top])]

    ex_ms, _ = _lat(exact, queries["text"][:N_TIMED_EXACT])
    base = (float(np.percentile(ex_ms, 50)), float(np.percentile(ex_ms, 99)))
    res.append({"figure": f"numpy exact top-10 p50 ({label})", "value": base[0], "unit": "ms",
                "baseline": base[0], "ratio": 1.0})
    res.append({"figure": f"numpy exact top-10 p99 ({label})", "value": base[1], "unit": "ms",
                "baseline": base[1], "ratio": 1.0})

    res += _search_figures(flat, "FLAT", {}, queries, truth, row_of_pk, label, base, N_TIMED_EXACT)
    f = SearchFilter(catalog_ids=["cat-3"], min_start_ms=8000)
    ms, _ = _lat(lambda q: flat.search(HEAD, q, TOP_K, filters=f), queries["text"][:N_TIMED_EXACT])
    res.append({"figure": f"FLAT filtered top-10 p50 ({label}, 1/8 catalogs, time window)",
                "value": float(np.percentile(ms, 50)), "unit": "ms", "baseline": base[0],
                "ratio": base[0] / float(np.percentile(ms, 50))})

    if bulk_reads:
        res += _bulk_reads(flat, coll, X, label)

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
            res += _search_figures(ivf, f"IVF_FLAT nlist={nlist} nprobe={nprobe}", {"nprobe": nprobe}, queries,
                                   truth, row_of_pk, label, base)
        ivf.close()
    flat.drop()
    flat.close()
    return res


def _bulk_reads(flat: ShotIndex, coll: str, X: np.ndarray, label: str) -> list[dict]:
    """Bulk read, as the trainer does it: every vector of the collection in pk order."""
    n = len(X)
    res: list[dict] = []
    t0 = time.perf_counter()
    seen = 0
    for pks, _, _vecs in flat.iterate_vectors(HEAD, batch_size=10_000):
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
    return res


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200000", help="comma-separated collection sizes (1000000: ~10 min)")
    ap.add_argument("--nlist", default="", help="comma-separated; default ~4*sqrt(n) rounded to 2^k")
    ap.add_argument("--nprobe", default="32,128")
    ap.add_argument("--no-bulk-reads", action="store_true", help="skip the iterate_vectors / snapshot figures")
    ap.add_argument("--gap-report", action="store_true",
                    help="only compare the synthetic catalog with real footage (bench/results/index_gap.json)")
    ap.add_argument("--uri", default="", help="an existing Milvus; default: a fresh milvus-lite server")
    args = ap.parse_args()
    if args.gap_report:
        report = gap_report()
        GAP_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        GAP_RESULTS.write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
        return []
    encode_prompts(["warm-up"])
    sizes = [int(s) for s in args.sizes.split(",")]
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
            for n in sizes:
                nlists = ([int(x) for x in args.nlist.split(",")] if args.nlist
                          else [int(2 ** round(np.log2(4 * np.sqrt(n))))])
                print(f"{n:,} shots", flush=True)
                results += run_size(uri, n, nlists, [int(x) for x in args.nprobe.split(",")],
                                    bulk_reads=not args.no_bulk_reads)
        finally:
            if server is not None:
                server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # Keep figures of sizes not run this time (the 1M run is optional and slow).
    labels = {f"({n // 1000}k x " for n in sizes}
    kept = [r for r in (json.loads(RESULTS.read_text()) if RESULTS.exists() else [])
            if "k x " in r["figure"] and not any(lbl in r["figure"] for lbl in labels)]
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
