"""What is said and shown in each shot, in Milvus, for keyword (BM25) search.

One collection (``shot_text`` by default) beside the vector collections, written only by the
transcriber: one row per shot, primary key ``"<video_id>/<shot_index>"`` (the shot id the API
uses), with the transcript, the on-screen text, their words with timecodes (JSON) and the same
scalar fields as the shot index (video_id, catalog_id, times, ingest_ms), so the search filters
apply unchanged. Milvus' own full-text search does the ranking: a BM25 function turns ``text``
into a sparse vector at insert and at query time (Milvus >= 2.5 and milvus-lite 2.5.1; an older
server cannot create the collection and ``ensure_collection`` says so).

Quoted phrases: milvus-lite 2.5.1 has no PHRASE_MATCH, so BM25 finds candidates by the phrase's
words and ``phrase_in`` keeps those whose transcript or on-screen text holds the words in order.

Re-uploads: rows are upserted in place (same shot id), and ``drop_beyond`` removes what an older
upload left beyond the new one's shots.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import regex
from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusException

from shotline.errors import BadInput, TransientError
from shotline.index import filters as expr_
from shotline.index.model import SearchFilter
from shotline.index.shot_index import connect

MAX_TEXT = 32_000          # VARCHAR bytes per text field (Milvus caps a VARCHAR at 65,535)
MAX_WORDS_JSON = 60_000
_TOKEN = regex.compile(r"[\p{L}\p{N}]+(?:['’][\p{L}]+)?")
_OUTPUT = ["video_id", "catalog_id", "shot_index", "start_ms", "end_ms", "keyframe_ref",
           "transcript", "on_screen", "words"]


def tokens(text: str) -> list[str]:
    """Lower-case word tokens, the unit of phrase matching and of the matched-word list."""
    return [t.casefold().replace("’", "'") for t in _TOKEN.findall(text)]


def phrase_in(phrase: Sequence[str], text_tokens: Sequence[str]) -> bool:
    n = len(phrase)
    if n == 0:
        return True
    return any(list(text_tokens[i:i + n]) == list(phrase) for i in range(len(text_tokens) - n + 1))


@dataclass(frozen=True)
class Word:
    word: str
    start_ms: int
    end_ms: int
    confidence: float
    source: str  # "speech" | "on_screen"


@dataclass
class ShotText:
    video_id: str
    shot_index: int
    start_ms: int
    end_ms: int
    catalog_id: str = ""
    keyframe_ref: str = ""
    video_version: str = ""
    ingest_ms: int = 0
    model: str = ""
    words: list[Word] = field(default_factory=list)

    def text_of(self, source: str) -> str:
        return " ".join(w.word for w in self.words if w.source == source)


@dataclass(frozen=True)
class TextHit:
    video_id: str
    shot_index: int
    start_ms: int
    end_ms: int
    keyframe_ref: str
    catalog_id: str
    score: float
    transcript: str
    on_screen: str
    words: list[Word]


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (on a character boundary)."""
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


class ShotTextIndex:
    def __init__(self, uri: str, collection: str = "shot_text", token: str | None = None, timeout: float = 30.0):
        self.uri = uri
        self.collection = collection
        self.timeout = timeout
        self._token = token or ""
        self._client: MilvusClient | None = None
        self._ready = False

    @property
    def client(self) -> MilvusClient:
        if self._client is None:
            self._client = connect(self.uri, self._token, self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def ready(self) -> bool:
        """Created and loaded by this process (``ensure_collection`` ran)."""
        return self._ready

    # -- schema ----------------------------------------------------------------------------
    def exists(self) -> bool:
        try:
            return bool(self.client.has_collection(self.collection, timeout=self.timeout))
        except MilvusException as exc:
            raise TransientError(f"milvus: {exc}") from exc

    def ensure_collection(self) -> None:
        """Create and load the collection (idempotent). Raises RuntimeError on a Milvus without
        full-text search (before 2.5): keyword search needs the BM25 function."""
        if self._ready:
            return
        c = self.client
        try:
            if not c.has_collection(self.collection, timeout=self.timeout):
                c.create_collection(self.collection, schema=self._schema(), index_params=self._index_params(),
                                    consistency_level="Bounded", timeout=self.timeout)
            c.load_collection(self.collection, timeout=self.timeout)
        except MilvusException as exc:
            if "function" in str(exc).lower() or "analyzer" in str(exc).lower() or "sparse" in str(exc).lower():
                raise RuntimeError(f"this Milvus has no full-text search (BM25, Milvus >= 2.5): {exc}") from exc
            raise TransientError(f"milvus: {exc}") from exc
        self._ready = True

    def _schema(self) -> Any:
        s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=1100)
        for name, length in (("video_id", 512), ("catalog_id", 512), ("keyframe_ref", 2048),
                             ("video_version", 256), ("model", 256)):
            s.add_field(name, DataType.VARCHAR, max_length=length)
        for name in ("shot_index", "start_ms", "end_ms", "ingest_ms"):
            s.add_field(name, DataType.INT64)
        # English analyzer: lower-case, stop words out, Snowball stems ("harbours" finds "harbour").
        s.add_field("text", DataType.VARCHAR, max_length=2 * MAX_TEXT + 1, enable_analyzer=True,
                    analyzer_params={"type": "english"})
        s.add_field("transcript", DataType.VARCHAR, max_length=MAX_TEXT)
        s.add_field("on_screen", DataType.VARCHAR, max_length=MAX_TEXT)
        s.add_field("words", DataType.JSON)
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                input_field_names=["text"], output_field_names=["sparse"]))
        return s

    def _index_params(self) -> Any:
        p = MilvusClient.prepare_index_params()
        p.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        p.add_index(field_name="video_id", index_type="INVERTED")
        return p

    # -- writes ----------------------------------------------------------------------------
    @staticmethod
    def pk(video_id: str, shot_index: int) -> str:
        return f"{video_id}/{shot_index}"

    def upsert(self, rows: Sequence[ShotText]) -> int:
        if not rows:
            return 0
        self.ensure_collection()
        entities = []
        for r in rows:
            transcript, on_screen = clip(r.text_of("speech"), MAX_TEXT), clip(r.text_of("on_screen"), MAX_TEXT)
            words = [{"w": w.word, "s": int(w.start_ms), "e": int(w.end_ms), "c": round(float(w.confidence), 3),
                      "src": w.source} for w in r.words]
            while words and len(json.dumps(words)) > MAX_WORDS_JSON:
                words = words[: len(words) * 3 // 4]
            entities.append({
                "pk": self.pk(r.video_id, r.shot_index), "video_id": r.video_id, "catalog_id": r.catalog_id,
                "keyframe_ref": r.keyframe_ref, "video_version": r.video_version, "model": r.model,
                "shot_index": int(r.shot_index), "start_ms": int(r.start_ms), "end_ms": int(r.end_ms),
                "ingest_ms": int(r.ingest_ms), "text": f"{transcript}\n{on_screen}", "transcript": transcript,
                "on_screen": on_screen, "words": words,
            })
        try:
            self.client.upsert(self.collection, entities, timeout=self.timeout)
        except MilvusException as exc:
            raise TransientError(f"milvus upsert: {exc}") from exc
        return len(entities)

    def drop_beyond(self, video_id: str, total_shots: int) -> None:
        """Delete the rows an older upload of ``video_id`` left at shot indexes >= ``total_shots``."""
        self.ensure_collection()
        expr = f"video_id == {expr_.quote(video_id)} and shot_index >= {int(total_shots)}"
        try:
            self.client.delete(self.collection, filter=expr, timeout=self.timeout)
        except MilvusException as exc:
            raise TransientError(f"milvus delete: {exc}") from exc

    # -- reads -----------------------------------------------------------------------------
    def search(self, query: str, top_k: int, filters: SearchFilter | None = None) -> list[TextHit]:
        """Shots ranked by BM25 of ``query`` against their transcript + on-screen text."""
        if not tokens(query):
            return []
        if not 1 <= top_k <= 16_384:
            raise BadInput("bad_top_k", f"top_k must be in 1..16384, got {top_k}")
        try:
            res = self.client.search(self.collection, data=[query], anns_field="sparse", limit=top_k,
                                     filter=expr_.expression(filters), output_fields=_OUTPUT,
                                     search_params={"metric_type": "BM25"}, timeout=self.timeout)
        except MilvusException as exc:
            raise TransientError(f"milvus text search: {exc}") from exc
        return [_hit(h["entity"], float(h["distance"])) for h in res[0]]

    def get(self, shot_ids: Sequence[tuple[str, int]]) -> dict[tuple[str, int], TextHit]:
        """Stored text of these shots (missing ones are left out)."""
        if not shot_ids:
            return {}
        pks = [self.pk(v, i) for v, i in shot_ids]
        try:
            res = self.client.query(self.collection, filter=f"pk in [{', '.join(expr_.quote(p) for p in pks)}]",
                                    output_fields=_OUTPUT, timeout=self.timeout)
        except MilvusException as exc:
            raise TransientError(f"milvus text query: {exc}") from exc
        out = {}
        for row in res:
            h = _hit(row, 0.0)
            out[(h.video_id, h.shot_index)] = h
        return out

    def video(self, video_id: str, upload_id: str) -> list[TextHit]:
        """Every stored row of this upload of ``video_id``, in shot order, read with Strong
        consistency (rows just written by this process included)."""
        self.ensure_collection()
        expr = f"video_id == {expr_.quote(video_id)} and video_version == {expr_.quote(upload_id)}"
        try:
            res = self.client.query(self.collection, filter=expr, output_fields=_OUTPUT, limit=16_384,
                                    consistency_level="Strong", timeout=self.timeout)
        except MilvusException as exc:
            raise TransientError(f"milvus text query: {exc}") from exc
        return sorted((_hit(row, 0.0) for row in res), key=lambda h: h.shot_index)


def _hit(e: dict[str, Any], score: float) -> TextHit:
    words = [Word(w.get("w", ""), int(w.get("s", 0)), int(w.get("e", 0)), float(w.get("c", 0.0)),
                  w.get("src", "speech")) for w in (e.get("words") or [])]
    return TextHit(video_id=e["video_id"], shot_index=int(e["shot_index"]), start_ms=int(e["start_ms"]),
                   end_ms=int(e["end_ms"]), keyframe_ref=e.get("keyframe_ref", ""), catalog_id=e.get("catalog_id", ""),
                   score=score, transcript=e.get("transcript", ""), on_screen=e.get("on_screen", ""), words=words)
