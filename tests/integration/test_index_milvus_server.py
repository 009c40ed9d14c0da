"""The ShotIndex contract against a real Milvus 2.3.5 standalone server (PyPI ``milvus``).

The server runs from its own venv (installed on first use), on a free block of ports, in a
temp dir; the module stops it and checks that no process of it is left. Milvus 2.3 differs
from milvus-lite 2.5.1 in two ways the index must be told about or live with:
- no INVERTED scalar index (2.4+): ``scalar_indexes=False``;
- one vector field per collection (multi-vector is 2.4+): single-head indexes only.
Searches on a server default to Bounded consistency, so the ones that must see the test's
own writes ask for Strong.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import numpy as np
import pytest

from shotline.errors import BadInput, TransientError
from shotline.index import SearchFilter, ShotIndex, ShotRow, collection_name
from shotline.stack.milvus import port_answers
from shotline.stack.milvus_server import MilvusServer23, _group_alive, free_port_block

DIMS = {"joint": 16}
STRONG = "Strong"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer23]:
    srv = MilvusServer23(tmp_path_factory.mktemp("milvus23"), free_port_block())
    assert srv.start()
    pid = srv._pid()
    try:
        srv.wait_ready(timeout=120)
        yield srv
    finally:
        srv.stop()
        assert pid is not None and not _group_alive(pid), "milvus server processes left behind"
        assert not any(port_answers(p) for p in srv.ports.values()), "milvus server ports still open"
        shutil.rmtree(srv.data_dir)  # ~270 MB of preallocated etcd/rocksmq files


@pytest.fixture(params=["IVF_FLAT", "HNSW"])
def index(server: MilvusServer23, request: pytest.FixtureRequest) -> Iterator[ShotIndex]:
    params = {"IVF_FLAT": ({"nlist": 8}, {"nprobe": 8}), "HNSW": ({"M": 8, "efConstruction": 64}, {"ef": 64})}
    build, search = params[request.param]
    ix = ShotIndex(server.uri, collection_name(f"srv/{request.node.name}"), DIMS, index_type=request.param,
                   index_params=build, search_params=search, scalar_indexes=False)
    ix.ensure_collection()
    yield ix
    ix.drop()
    ix.close()


def _reupload(index: ShotIndex, video_id: str, version: str, rows) -> None:  # type: ignore[no-untyped-def]
    """A re-upload as the indexer does it: validate every row, upsert in place, trim the rest."""
    index.write(index.prepare(rows))
    index.replace_video(video_id, version)


def _unit(rng: np.random.Generator, d: int) -> np.ndarray:
    v = rng.standard_normal(d).astype(np.float32)
    return v / np.linalg.norm(v)


def _video(video_id: str, n: int, version: str = "v1", catalog: str = "cat-a", seed: int = 0) -> list[ShotRow]:
    rng = np.random.default_rng(abs(hash((video_id, version, seed))) % 2**32)
    return [
        ShotRow(video_id=video_id, shot_index=i, catalog_id=catalog, start_ms=i * 2000,
                end_ms=i * 2000 + 1500, keyframe_ref=f"kf/{video_id}/{i}.jpg", ingest_ms=1,
                video_version=version, vectors={h: _unit(rng, d) for h, d in DIMS.items()})
        for i in range(n)
    ]


def test_server_reports_version_2_3(server: MilvusServer23, index: ShotIndex) -> None:
    assert index.client.get_server_version().startswith("v2.3.")
    assert index.client.describe_index(index.collection, "joint_vec")["index_type"] == index.index_type


def test_upsert_twice_keeps_one_row_per_shot(index: ShotIndex) -> None:
    rows = _video("vid-a", 30)
    index.upsert(rows)
    index.upsert(rows)  # redelivery
    index.upsert(rows[:5])
    assert index.count() == 30
    assert [s.shot_index for s in index.video_shots("vid-a")] == list(range(30))
    index.upsert(_video("big", 2600))  # more than one insert batch
    assert index.count() == 2630


def test_reupload_leaves_only_the_new_version(index: ShotIndex) -> None:
    index.upsert(_video("vid-a", 8, version="v1"))
    index.upsert(_video("vid-a", 3, version="v2", seed=2))  # overwrites shots 0..2 in place
    index.replace_video("vid-a", keep_version="v2")
    assert [(s.shot_index, s.video_version) for s in index.video_shots("vid-a")] == [(i, "v2") for i in range(3)]
    index.upsert(_video("vid-b", 4))
    new = _video("vid-a", 6, version="v3", seed=1)
    _reupload(index, "vid-a", "v3", new)
    assert [(s.shot_index, s.video_version) for s in index.video_shots("vid-a")] == [(i, "v3") for i in range(6)]
    hits = index.search("joint", new[2].vectors["joint"], top_k=20, filters=SearchFilter(video_ids=["vid-a"]),
                        consistency_level=STRONG)[0]
    assert hits[0].shot_index == 2 and hits[0].score > 0.999
    assert sorted(h.shot_index for h in hits) == list(range(6))
    bad = _video("vid-a", 2, version="v4")
    bad[1].vectors["joint"] = np.full(DIMS["joint"], np.nan, dtype=np.float32)
    with pytest.raises(BadInput):
        _reupload(index, "vid-a", "v4", bad)
    assert {s.video_version for s in index.video_shots("vid-a")} == {"v3"}
    index.delete_video("vid-a")
    assert index.count() == 4


def test_top1_of_a_stored_vector_is_itself(index: ShotIndex) -> None:
    rows = _video("vid-a", 40) + _video("vid-b", 40)
    index.upsert(rows)
    for row in rows[::7]:
        hit = index.search("joint", row.vectors["joint"], top_k=1, consistency_level=STRONG)[0][0]
        assert (hit.video_id, hit.shot_index, hit.pk) == (row.video_id, row.shot_index, row.pk)
        assert hit.score == pytest.approx(1.0, abs=1e-4)
        assert hit.keyframe_ref == row.keyframe_ref and hit.start_ms == row.start_ms
    q = np.stack([rows[i].vectors["joint"] for i in (1, 44, 9)])
    res = index.search("joint", q, top_k=5, consistency_level=STRONG)
    assert [(r[0].video_id, r[0].shot_index) for r in res] == [("vid-a", 1), ("vid-b", 4), ("vid-a", 9)]


def test_filters(index: ShotIndex) -> None:
    index.upsert(_video("vid-a", 10, catalog="cat-a") + _video("vid-b", 10, catalog="cat-b")
                 + _video('vid "c"', 10, catalog="cat-a"))
    q = _unit(np.random.default_rng(7), DIMS["joint"])

    def found(f: SearchFilter) -> set[tuple[str, int]]:
        hits = index.search("joint", q, top_k=100, filters=f, consistency_level=STRONG)[0]
        return {(h.video_id, h.shot_index) for h in hits}

    assert {v for v, _ in found(SearchFilter(video_ids=["vid-b"]))} == {"vid-b"}
    assert {v for v, _ in found(SearchFilter(catalog_ids=["cat-a"]))} == {"vid-a", 'vid "c"'}
    assert {v for v, _ in found(SearchFilter(exclude_video_ids=["vid-a"]))} == {"vid-b", 'vid "c"'}
    assert len(found(SearchFilter(video_ids=['vid "c"']))) == 10  # quotes are escaped, not injected
    window = found(SearchFilter(video_ids=["vid-a"], min_start_ms=4000, max_end_ms=11500))
    assert window == {("vid-a", i) for i in range(2, 6)}
    assert index.count(SearchFilter(catalog_ids=["cat-b"], min_start_ms=10_000)) == 5
    assert found(SearchFilter(video_ids=["nope"])) == set()


def test_get_iterate_and_count(index: ShotIndex) -> None:
    rows = _video("vid-a", 700) + _video("vid-b", 300)
    index.upsert(rows)
    got = index.get([rows[i].pk for i in (699, 0, 300)] + [12345], heads=["joint"])  # unknown pk skipped
    assert [g.shot_index for g in got] == [699, 0, 300]
    for g in got:
        np.testing.assert_allclose(g.vectors["joint"], rows[g.shot_index].vectors["joint"], rtol=1e-6)
    one = index.get_by_shot("vid-b", 42)
    assert one is not None and one.keyframe_ref == "kf/vid-b/42.jpg" and one.vectors == {}
    by_pk = {r.pk: r for r in rows}
    seen: list[int] = []
    for pks, vids, vecs in index.iterate_vectors("joint", batch_size=256, page_rows=100):
        for pk, vid, vec in zip(pks.tolist(), vids, vecs):
            assert by_pk[pk].video_id == vid
            np.testing.assert_allclose(vec, by_pk[pk].vectors["joint"], rtol=1e-6)
        seen.extend(pks.tolist())
    assert sorted(seen) == sorted(by_pk)
    assert index.list_videos() == ["vid-a", "vid-b"]
    assert index.count() == 1000 and index.count(SearchFilter(video_ids=["vid-b"])) == 300


def test_ensure_collection_is_idempotent_and_checks_dims(index: ShotIndex, server: MilvusServer23) -> None:
    index.upsert(_video("vid-a", 3))
    index.ensure_collection()
    assert index.count() == 3
    clash = ShotIndex(server.uri, index.collection, {"joint": 32}, scalar_indexes=False)
    with pytest.raises(BadInput) as err:
        clash.ensure_collection()
    assert err.value.reason == "schema_mismatch"


def test_what_2_3_rejects(server: MilvusServer23) -> None:
    """Tripwires for the two 2.4 features ShotIndex uses by default; both fail at creation."""
    two_heads = ShotIndex(server.uri, "shotline_srv_two_heads", {"joint": 16, "visual": 8}, scalar_indexes=False)
    with pytest.raises(TransientError, match="multiple vector fields is not supported"):
        two_heads.ensure_collection()
    inverted = ShotIndex(server.uri, "shotline_srv_inverted", DIMS, scalar_indexes=True)
    with pytest.raises(TransientError, match="INVERTED"):
        inverted.ensure_collection()
    for ix in (two_heads, inverted):
        if ix.client.has_collection(ix.collection):
            ix.drop()
        ix.close()
