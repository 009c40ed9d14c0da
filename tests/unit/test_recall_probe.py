"""The recall probe: exact brute force, recall of the deployed search, the Prometheus gauge.

Expectations are computed here from the data (numpy argsort over every vector), not by the code
under test; the last test runs the probe on a real milvus-lite collection."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from services.query.recall_probe import RecallProbe, brute_force, recall_at_k
from shotline.index import ShotIndex, ShotRow, collection_name
from shotline.stack.milvus import MilvusLiteServer


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class _Hit:
    pk: int


class FakeIndex:
    """Stored vectors in memory. ``search`` is the 'deployed' ANN: it answers the true top-k except
    that, for every query, its best true hit is replaced by ``wrong`` (so recall@k = (k-1)/k)."""

    def __init__(self, X: np.ndarray, pks: np.ndarray, damage: bool = True):
        self.dims = {"joint": X.shape[1]}
        self.X, self.pks, self.damage = X, pks, damage
        self.kinds: list[str] = []

    def truth(self, Q: np.ndarray, k: int) -> np.ndarray:
        return self.pks[np.argsort(-(Q @ self.X.T), axis=1)[:, :k]]

    def search(self, head, Q, k, kind="shot", consistency_level=None):  # type: ignore[no-untyped-def]
        self.kinds.append(kind)
        out = []
        for row in self.truth(np.atleast_2d(Q), k):
            hits = [_Hit(int(p)) for p in row]
            if self.damage:
                hits[0] = _Hit(-12345)
            out.append(hits)
        return out

    def iterate_vectors(self, head, batch_size=10_000):  # type: ignore[no-untyped-def]
        for i in range(0, len(self.X), batch_size):
            yield self.pks[i:i + batch_size], [], self.X[i:i + batch_size]


@pytest.fixture()
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return _unit(rng.standard_normal((1037, 16))), rng.permutation(10**6)[:1037].astype(np.int64) + 5


def test_brute_force_equals_a_full_sort(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, pks = data
    Q = _unit(np.random.default_rng(1).standard_normal((9, 16)))
    expected = pks[np.argsort(-(Q @ X.T), axis=1)[:, :10]]
    for batch in (1, 10, 333, 5000):  # batches smaller than k, not dividing n, larger than n
        got = brute_force(FakeIndex(X, pks), batch_rows=batch)("joint", Q, 10)  # type: ignore[arg-type]
        assert [set(r) for r in got.tolist()] == [set(r) for r in expected.tolist()]


def test_recall_at_k_counts_overlap_and_ignores_padding() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, -1, -1]])
    assert recall_at_k([[1, 2, 9, 9], [6, 5, 7, 8]], exact, 4) == pytest.approx((0.5 + 1.0) / 2)
    assert np.isnan(recall_at_k([[1]], np.array([[-1]]), 1))


def test_probe_publishes_recall_per_kind(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, pks = data
    ix = FakeIndex(X, pks)
    probe = RecallProbe(ix, heads={"text": "joint", "shot": "joint"}, sample_size=8, top_k=10, seed=0)  # type: ignore[arg-type]
    assert probe.run_once() == {}  # nothing recorded yet
    rng = np.random.default_rng(2)
    for v in _unit(rng.standard_normal((20, 16))):
        probe.record("text", v)
    for v in X[:5]:
        probe.record("shot", v)
    out = probe.run_once()
    assert out == {"text": pytest.approx(0.9), "shot": pytest.approx(0.9)}  # one of 10 replaced
    assert set(ix.kinds) == {"text", "shot"}  # re-run through each kind's own parameters
    assert REGISTRY.get_sample_value("shotline_query_search_recall_ratio", {"kind": "text"}) == pytest.approx(0.9)
    assert REGISTRY.get_sample_value("shotline_query_recall_probe_sampled_queries", {"kind": "text"}) == 8
    assert REGISTRY.get_sample_value("shotline_query_recall_probe_sampled_queries", {"kind": "shot"}) == 5
    ix.damage = False
    assert probe.run_once()["text"] == pytest.approx(1.0)


def test_recent_queries_are_bounded_and_unknown_kinds_ignored(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, pks = data
    probe = RecallProbe(FakeIndex(X, pks), heads={"text": "joint"}, recent_size=3)  # type: ignore[arg-type]
    for v in X[:10]:
        probe.record("text", v)
    probe.record("shot", X[0])  # no head configured for shots: dropped
    assert len(probe._recent["text"]) == 3 and "shot" not in probe._recent
    with pytest.raises(ValueError):
        RecallProbe(FakeIndex(X, pks), heads={"image": "joint"})  # type: ignore[arg-type]


def test_start_runs_periodically_and_stop_ends_it(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, pks = data
    before = REGISTRY.get_sample_value("shotline_query_recall_probe_runs_total", {"outcome": "ok"}) or 0
    probe = RecallProbe(FakeIndex(X, pks, damage=False), heads={"text": "joint"}, interval_seconds=0.05)  # type: ignore[arg-type]
    probe.record("text", X[3])
    probe.start()
    deadline = time.monotonic() + 5
    while probe.last.get("text") != 1.0 and time.monotonic() < deadline:
        time.sleep(0.02)
    probe.stop()
    assert probe.last == {"text": 1.0}
    assert (REGISTRY.get_sample_value("shotline_query_recall_probe_runs_total", {"outcome": "ok"}) or 0) > before
    assert probe._thread is None


def test_probe_on_a_real_collection(milvus_lite: MilvusLiteServer, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    X = _unit(rng.standard_normal((3000, 32)))
    ix = ShotIndex(milvus_lite.uri, collection_name("test/recall-probe"), {"joint": 32}, index_type="FLAT")
    ix.ensure_collection()
    try:
        ix.upsert([ShotRow(video_id=f"v{i // 10}", shot_index=i % 10, vectors={"joint": X[i]}) for i in range(3000)])
        pk_of_row = np.array([ix.pk_of(f"v{i // 10}", i % 10) for i in range(3000)])
        Q = _unit(rng.standard_normal((6, 32)))
        expected = pk_of_row[np.argsort(-(Q @ X.T), axis=1)[:, :10]]
        got = brute_force(ix, batch_rows=700)("joint", Q, 10)
        assert [set(r) for r in got.tolist()] == [set(r) for r in expected.tolist()]
        probe = RecallProbe(ix, heads={"text": "joint"}, sample_size=6)
        for q in Q:
            probe.record("text", q)
        assert probe.run_once() == {"text": pytest.approx(1.0)}  # FLAT is exact
    finally:
        ix.drop()
        ix.close()


def test_probe_on_an_empty_then_live_ivf_collection(milvus_lite: MilvusLiteServer) -> None:
    """The deployed configuration of the local stack (IVF_FLAT on milvus-lite, a joint and a visual
    head): an empty catalog is an 'empty' run, not an error (milvus-lite refuses vector reads of an
    IVF collection with no raw vector chunk: "Growing segment loss raw data"), and while an indexer
    keeps upserting and replacing videos the probe publishes both kinds' recall."""
    rng = np.random.default_rng(5)
    dims = {"joint": 32, "visual": 24}
    ix = ShotIndex(milvus_lite.uri, collection_name("test/recall-probe-live"), dims, index_type="IVF_FLAT",
                   index_params={"nlist": 16})
    ix.ensure_collection()
    writer: threading.Thread | None = None
    try:
        probe = RecallProbe(ix, heads={"text": "joint", "shot": "visual"}, sample_size=4, seed=1)
        for _ in range(4):
            probe.record("text", _unit(rng.standard_normal(32)))
            probe.record("shot", _unit(rng.standard_normal(24)))
        errors = REGISTRY.get_sample_value("shotline_query_recall_probe_runs_total", {"outcome": "error"}) or 0
        empty = REGISTRY.get_sample_value("shotline_query_recall_probe_runs_total", {"outcome": "empty"}) or 0
        assert probe.run_once() == {}  # nothing stored: no recall to publish, and no failure
        assert REGISTRY.get_sample_value("shotline_query_recall_probe_runs_total", {"outcome": "empty"}) == empty + 1

        def video(vid: str, n: int, version: str) -> list[ShotRow]:
            return [ShotRow(video_id=vid, shot_index=i, video_version=version,
                            vectors={h: _unit(rng.standard_normal(d)) for h, d in dims.items()}) for i in range(n)]

        ix.upsert([r for v in range(60) for r in video(f"v{v}", 25, "u1")])
        stop = threading.Event()
        writer_errors: list[BaseException] = []

        def index_live() -> None:  # what the indexer does: new videos, re-uploads that upsert then trim
            n = 0
            try:
                while not stop.is_set():
                    ix.upsert(video(f"new{n}", 20, "u1"))
                    ix.write(ix.prepare(video(f"v{n % 60}", 10 + n % 20, f"u{n + 2}")))
                    ix.replace_video(f"v{n % 60}", f"u{n + 2}")
                    n += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                writer_errors.append(exc)

        writer = threading.Thread(target=index_live, daemon=True)
        writer.start()
        for _ in range(3):
            out = probe.run_once()
            assert set(out) == {"text", "shot"} and all(0.0 <= r <= 1.0 for r in out.values())
        stop.set()
        writer.join(30)
        assert not writer_errors
        out = probe.run_once()  # a catalog at rest: milvus-lite searches unsealed rows below 100k exactly
        assert out == {"text": pytest.approx(1.0), "shot": pytest.approx(1.0)}
        assert REGISTRY.get_sample_value("shotline_query_search_recall_ratio", {"kind": "shot"}) == pytest.approx(1.0)
        assert (REGISTRY.get_sample_value("shotline_query_recall_probe_runs_total", {"outcome": "error"}) or 0) == errors
    finally:
        if writer is not None and writer.is_alive():
            stop.set()
            writer.join(30)
        ix.drop()
        ix.close()
