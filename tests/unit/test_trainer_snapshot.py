"""The trainer's vector snapshot stays equal to the index through ingest, re-uploads and deletes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from services.trainer.snapshot import VectorSnapshot
from shotline.index import ShotIndex

from .test_index_shots import _video, index  # noqa: F401  (index runs on conftest's milvus_lite)


def _reupload(index: ShotIndex, video_id: str, version: str, rows) -> None:  # type: ignore[no-untyped-def]
    """A re-upload as the indexer does it: validate every row, upsert in place, trim the rest."""
    index.write(index.prepare(rows))
    index.replace_video(video_id, version)


def _contents(snap: VectorSnapshot) -> dict[int, tuple[str, np.ndarray]]:
    out = {}
    for pks, vids, vecs in snap.chunks(rows=3):
        for pk, vid, vec in zip(pks.tolist(), vids, vecs, strict=True):
            assert pk not in out, "a row appears twice"
            out[pk] = (vid, np.asarray(vec))
    return out


def _truth(ix: ShotIndex) -> dict[int, tuple[str, np.ndarray]]:
    return {int(p): (v, x) for ps, vs, xs in ix.iterate_vectors("visual") for p, v, x in zip(ps, vs, xs, strict=True)}


def _now(rows):  # type: ignore[no-untyped-def]
    for r in rows:
        r.ingest_ms = int(time.time() * 1000)
    return rows


def _same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for pk in a:
        assert a[pk][0] == b[pk][0]
        np.testing.assert_allclose(a[pk][1], b[pk][1], atol=1e-6)


def test_snapshot_follows_ingest_reuploads_and_deletes(index: ShotIndex, tmp_path: Path) -> None:  # noqa: F811
    index.upsert(_video("a", 5) + _video("b", 4))
    snap = VectorSnapshot(index, "visual", tmp_path)
    snap.refresh()
    base = tmp_path / index.collection / "visual" / "current"
    assert len(snap) == 9 and base.is_symlink() and (base / "vectors.npy").exists()
    _same(_contents(snap), _truth(index))

    index.upsert(_now(_video("c", 3)))                       # new video → delta
    _reupload(index, "a", "v2", _now(_video("a", 5, version="v2", seed=7)))  # same pks, new vectors
    snap.refresh()
    assert len(snap) == 12
    _same(_contents(snap), _truth(index))

    _reupload(index, "b", "v2", _now(_video("b", 2, version="v2", seed=3)))  # fewer shots: leftovers trimmed
    snap.refresh()
    assert len(snap) == 10 == index.count()
    _same(_contents(snap), _truth(index))

    index.delete_video("c")                                   # a deletion only the row count reveals
    snap.refresh()
    assert len(snap) == 7 == index.count()
    _same(_contents(snap), _truth(index))

    reopened = VectorSnapshot(index, "visual", tmp_path)   # a restarted trainer reuses the files
    reopened.refresh()
    _same(_contents(reopened), _truth(index))


def test_a_torn_or_corrupt_base_is_rebuilt_and_swaps_are_whole(index: ShotIndex, tmp_path: Path) -> None:  # noqa: F811
    index.upsert(_video("a", 5) + _video("b", 4))
    snap = VectorSnapshot(index, "visual", tmp_path)
    snap.refresh()
    head_dir = tmp_path / index.collection / "visual"
    first = (head_dir / "current").resolve()
    # Flip one byte of the live vectors: the checksum in meta.json no longer matches.
    vectors = first / "vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0xFF
    vectors.write_bytes(bytes(data))
    reopened = VectorSnapshot(index, "visual", tmp_path)
    reopened.refresh()
    _same(_contents(reopened), _truth(index))
    second = (head_dir / "current").resolve()
    assert second != first and not first.exists(), "the bad base was replaced by a new directory"
    assert sorted(p.name for p in head_dir.iterdir()) == sorted(["current", second.name])
