"""ShotIndex against a real milvus-lite 2.5.1 server on loopback (started in a temp dir)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from shotline.errors import BadInput, TransientError
from shotline.index import SearchFilter, ShotIndex, ShotRow, collection_name, shot_pk
from shotline.stack.milvus import MilvusLiteServer

DIMS = {"joint": 16, "visual": 8}


@pytest.fixture()
def index(milvus_lite: MilvusLiteServer, request: pytest.FixtureRequest) -> Iterator[ShotIndex]:
    ix = ShotIndex(milvus_lite.uri, collection_name(f"test/{request.node.name}"), DIMS,
                   index_type="IVF_FLAT", index_params={"nlist": 8}, search_params={"nprobe": 8})
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


def test_shot_pk_is_deterministic_and_model_scoped() -> None:
    assert shot_pk("vid", 3, "m1") == shot_pk("vid", 3, "m1")
    assert shot_pk("vid", 3, "m1") != shot_pk("vid", 3, "m2") != shot_pk("vid", 4, "m1")
    assert 0 <= shot_pk("vid", 3, "m1") < 2**63


def test_collection_name_is_safe_and_distinct() -> None:
    assert collection_name("clip_b32") == "shotline_clip_b32"
    a, b = collection_name("org/model-1"), collection_name("org_model_1")
    assert a != b and a.startswith("shotline_org_model_1_")
    assert collection_name("x" * 400).__len__() <= 255
    with pytest.raises(BadInput):
        collection_name("")


def test_upsert_twice_keeps_one_row_per_shot(index: ShotIndex) -> None:
    rows = _video("vid-a", 30)
    index.upsert(rows)
    index.upsert(rows)  # redelivery
    index.upsert(rows[:5])
    assert index.count() == 30
    assert [s.shot_index for s in index.video_shots("vid-a")] == list(range(30))


def test_upsert_over_batch_limit(index: ShotIndex) -> None:
    index.upsert(_video("big", 2600))  # two insert batches
    assert index.count() == 2600


def test_ensure_collection_is_idempotent_and_checks_dims(index: ShotIndex, milvus_lite: MilvusLiteServer) -> None:
    index.upsert(_video("vid-a", 3))
    index.ensure_collection()
    assert index.count() == 3
    clash = ShotIndex(milvus_lite.uri, index.collection, {"joint": 32, "visual": 8})
    with pytest.raises(BadInput) as err:
        clash.ensure_collection()
    assert err.value.reason == "schema_mismatch"


def test_reupload_leaves_only_the_new_version(index: ShotIndex) -> None:
    index.upsert(_video("vid-a", 10, version="v1"))
    index.upsert(_video("vid-b", 4, version="v1"))
    new = _video("vid-a", 6, version="v2", seed=1)
    _reupload(index, "vid-a", "v2", new)
    shots = index.video_shots("vid-a")
    assert [(s.shot_index, s.video_version) for s in shots] == [(i, "v2") for i in range(6)]
    assert len(index.video_shots("vid-b")) == 4
    # The new vectors are the stored ones, and the search sees no old-version shot.
    hits = index.search("joint", new[2].vectors["joint"], top_k=20, filters=SearchFilter(video_ids=["vid-a"]))[0]
    assert hits[0].shot_index == 2 and hits[0].score > 0.999
    assert sorted(h.shot_index for h in hits) == list(range(6))


def test_bad_reupload_keeps_the_old_version(index: ShotIndex) -> None:
    index.upsert(_video("vid-a", 5, version="v1"))
    bad = _video("vid-a", 3, version="v2", seed=3)
    bad[1].vectors["joint"] = np.full(DIMS["joint"], np.nan, dtype=np.float32)
    with pytest.raises(BadInput):
        _reupload(index, "vid-a", "v2", bad)
    assert {s.video_version for s in index.video_shots("vid-a")} == {"v1"}
    assert index.count() == 5


def test_replace_video_deletes_other_versions(index: ShotIndex) -> None:
    index.upsert(_video("vid-a", 8, version="v1"))
    index.upsert(_video("vid-a", 3, version="v2", seed=2))  # overwrites shots 0..2 in place
    index.replace_video("vid-a", keep_version="v2")
    assert [(s.shot_index, s.video_version) for s in index.video_shots("vid-a")] == [(0, "v2"), (1, "v2"), (2, "v2")]
    index.delete_video("vid-a")
    assert index.count() == 0


def test_top1_of_a_stored_vector_is_itself(index: ShotIndex) -> None:
    rows = _video("vid-a", 40) + _video("vid-b", 40)
    index.upsert(rows)
    for row in rows[::7]:
        for head in DIMS:
            hit = index.search(head, row.vectors[head], top_k=1, consistency_level="Strong")[0][0]
            assert (hit.video_id, hit.shot_index) == (row.video_id, row.shot_index)
            assert hit.pk == row.pk and hit.score == pytest.approx(1.0, abs=1e-4)
            assert hit.keyframe_ref == row.keyframe_ref and hit.start_ms == row.start_ms


def test_batched_queries_return_one_list_per_query(index: ShotIndex) -> None:
    rows = _video("vid-a", 20)
    index.upsert(rows)
    q = np.stack([rows[i].vectors["joint"] for i in (1, 4, 9)])
    res = index.search("joint", q, top_k=5)
    assert [r[0].shot_index for r in res] == [1, 4, 9]
    assert all(len(r) == 5 and r[0].score >= r[-1].score for r in res)


def test_filters(index: ShotIndex) -> None:
    index.upsert(_video("vid-a", 10, catalog="cat-a") + _video("vid-b", 10, catalog="cat-b")
                 + _video('vid "c"', 10, catalog="cat-a"))
    q = _unit(np.random.default_rng(7), DIMS["joint"])

    def found(f: SearchFilter) -> set[tuple[str, int]]:
        return {(h.video_id, h.shot_index) for h in index.search("joint", q, top_k=100, filters=f)[0]}

    assert {v for v, _ in found(SearchFilter(video_ids=["vid-b"]))} == {"vid-b"}
    assert {v for v, _ in found(SearchFilter(catalog_ids=["cat-a"]))} == {"vid-a", 'vid "c"'}
    assert {v for v, _ in found(SearchFilter(exclude_video_ids=["vid-a"]))} == {"vid-b", 'vid "c"'}
    assert len(found(SearchFilter(video_ids=['vid "c"']))) == 10  # quotes are escaped, not injected
    window = found(SearchFilter(video_ids=["vid-a"], min_start_ms=4000, max_end_ms=11500))
    assert window == {("vid-a", i) for i in range(2, 6)}  # start >= 4000 and end <= 11500
    assert index.count(SearchFilter(catalog_ids=["cat-b"], min_start_ms=10_000)) == 5
    assert found(SearchFilter(video_ids=["nope"])) == set()


def test_get_and_get_by_shot_return_vectors(index: ShotIndex) -> None:
    rows = _video("vid-a", 600)  # more than one vector page
    index.upsert(rows)
    pks = [rows[i].pk for i in (599, 0, 300)] + [12345]  # unknown pk is skipped
    got = index.get(pks, heads=["joint", "visual"])
    assert [g.shot_index for g in got] == [599, 0, 300]
    for g in got:
        np.testing.assert_allclose(g.vectors["visual"], rows[g.shot_index].vectors["visual"], rtol=1e-6)
    many = index.get([r.pk for r in rows], heads=["joint"])
    np.testing.assert_allclose(np.stack([m.vectors["joint"] for m in many]),
                               np.stack([r.vectors["joint"] for r in rows]), rtol=1e-6)
    one = index.get_by_shot("vid-a", 42)
    assert one is not None and one.keyframe_ref == "kf/vid-a/42.jpg" and one.vectors == {}
    assert index.get_by_shot("vid-a", 9999) is None


def test_iterate_vectors_streams_every_row_once(index: ShotIndex) -> None:
    rows = _video("vid-a", 700) + _video("vid-b", 300)
    index.upsert(rows)
    by_pk = {r.pk: r for r in rows}
    seen: list[int] = []
    for pks, vids, vecs in index.iterate_vectors("joint", batch_size=256, page_rows=100):
        assert len(pks) == len(vids) == vecs.shape[0] and vecs.shape[1] == DIMS["joint"]
        assert len(pks) <= 256 + 100
        for pk, vid, vec in zip(pks.tolist(), vids, vecs):
            assert by_pk[pk].video_id == vid
            np.testing.assert_allclose(vec, by_pk[pk].vectors["joint"], rtol=1e-6)
        seen.extend(pks.tolist())
    assert sorted(seen) == sorted(by_pk)
    only_b = [p for b in index.iterate_vectors("visual", filter=SearchFilter(video_ids=["vid-b"])) for p in b[0]]
    assert sorted(only_b) == sorted(r.pk for r in rows if r.video_id == "vid-b")
    assert index.list_videos() == ["vid-a", "vid-b"]


def test_iterate_vectors_of_an_ivf_collection_without_raw_vectors(index: ShotIndex) -> None:
    """milvus-lite 2.5.1 refuses any query that outputs a vector field of an IVF/HNSW collection
    whose growing segment holds no raw vector chunk ("Growing segment loss raw data"), even one
    that matches no row: empty, or reloaded after its last row was deleted. Iteration reads
    vectors by the primary keys it has just seen, so it never asks for them there."""
    assert index.index_type == "IVF_FLAT"
    assert list(index.iterate_vectors("joint")) == []  # a fresh collection
    rows = _video("vid-a", 5)
    index.upsert(rows)
    assert sorted(p for b in index.iterate_vectors("visual") for p in b[0]) == sorted(r.pk for r in rows)
    index.delete_video("vid-a")
    index.client.release_collection(index.collection)  # milvus-lite rebuilds its segment from the rows left: none
    index.client.load_collection(index.collection)
    for head in DIMS:
        assert list(index.iterate_vectors(head)) == []
        assert list(index.iterate_vectors(head, filter=SearchFilter(video_ids=["vid-a"]))) == []
    index.upsert(rows[:2])
    got = {int(p): v for pks, _, vecs in index.iterate_vectors("joint", page_rows=1) for p, v in zip(pks, vecs)}
    assert sorted(got) == sorted(r.pk for r in rows[:2])
    for r in rows[:2]:
        np.testing.assert_allclose(got[r.pk], r.vectors["joint"], rtol=1e-6)


def test_get_with_vectors_of_an_empty_ivf_collection_finds_nothing(index: ShotIndex) -> None:
    """The same milvus-lite refusal on a read by key: an unknown shot is not found, not an outage."""
    assert index.index_type == "IVF_FLAT"
    assert index.get_by_shot("vid-a", 0, heads=["joint"]) is None  # a fresh collection
    rows = _video("vid-a", 3)
    index.upsert(rows)
    index.delete_video("vid-a")
    index.client.release_collection(index.collection)
    index.client.load_collection(index.collection)
    assert index.get([r.pk for r in rows], heads=list(DIMS)) == []
    index.upsert(rows[:1])
    got = index.get_by_shot("vid-a", 0, heads=["visual"])
    assert got is not None
    np.testing.assert_allclose(got.vectors["visual"], rows[0].vectors["visual"], rtol=1e-6)


def test_bad_input_is_rejected_clearly(index: ShotIndex) -> None:
    row = _video("vid-a", 1)[0]
    cases = [
        lambda: index.search("nope", np.zeros(16), 3),
        lambda: index.search("joint", np.zeros(15), 3),
        lambda: index.search("joint", np.full(16, np.nan), 3),
        lambda: index.search("joint", np.ones(16), 0),
        lambda: index.search("joint", np.ones(16), 3, filters=SearchFilter(video_ids=[])),
        lambda: index.upsert([ShotRow("vid-a", 0, {"joint": row.vectors["joint"]})]),
        lambda: index.upsert([ShotRow("vid-a", 0, {"joint": np.zeros(3), "visual": np.zeros(8)})]),
        lambda: index.upsert([ShotRow("", 0, row.vectors)]),
        lambda: index.upsert([ShotRow("vid-a", -1, row.vectors)]),
        lambda: list(index.iterate_vectors("joint", batch_size=0)),
    ]
    for case in cases:
        with pytest.raises(BadInput):
            case()
    assert index.count() == 0


def test_unreachable_milvus_is_transient(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ix = ShotIndex(f"http://127.0.0.1:{port}", "shotline_x", DIMS, timeout=2)  # constructing needs no server
    with pytest.raises(TransientError):
        ix.ensure_collection()


def test_prepare_validates_without_writing(index: ShotIndex) -> None:
    rows = _video("vid-a", 3)
    rows[2].vectors["visual"] = np.full(DIMS["visual"], np.inf, dtype=np.float32)
    with pytest.raises(BadInput):
        index.prepare(rows)
    long_id = _video("vid-a", 1)[0]
    long_id.catalog_id = "c" * 513
    with pytest.raises(BadInput) as err:
        index.prepare([long_id])
    assert err.value.reason == "field_too_long" and index.count() == 0
    assert index.write(index.prepare(rows[:2])) == 2 and index.count() == 2


def test_replace_video_returns_what_it_removed(index: ShotIndex) -> None:
    index.upsert(_video("vid-a", 5, version="v1"))
    index.upsert(_video("vid-a", 2, version="v2", seed=4))
    stale = index.replace_video("vid-a", keep_version="v2")
    assert [(s.shot_index, s.video_version) for s in stale] == [(2, "v1"), (3, "v1"), (4, "v1")]
    assert index.replace_video("vid-a", keep_version="v2") == []


# --- the indexer service on this Milvus and a real Redis ------------------------------------

@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import subprocess
    import time

    import redis

    from shotline.stack.redis import prepare

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(prepare(tmp_path_factory.mktemp("redis"), port), stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture()
def indexer(milvus_lite: MilvusLiteServer, redis_url: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    import redis

    from services.indexer.handler import IndexHandler
    from shotline.settings import Settings

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    made: list[ShotIndex] = []

    def index_for(model_id: str, dims: dict[str, int]) -> ShotIndex:
        ix = ShotIndex(milvus_lite.uri, collection_name(model_id), dims, index_type="FLAT", model_id=model_id)
        made.append(ix)
        return ix

    handler = IndexHandler(Settings(topic_prefix="t"), index_for, r)
    handler.model_id = f"m-{request.node.name}"  # type: ignore[attr-defined]
    yield handler
    for ix in made:
        ix.drop()
        ix.close()


def _embedded(model_id: str, video_id: str, upload: str, rows: list[ShotRow], total: int,
              chunk: int = 0, chunks: int = 1, skipped: tuple[int, ...] = ()) -> bytes:
    from shotline.events import new_meta
    from shotline.v1 import common_pb2, events_pb2

    def shot(i: int, r: ShotRow | None = None) -> common_pb2.Shot:
        return common_pb2.Shot(shot_id=f"{video_id}/{i}", video_id=video_id, index=i,
                               start_ms=r.start_ms if r else i * 2000, end_ms=r.end_ms if r else i * 2000 + 1500,
                               keyframe_refs=[f"kf/{video_id}/{upload}/{i}.jpg"])

    return events_pb2.ShotsEmbedded(
        meta=new_meta(video_id, "test"), upload_id=upload, catalog_id="cat",
        model=common_pb2.ModelRef(model_id=model_id, version="1"), dims=DIMS,
        shots=[events_pb2.ShotEmbedding(shot=shot(r.shot_index, r), vectors={
            h: events_pb2.Vector(values=np.asarray(v, np.float32).tolist()) for h, v in r.vectors.items()})
            for r in rows],
        skipped=[events_pb2.SkippedShot(shot=shot(i), reason="no_keyframes", message="none") for i in skipped],
        chunk_index=chunk, chunk_count=chunks, total_shots=total,
    ).SerializeToString()


def _feed(indexer, *payloads: bytes):  # type: ignore[no-untyped-def]
    from kafka.consumer.fetcher import ConsumerRecord

    from shotline.v1 import events_pb2

    recs = [ConsumerRecord(topic="t.shots.embedded", partition=0, leader_epoch=-1, offset=i, timestamp=0,
                           timestamp_type=0, key=b"v", value=p, headers=[], checksum=None, serialized_key_size=-1,
                           serialized_value_size=len(p), serialized_header_size=-1) for i, p in enumerate(payloads)]
    return [events_pb2.ShotsIndexed.FromString(o.value) for o in indexer.handle_batch(recs)]


def _versions(indexer, video_id: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    (ix,) = indexer._indexes.values()
    return [(s.shot_index, s.video_version) for s in ix.video_shots(video_id)]


def test_indexer_bad_reupload_leaves_the_old_version(indexer) -> None:  # type: ignore[no-untyped-def]
    m = indexer.model_id
    _feed(indexer, _embedded(m, "vid", "u1", _video("vid", 4, version="u1"), total=4))
    nan = _video("vid", 3, version="u2", seed=5)
    nan[1].vectors["joint"] = np.full(DIMS["joint"], np.nan, dtype=np.float32)
    long_ref = _video("vid", 3, version="u2", seed=6)
    for bad in (_embedded(m, "vid", "u2", nan, total=3), _embedded(m, "vid", "u2" + "x" * 300, long_ref, total=3)):
        with pytest.raises(BadInput):
            _feed(indexer, bad)
        assert _versions(indexer, "vid") == [(i, "u1") for i in range(4)]


def test_indexer_reupload_is_never_empty_and_trims_at_the_end(indexer) -> None:  # type: ignore[no-untyped-def]
    m = indexer.model_id
    _feed(indexer, _embedded(m, "vid", "u1", _video("vid", 6, version="u1"), total=6))
    new = _video("vid", 4, version="u2", seed=7)
    first = _feed(indexer, _embedded(m, "vid", "u2", new[:2], total=4, chunk=0, chunks=2))
    assert not first[0].video_complete
    # In flight: the new shots 0-1 replaced the old ones in place; the old 2-5 are still there.
    assert _versions(indexer, "vid") == [(0, "u2"), (1, "u2")] + [(i, "u1") for i in range(2, 6)]
    last = _feed(indexer, _embedded(m, "vid", "u2", new[2:], total=4, chunk=1, chunks=2))
    assert last[0].video_complete
    assert _versions(indexer, "vid") == [(i, "u2") for i in range(4)]
    # An empty re-upload removes the video.
    (empty,) = _feed(indexer, _embedded(m, "vid", "u3", [], total=0))
    assert empty.video_complete and _versions(indexer, "vid") == []


def test_indexer_skipped_shots_count_as_done(indexer) -> None:  # type: ignore[no-untyped-def]
    m = indexer.model_id
    _feed(indexer, _embedded(m, "vid", "u1", _video("vid", 3, version="u1"), total=3))
    rows = _video("vid", 3, version="u2", seed=8)
    (ev,) = _feed(indexer, _embedded(m, "vid", "u2", [rows[0], rows[2]], total=3, skipped=(1,)))
    assert ev.video_complete and list(ev.skipped_shot_ids) == ["vid/1"]
    assert _versions(indexer, "vid") == [(0, "u2"), (2, "u2")]  # the old shot 1 is not left behind
    (only,) = _feed(indexer, _embedded(m, "solo", "u1", [], total=1, skipped=(0,)))  # all skipped
    assert only.video_complete and only.indexed_shots == 0


def test_indexer_detaches_labels_of_replaced_shots(indexer) -> None:  # type: ignore[no-untyped-def]
    from shotline.registry import Annotation

    m, reg = indexer.model_id, indexer.registry
    old = _video("vid", 6, version="u1")
    _feed(indexer, _embedded(m, "vid", "u1", old, total=6))
    reg.add_annotations("cars", [Annotation(f"vid/{i}", i % 2 == 0, "ann", 1000 + i) for i in (0, 1, 5)])
    reg.add_annotations("cats", [Annotation("vid/1", False, "ann", 2000), Annotation("other/1", True, "ann", 2001)])
    new = _video("vid", 3, version="u2", seed=9)
    new[0].vectors = dict(old[0].vectors)  # shot 0 is the same picture at the same times: labels stay
    (ev,) = _feed(indexer, _embedded(m, "vid", "u2", new, total=3))
    assert ev.video_complete and sorted(ev.replaced_shot_ids) == ["vid/1", "vid/2", "vid/3", "vid/4", "vid/5"]
    assert [a.shot_id for a in reg.annotations("cars")] == ["vid/0"]
    assert [a.shot_id for a in reg.annotations("cats")] == ["other/1"]
    detached = reg.detached_annotations("cars")
    assert [(d.annotation.shot_id, d.annotation.positive, d.old_upload_id, d.new_upload_id) for d in detached] == [
        ("vid/1", False, "u1", "u2"), ("vid/5", False, "u1", "u2")]
    assert [d.annotation.shot_id for d in reg.detached_annotations("cats")] == ["vid/1"]
    assert reg.dirty_score("cars") is not None  # retrains without them
    # Redelivery changes nothing more; a label given after the re-upload is a live one.
    _feed(indexer, _embedded(m, "vid", "u2", new, total=3))
    reg.add_annotations("cars", [Annotation("vid/1", True, "ann", 3000)])
    assert [a.shot_id for a in reg.annotations("cars")] == ["vid/0", "vid/1"] and len(reg.detached_annotations("cars")) == 2
