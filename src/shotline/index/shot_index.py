"""The shot index: one Milvus collection per embedding model, one vector field per head.

Works against milvus-lite 2.5.1 (local stack) and Milvus 2.3+/2.4 servers; uses only what
both support: FLAT/IVF_FLAT (HNSW on servers), no partitions, text filter expressions.

Consistency: the collection's default is Bounded (searches never wait on recent writes);
every read that must see the caller's own writes (count, get, video_shots, iteration) asks
for Strong explicitly.

Re-upload replacement (the indexer, chunk by chunk: ``prepare`` → ``write`` → ``replace_video``): every row
is validated before anything is written, so bad input never costs the old version. The new
version's rows are then upserted *in place* (the primary key is hash(model, video, shot index),
not the version: new shot N overwrites old shot N in one write), and only then are the rows
left over from other versions (old shots beyond the new count, shots the new version skipped)
deleted. A concurrent search therefore sees, for every shot, its old row or its new row, and
never an empty video; during a multi-chunk re-upload it may see a mix of old and new shots of
that video. An empty new version removes the video. Deliveries of one video must stay ordered
(Kafka key = video_id), or an older version could replace a newer one.

Index choice: on a Milvus server use HNSW or IVF_FLAT (nlist ~ 4*sqrt(n), tune nprobe/ef).
On milvus-lite 2.5.1 index build parameters and nprobe are ignored: its segments are never
sealed and are searched through segcore's interim IVF index (fixed parameters; recall@10 at
200k ~0.94 for shot queries, ~0.84 for text prompts) unless the index type is FLAT, which is
exact brute force.

Query kinds: a text prompt's vector lies off the distribution of shot vectors the index was
built on (the modality gap), so it needs a wider search for the same recall: at 1M on HNSW
shots reach recall@10 0.99 at ef 64, text 0.95 only at ef ~1024 (README "Search recall for text
queries"). ``search(kind="text")`` uses ``text_search_params``, ``kind="shot"`` ``search_params``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, TypeVar

import grpc
import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import (
    DataNotMatchException,
    DataTypeNotMatchException,
    MilvusException,
    ParamError,
    PrimaryKeyException,
)

from shotline.errors import BadInput, TransientError
from shotline.index import filters as expr_
from shotline.index.columns import rows_without_vectors, vector_column
from shotline.index.model import Hit, SearchFilter, ShotRow, StoredShot, shot_pk

IndexType = Literal["FLAT", "IVF_FLAT", "HNSW", "AUTOINDEX"]
# What a query vector is: a stored shot's (or a clip's) embedding, in the distribution the index
# was built on, or a text prompt's, which sits elsewhere (the modality gap) and needs a wider
# search for the same recall (measured in bench.index / bench.index_server, README "Search recall for
# text queries").
QueryKind = Literal["shot", "text"]
QUERY_KINDS: tuple[QueryKind, ...] = ("shot", "text")

# pymilvus pings every 10 s even when idle; milvus-lite answers that with GOAWAY
# "too_many_pings" and the reconnect can fail. Ping rarely, and only during calls.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 120_000, "grpc.keepalive_permit_without_calls": False}
BATCH_ROWS = 2000  # larger insert batches collapse milvus-lite 2.5.1 to ~120 rows/s
BATCH_BYTES = 4 * 1024 * 1024  # so do requests over a few MB (2000 rows × 1664 floats ≈ 13 MB)
MAX_TOP_K = 16_384  # Milvus' limit on topk and on (offset + limit) of one query
# milvus-lite 2.5.1 returns vector columns in time superlinear in the rows per request
# (1,000 rows of 512-d: ~0.5 s; 5,000: >100 s), so vectors are fetched 256 rows a request
# (by primary key: ``get``, ``iterate_vectors``); a keyset page (``pk > last``) scans the whole
# collection, so it reads scalars only and in large pages.
VECTOR_PAGE_ROWS = 256
SCALAR_PAGE_ROWS = 16_000

_STR_LEN = {"video_id": 512, "catalog_id": 512, "keyframe_ref": 2048, "video_version": 256}
_INT_FIELDS = ("shot_index", "start_ms", "end_ms", "ingest_ms")
SCALAR_FIELDS = ("pk", "video_id", "catalog_id", "shot_index", "start_ms", "end_ms",
                 "keyframe_ref", "ingest_ms", "video_version")
_HIT_FIELDS = ["video_id", "catalog_id", "shot_index", "start_ms", "end_ms", "keyframe_ref"]

_DEFAULT_INDEX_PARAMS: dict[str, dict[str, Any]] = {
    "FLAT": {},
    "IVF_FLAT": {"nlist": 1024},
    "HNSW": {"M": 16, "efConstruction": 200},
    "AUTOINDEX": {},
}
_DEFAULT_SEARCH_PARAMS: dict[str, dict[str, Any]] = {
    "FLAT": {},
    "IVF_FLAT": {"nprobe": 32},
    "HNSW": {"ef": 128},
    "AUTOINDEX": {},
}
# Text queries: chosen on text-prompt recall@10 against exact search at 1M x 384 on a Milvus 2.3.5
# server (bench.index_server): HNSW ef 512 -> 0.948, 1024 -> 0.982 (p50 8 / 16 ms).
_DEFAULT_TEXT_SEARCH_PARAMS: dict[str, dict[str, Any]] = {
    "FLAT": {},
    "IVF_FLAT": {"nprobe": 128},
    "HNSW": {"ef": 1024},
    "AUTOINDEX": {},
}

T = TypeVar("T")
_BAD_REQUEST = (ParamError, DataNotMatchException, DataTypeNotMatchException, PrimaryKeyException)


def _milvus_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Maps client-side request errors to BadInput and everything else from Milvus to TransientError."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except _BAD_REQUEST as exc:
            raise BadInput("invalid_index_request", str(exc)) from exc
        except (MilvusException, grpc.RpcError, ConnectionError, TimeoutError) as exc:
            raise TransientError(f"milvus: {exc}") from exc

    return wrapper


def connect(uri: str, token: str, timeout: float, **options: Any) -> MilvusClient:
    """A Milvus client; an unreachable Milvus is a ``TransientError`` (shared infrastructure)."""
    try:
        return MilvusClient(uri=uri, token=token, timeout=timeout, **options)
    except Exception as exc:  # pymilvus raises bare MilvusException / grpc errors here
        raise TransientError(f"cannot connect to milvus at {uri}: {exc}") from exc


class ShotIndex:
    """Search core used by the indexer (writes), query (searches) and trainer (bulk reads)."""

    def __init__(
        self,
        uri: str,
        collection: str,
        dims: dict[str, int],
        index_type: IndexType = "IVF_FLAT",
        index_params: dict[str, Any] | None = None,
        metric: str = "IP",
        token: str | None = None,
        model_id: str | None = None,
        search_params: dict[str, Any] | None = None,
        scalar_indexes: bool = True,
        timeout: float = 30.0,
        text_search_params: dict[str, Any] | None = None,
    ):
        """``scalar_indexes`` adds INVERTED indexes on video_id/catalog_id (Milvus >= 2.4 and
        milvus-lite); pass False for a 2.3 server. ``model_id`` (default: the collection name)
        seeds the deterministic primary keys. ``search_params`` apply to shot queries,
        ``text_search_params`` (on top of them) to text queries (``search(kind="text")``)."""
        if not dims:
            raise ValueError("dims must name at least one head")
        for head, dim in dims.items():
            if not head.isidentifier() or not 0 < dim <= 32_768:
                raise ValueError(f"bad head {head!r} or dim {dim}")
        if index_type not in _DEFAULT_INDEX_PARAMS:
            raise ValueError(f"index_type must be one of {sorted(_DEFAULT_INDEX_PARAMS)}")
        self.uri = uri
        self.collection = collection
        self.dims = dict(dims)
        self.index_type = index_type
        self.index_params = {**_DEFAULT_INDEX_PARAMS[index_type], **(index_params or {})}
        self.search_params = {**_DEFAULT_SEARCH_PARAMS[index_type], **(search_params or {})}
        self.text_search_params = {**self.search_params, **_DEFAULT_TEXT_SEARCH_PARAMS[index_type],
                                   **(text_search_params or {})}
        self.metric = metric
        self.model_id = model_id or collection
        self.scalar_indexes = scalar_indexes
        self.timeout = timeout
        self._token = token or ""
        self._client: MilvusClient | None = None

    # -- connection ------------------------------------------------------------------------

    @property
    def client(self) -> MilvusClient:
        """Connected on first use, so constructing a ShotIndex never needs Milvus to be up."""
        if self._client is None:
            self._client = connect(self.uri, self._token, self.timeout, grpc_options=GRPC_OPTIONS)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _vec_field(self, head: str) -> str:
        if head not in self.dims:
            raise BadInput("unknown_head", f"head {head!r} is not one of {sorted(self.dims)}")
        return f"{head}_vec"

    # -- schema ----------------------------------------------------------------------------

    @_milvus_errors
    def ensure_collection(self) -> None:
        """Create (schema, indexes) and load the collection. Idempotent; safe under races."""
        c = self.client
        if not c.has_collection(self.collection, timeout=self.timeout):
            try:
                c.create_collection(
                    self.collection, schema=self._schema(), index_params=self._index_params(),
                    consistency_level="Bounded", timeout=self.timeout,
                )
            except MilvusException:
                if not c.has_collection(self.collection, timeout=self.timeout):
                    raise  # a real failure, not another process winning the race
        self._check_schema()
        existing = set(c.list_indexes(self.collection, timeout=self.timeout))
        missing = self._index_params(skip=existing)
        if len(missing):
            c.release_collection(self.collection, timeout=self.timeout)
            c.create_index(self.collection, missing, timeout=self.timeout)
        c.load_collection(self.collection, timeout=self.timeout)

    def _schema(self) -> Any:
        s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("pk", DataType.INT64, is_primary=True)
        for name, max_length in _STR_LEN.items():
            s.add_field(name, DataType.VARCHAR, max_length=max_length)
        for name in _INT_FIELDS:
            s.add_field(name, DataType.INT64)
        for head, dim in self.dims.items():
            s.add_field(f"{head}_vec", DataType.FLOAT_VECTOR, dim=dim)
        return s

    def _index_params(self, skip: set[str] | frozenset[str] = frozenset()) -> Any:
        ip = MilvusClient.prepare_index_params()
        for head in self.dims:
            field = f"{head}_vec"
            if field not in skip:
                ip.add_index(field, index_name=field, index_type=self.index_type,
                             metric_type=self.metric, params=dict(self.index_params))
        if self.scalar_indexes:
            for field in ("video_id", "catalog_id"):
                if field not in skip:
                    ip.add_index(field, index_name=field, index_type="INVERTED")
        return ip

    def _check_schema(self) -> None:
        desc = self.client.describe_collection(self.collection, timeout=self.timeout)
        found = {f["name"]: f.get("params", {}).get("dim") for f in desc["fields"]}
        for head, dim in self.dims.items():
            have = found.get(f"{head}_vec", "missing")
            if have is None or have == "missing" or int(have) != dim:
                raise BadInput("schema_mismatch",
                               f"{self.collection}: {head}_vec is {have}, expected dim {dim}")

    @_milvus_errors
    def drop(self) -> None:
        self.client.drop_collection(self.collection, timeout=self.timeout)

    # -- writes ----------------------------------------------------------------------------

    def pk_of(self, video_id: str, shot_index: int) -> int:
        return shot_pk(video_id, shot_index, self.model_id)

    def _entity(self, row: ShotRow) -> dict[str, Any]:
        if set(row.vectors) != set(self.dims):
            raise BadInput("bad_heads", f"row has heads {sorted(row.vectors)}, index has {sorted(self.dims)}")
        entity: dict[str, Any] = {
            "pk": self.pk_of(row.video_id, row.shot_index),
            "video_id": row.video_id, "catalog_id": row.catalog_id,
            "shot_index": int(row.shot_index), "start_ms": int(row.start_ms), "end_ms": int(row.end_ms),
            "keyframe_ref": row.keyframe_ref, "ingest_ms": int(row.ingest_ms),
            "video_version": row.video_version,
        }
        for name, max_length in _STR_LEN.items():
            if len(entity[name].encode("utf-8")) > max_length:
                raise BadInput("field_too_long", f"{name} longer than {max_length} bytes")
        for head, dim in self.dims.items():
            vec = np.asarray(row.vectors[head], dtype=np.float32).reshape(-1)
            if vec.shape != (dim,) or not np.all(np.isfinite(vec)):
                raise BadInput("bad_vector", f"{head} vector must be {dim} finite floats, got {vec.shape}")
            entity[f"{head}_vec"] = vec
        row.pk = entity["pk"]
        return entity

    def upsert(self, rows: Sequence[ShotRow]) -> int:
        """Insert or overwrite by primary key, in batches of at most ``BATCH_ROWS``."""
        return self._write(self.prepare(rows))  # all validated before any write

    def prepare(self, rows: Sequence[ShotRow]) -> list[dict[str, Any]]:
        """Validate rows (heads, dims, finite vectors, field lengths) into writable entities.
        Raises ``BadInput`` for the first bad row; writes nothing."""
        return [self._entity(r) for r in rows]

    def write(self, entities: list[dict[str, Any]]) -> int:
        """Upsert entities made by ``prepare``."""
        return self._write(entities)

    @_milvus_errors
    def _write(self, entities: list[dict[str, Any]]) -> int:
        step = max(1, min(BATCH_ROWS, BATCH_BYTES // (4 * sum(self.dims.values()))))
        for i in range(0, len(entities), step):
            self.client.upsert(self.collection, entities[i:i + step], timeout=self.timeout)
        return len(entities)

    @_milvus_errors
    def replace_video(self, video_id: str, keep_version: str) -> list[StoredShot]:
        """Delete the rows of ``video_id`` whose ``video_version`` is not ``keep_version``;
        returns them (scalars only) so the caller can tell who pointed at them."""
        expr = f"video_id == {expr_.quote(video_id)} and video_version != {expr_.quote(keep_version)}"
        res = self.client.query(self.collection, filter=expr, output_fields=list(SCALAR_FIELDS),
                                limit=MAX_TOP_K, consistency_level="Strong", timeout=self.timeout)
        stale = sorted(self._stored(res, ()), key=lambda s: s.shot_index)
        if stale:
            self.client.delete(self.collection, filter=expr, timeout=self.timeout)
        return stale

    @_milvus_errors
    def delete_video(self, video_id: str) -> None:
        self.client.delete(self.collection, filter=f"video_id == {expr_.quote(video_id)}",
                           timeout=self.timeout)

    # -- search ----------------------------------------------------------------------------

    @_milvus_errors
    def search(
        self,
        head: str,
        vectors: np.ndarray,
        top_k: int = 10,
        filters: SearchFilter | None = None,
        search_params: dict[str, Any] | None = None,
        consistency_level: str | None = None,
        kind: QueryKind = "shot",
    ) -> list[list[Hit]]:
        """Nearest shots by ``metric`` for each query row; score is the inner product (cosine).

        ``kind`` picks the search parameters (``params_for``); ``search_params`` override them."""
        field = self._vec_field(head)
        q = np.asarray(vectors, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.dims[head] or q.shape[0] == 0:
            raise BadInput("bad_query_vector", f"expected (n, {self.dims[head]}), got {np.shape(vectors)}")
        if not np.all(np.isfinite(q)):
            raise BadInput("bad_query_vector", "query vector has NaN or inf")
        if not 1 <= top_k <= MAX_TOP_K:
            raise BadInput("bad_top_k", f"top_k must be in 1..{MAX_TOP_K}, got {top_k}")
        params = {"metric_type": self.metric, "params": self.params_for(kind, top_k, search_params)}
        kwargs = {"consistency_level": consistency_level} if consistency_level else {}
        res = self.client.search(
            self.collection, data=list(q), anns_field=field, limit=top_k,
            filter=expr_.expression(filters), output_fields=_HIT_FIELDS,
            search_params=params, timeout=self.timeout, **kwargs,
        )
        return [[_hit(h) for h in hits] for hits in res]

    def params_for(self, kind: QueryKind, top_k: int = 10,
                   override: dict[str, Any] | None = None) -> dict[str, Any]:
        """Search parameters of one query kind: text queries get ``text_search_params``, shot
        queries ``search_params``; ``override`` wins. HNSW needs ``ef >= top_k`` (Milvus refuses
        a smaller one), so ef is raised to top_k; IVF's nprobe is capped at nlist."""
        if kind not in QUERY_KINDS:
            raise BadInput("bad_query_kind", f"kind must be one of {QUERY_KINDS}, got {kind!r}")
        params = {**(self.text_search_params if kind == "text" else self.search_params), **(override or {})}
        if self.index_type == "HNSW" and "ef" in params:
            params["ef"] = max(int(params["ef"]), int(top_k))
        if self.index_type == "IVF_FLAT" and "nprobe" in params and "nlist" in self.index_params:
            params["nprobe"] = max(1, min(int(params["nprobe"]), int(self.index_params["nlist"])))
        return params

    # -- reads -----------------------------------------------------------------------------

    @_milvus_errors
    def get(self, pks: Sequence[int], heads: Sequence[str] = ()) -> list[StoredShot]:
        """Rows by primary key (missing keys are skipped), with the vectors of ``heads``."""
        if not pks:
            return []
        fields = [self._vec_field(h) for h in heads]
        out: list[StoredShot] = []
        for i in range(0, len(pks), VECTOR_PAGE_ROWS if heads else SCALAR_PAGE_ROWS):
            chunk = [int(p) for p in pks[i:i + (VECTOR_PAGE_ROWS if heads else SCALAR_PAGE_ROWS)]]
            out.extend(self._stored(self._by_key(chunk, list(SCALAR_FIELDS) + fields), heads))
        order = {int(p): n for n, p in enumerate(pks)}
        return sorted(out, key=lambda s: order[s.pk])

    def _stored(self, res: Any, heads: Sequence[str]) -> list[StoredShot]:
        cols = {h: vector_column(res, f"{h}_vec", self.dims[h]) for h in heads}
        return [
            StoredShot(**{k: row[k] for k in SCALAR_FIELDS}, vectors={h: cols[h][n] for h in heads})
            for n, row in enumerate(rows_without_vectors(res))
        ]

    def _by_key(self, pks: list[int], fields: list[str]) -> Any:
        """The stored rows among ``pks`` with ``fields``, in one request."""
        try:
            return self.client.query(self.collection, filter=f"pk in {pks}", output_fields=fields,
                                     consistency_level="Strong", timeout=self.timeout)
        except MilvusException as exc:
            # milvus-lite refuses any vector read of an IVF/HNSW collection with no raw vector
            # chunk (empty, or emptied and reloaded: iterate_vectors says why); then none of these
            # keys is stored, which is an answer (nothing found), not an outage.
            if "raw data" in str(exc) and not self.client.query(
                    self.collection, filter=f"pk in {pks}", output_fields=["pk"],
                    consistency_level="Strong", timeout=self.timeout):
                return []
            raise

    def get_by_shot(self, video_id: str, shot_index: int, heads: Sequence[str] = ()) -> StoredShot | None:
        found = self.get([self.pk_of(video_id, shot_index)], heads)
        return found[0] if found else None

    @_milvus_errors
    def video_shots(self, video_id: str) -> list[StoredShot]:
        """Every stored shot of a video (scalars only), in shot order."""
        res = self.client.query(self.collection, filter=f"video_id == {expr_.quote(video_id)}",
                                output_fields=list(SCALAR_FIELDS), limit=MAX_TOP_K,
                                consistency_level="Strong", timeout=self.timeout)
        return sorted(self._stored(res, ()), key=lambda s: s.shot_index)

    @_milvus_errors
    def count(self, filters: SearchFilter | None = None) -> int:
        res = self.client.query(self.collection, filter=expr_.expression(filters),
                                output_fields=["count(*)"], consistency_level="Strong",
                                timeout=self.timeout)
        return int(res[0]["count(*)"])

    def _pages(self, fields: list[str], expr: str, page_rows: int) -> Iterator[Any]:
        """Pages of rows in ascending pk order (keyset paging on the INT64 primary key).

        Stateless, so unlike query_iterator it needs no server-side session, and memory is
        bounded by one page. Rows written during iteration may or may not be seen. ``fields``
        should be scalars: vectors are read by primary key (``iterate_vectors`` says why).
        """
        last = -1  # every pk is >= 0 (63-bit hash)
        while True:
            res = self.client.query(
                self.collection, filter=expr_.both(f"pk > {last}", expr), limit=page_rows,
                output_fields=["pk", *fields], consistency_level="Strong", timeout=self.timeout,
            )
            if len(res) == 0:
                return
            yield res
            last = max(int(r["pk"]) for r in rows_without_vectors(res))
            if len(res) < page_rows:
                return

    def iterate_vectors(
        self, head: str, batch_size: int = 10_000, filter: SearchFilter | None = None,  # noqa: A002
        page_rows: int = VECTOR_PAGE_ROWS,
    ) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
        """Stream (pks int64 (n,), video_ids, vectors float32 (n, d)) batches of ~``batch_size``.

        Memory stays bounded by one batch. Two reads per page: the primary keys (and video ids)
        of the next ``SCALAR_PAGE_ROWS`` rows in pk order, then their vectors by primary key,
        ``page_rows`` at a time. A vector output field is only ever asked for rows just seen,
        never of a keyset range that may be empty: on milvus-lite 2.5.1 any query that outputs
        a vector field of an IVF/HNSW-indexed collection whose (single, growing) segment holds
        no raw vector chunk fails with "Growing segment loss raw data" (segcore's
        ``SegmentGrowingImpl::HasRawData``: an interim-index field not yet indexed and with
        zero chunks), even when it matches no row: an empty collection, or one reloaded after
        its last row was deleted. Rows deleted between the two reads are skipped.
        """
        field = self._vec_field(head)
        if batch_size < 1 or page_rows < 1:
            raise BadInput("bad_batch_size", "batch_size and page_rows must be >= 1")
        return _guarded(self._iterate_vectors(head, field, batch_size, filter, page_rows))

    def _iterate_vectors(
        self, head: str, field: str, batch_size: int,
        filter: SearchFilter | None, page_rows: int,  # noqa: A002
    ) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
        dim = self.dims[head]
        pks: list[np.ndarray] = []
        vids: list[str] = []
        vecs: list[np.ndarray] = []
        pending = 0
        for res in self._pages(["video_id"], expr_.expression(filter), SCALAR_PAGE_ROWS):
            rows = rows_without_vectors(res)
            for i in range(0, len(rows), page_rows):
                chunk = rows[i:i + page_rows]
                found = self._vectors([int(r["pk"]) for r in chunk], field, dim)
                kept = [r for r in chunk if int(r["pk"]) in found]
                if not kept:
                    continue
                pks.append(np.fromiter((r["pk"] for r in kept), dtype=np.int64, count=len(kept)))
                vids.extend(r["video_id"] for r in kept)
                vecs.append(np.stack([found[int(r["pk"])] for r in kept]))
                pending += len(kept)
                if pending >= batch_size:
                    yield np.concatenate(pks), vids, np.concatenate(vecs)
                    pks, vids, vecs, pending = [], [], [], 0
        if pending:
            yield np.concatenate(pks), vids, np.concatenate(vecs)

    def _vectors(self, pks: list[int], field: str, dim: int) -> dict[int, np.ndarray]:
        """The ``field`` vectors of stored rows ``pks`` (at most a few hundred), by primary key."""
        res = self._by_key(pks, ["pk", field])
        col = vector_column(res, field, dim)
        return {int(r["pk"]): col[n] for n, r in enumerate(rows_without_vectors(res))}

    @_milvus_errors
    def list_videos(self) -> list[str]:
        """Distinct video ids (sorted), by paging through the video_id column."""
        seen: set[str] = set()
        for res in self._pages(["video_id"], "", SCALAR_PAGE_ROWS):
            seen.update(r["video_id"] for r in rows_without_vectors(res))
        return sorted(seen)


def _guarded(it: Iterator[T]) -> Iterator[T]:
    """Applies the Milvus error mapping to each step of a generator."""
    step = _milvus_errors(lambda: next(it, _END))
    while (item := step()) is not _END:
        yield item  # type: ignore[misc]


_END: Any = object()


def _hit(h: dict[str, Any]) -> Hit:
    e = h["entity"]
    score = float(h["distance"])
    return Hit(pk=int(h["id"]), video_id=e["video_id"], shot_index=int(e["shot_index"]),
               start_ms=int(e["start_ms"]), end_ms=int(e["end_ms"]), keyframe_ref=e["keyframe_ref"],
               score=score if math.isfinite(score) else float("-inf"), catalog_id=e["catalog_id"])
