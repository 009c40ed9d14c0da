"""The trainer's local copy of one head's vectors, for rescoring the whole catalog fast.

Why: milvus-lite streams vectors out at a few thousand rows/s (minutes for 1M shots), while a
retrain should re-score the catalog in seconds. The snapshot is a memory-mapped base (pks,
video ids, float32 vectors, written once) plus an in-memory delta of rows ingested since,
read incrementally from the index by `ingest_ms`. Rows that a re-upload overwrote are masked
in the base, and so are base rows of a re-uploaded video that the index no longer has (its
leftover shots, trimmed); when the delta outgrows a share of the base, or the index has fewer
rows than the snapshot (other deletions), the base is rebuilt. The index stays the source of
truth: feeds resolve their shots against it, so a row deleted since the last refresh is never shown.

On disk: each base is one directory `base-<ms>-<pid>/` (arrays + meta.json with their row
counts and BLAKE2 checksums) and `current` is a symlink to the live one, swapped with one
atomic rename: a reader sees the old base or the new one, never a mix. A base whose lengths or
checksums disagree with its meta (a torn write, a disk error) is rebuilt from the index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from shotline import logs
from shotline.index import SearchFilter, ShotIndex

log = logs.get("trainer.snapshot")

# Rows re-read around the watermark: ingest clocks of different indexer replicas may skew.
SKEW_MS = 60_000
ARRAYS = ("pks.npy", "videos.npy", "vectors.npy")


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


class VectorSnapshot:
    def __init__(self, index: ShotIndex, head: str, directory: Path, compact_ratio: float = 0.2):
        self.index = index
        self.head = head
        self.dir = Path(directory) / index.collection / head
        self.compact_ratio = compact_ratio
        self._base: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # pks, videos, vecs (memmap)
        self._dead = np.zeros(0, dtype=bool)
        self._delta: dict[int, tuple[str, np.ndarray]] = {}
        self._watermark = 0

    # -- building -------------------------------------------------------------------------
    def _read_all(self, filters: SearchFilter | None = None) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
        return self.index.iterate_vectors(self.head, batch_size=50_000, filter=filters)

    def rebuild(self) -> None:
        t0 = time.perf_counter()
        started_ms = int(time.time() * 1000)
        self.dir.mkdir(parents=True, exist_ok=True)
        pks, vids, vecs = [], [], []
        for p, v, x in self._read_all():
            pks.append(p)
            vids.extend(v)
            vecs.append(x)
        dim = self.index.dims[self.head]
        pk = np.concatenate(pks) if pks else np.zeros(0, np.int64)
        vec = np.concatenate(vecs) if vecs else np.zeros((0, dim), np.float32)
        order = np.argsort(pk, kind="stable")  # sorted, for pk lookups by searchsorted
        name = f"base-{started_ms}-{os.getpid()}"
        tmp = self.dir / f".{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        np.save(tmp / "pks.npy", pk[order])
        np.save(tmp / "videos.npy", np.asarray(vids, dtype=str)[order] if vids else np.zeros(0, dtype="<U1"))
        np.save(tmp / "vectors.npy", vec[order])
        meta = {"watermark_ms": started_ms - SKEW_MS, "rows": int(len(pk)),
                "checksums": {a: _digest(tmp / a) for a in ARRAYS}}
        (tmp / "meta.json").write_text(json.dumps(meta))
        os.replace(tmp, self.dir / name)
        link = self.dir / f".current-{os.getpid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(name)
        os.replace(link, self.dir / "current")  # the one atomic step
        self._load()
        self._remove_old_bases(keep=name)
        log.info("vector snapshot rebuilt", head=self.head, rows=len(pk), seconds=round(time.perf_counter() - t0, 2))

    def _remove_old_bases(self, keep: str) -> None:
        for p in self.dir.iterdir():
            if p.name != keep and p.name.startswith(("base-", ".base-")) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
        for legacy in (*ARRAYS, "meta.json"):  # the pre-directory layout
            (self.dir / legacy).unlink(missing_ok=True)

    def _load(self) -> bool:
        base = self.dir / "current"
        try:
            meta = json.loads((base / "meta.json").read_text())
            pks, vids = np.load(base / "pks.npy"), np.load(base / "videos.npy")
            vecs = np.load(base / "vectors.npy", mmap_mode="r")
            rows = int(meta["rows"])
            if not (len(pks) == len(vids) == len(vecs) == rows) or vecs.shape[1:] != (self.index.dims[self.head],):
                raise ValueError(f"lengths {len(pks)}/{len(vids)}/{len(vecs)} ≠ meta rows {rows}")
            bad = [a for a in ARRAYS if _digest(base / a) != meta["checksums"][a]]
            if bad:
                raise ValueError(f"checksum mismatch: {bad}")
        except (FileNotFoundError, NotADirectoryError, KeyError, ValueError, json.JSONDecodeError) as e:
            if (base / "meta.json").exists():
                log.warning("vector snapshot unusable: rebuilding", head=self.head, error=str(e))
            return False
        self._base = (pks, vids, vecs)
        self._dead = np.zeros(len(pks), dtype=bool)
        self._delta.clear()
        self._watermark = int(meta["watermark_ms"])
        return True

    def refresh(self) -> None:
        """Bring the snapshot up to date with the index (incrementally when possible)."""
        if self._base is None and not self._load():
            self.rebuild()
            return
        assert self._base is not None
        started_ms = int(time.time() * 1000)
        base_pks, base_vids = self._base[0], self._base[1]
        touched: set[str] = set()
        for pks, vids, vecs in self._read_all(SearchFilter(min_ingest_ms=self._watermark)):
            pos = np.searchsorted(base_pks, pks)
            hit = (pos < len(base_pks)) & (base_pks[np.minimum(pos, len(base_pks) - 1)] == pks) \
                if len(base_pks) else np.zeros(len(pks), dtype=bool)
            self._dead[pos[hit]] = True  # overwritten by a re-upload: the delta has the new vector
            for pk, vid, vec in zip(pks.tolist(), vids, vecs, strict=True):
                self._delta[pk] = (vid, np.array(vec, dtype=np.float32))
            touched.update(vids)
        # A re-upload with fewer shots trims the leftovers: mask base rows the index dropped.
        reuploaded = [v for v in touched if len(base_vids) and np.any(base_vids == v)]  # new videos: nothing to trim
        for vid in reuploaded:
            current = {r.pk for r in self.index.video_shots(vid)}
            rows = np.flatnonzero(base_vids == vid)
            gone = rows[~np.isin(base_pks[rows], np.fromiter(current, np.int64, len(current)))]
            self._dead[gone] = True
            for pk in [p for p, (v, _) in self._delta.items() if v == vid and p not in current]:
                del self._delta[pk]
        self._watermark = started_ms - SKEW_MS
        live = int((~self._dead).sum()) + len(self._delta)
        if len(self._delta) > self.compact_ratio * max(1, len(base_pks)) or self.index.count() < live:
            self.rebuild()

    # -- reading --------------------------------------------------------------------------
    def __len__(self) -> int:
        if self._base is None:
            return 0
        return int((~self._dead).sum()) + len(self._delta)

    def chunks(self, rows: int = 65_536) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
        """(pks, video ids, vectors) in chunks: the live base rows, then the delta."""
        assert self._base is not None, "refresh() first"
        pks, vids, vecs = self._base
        for start in range(0, len(pks), rows):
            keep = ~self._dead[start:start + rows]
            yield (pks[start:start + rows][keep], vids[start:start + rows][keep].tolist(),
                   np.asarray(vecs[start:start + rows])[keep])
        if self._delta:
            items = list(self._delta.items())
            for start in range(0, len(items), rows):
                part = items[start:start + rows]
                yield (np.fromiter((p for p, _ in part), np.int64, len(part)), [v for _, (v, _) in part],
                       np.stack([x for _, (_, x) in part]))
