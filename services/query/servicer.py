"""QueryService: search, categories, classifiers, feeds and labels.

Reads the shot index (Milvus) and the trainer's read model (Redis); publishes label events
to Kafka; takes uploads (client-streamed bytes → blob store → videos.uploaded, see uploads.py).
Every request is validated up front: INVALID_ARGUMENT / NOT_FOUND with a message that says
what to fix. Deadlines: the remaining time of the caller's deadline bounds the
encoder call.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from collections import OrderedDict
from collections.abc import Sequence

import grpc
import numpy as np

from services.query.categories_cache import CategoriesCache
from services.query.recall_probe import RecallProbe
from services.query.uploads import Uploads
from services.query.validation import (
    MAX_CLIP_BYTES,
    check_feed_size,
    check_label_name,
    check_label_texts,
    check_query,
    check_top_k,
    check_video_id,
    check_video_ids,
    to_filter,
)
from shotline import topics
from shotline.auth import Authenticator
from shotline.blobstore import BlobStore
from shotline.encoder_client import EncoderClient, vectors
from shotline.errors import BadInput
from shotline.events import new_meta, parse_shot_id, shot_id
from shotline.grpcserver import NotFound, guard_all, guarded, register, servicer_handlers
from shotline.index import Hit, SearchFilter, ShotIndex
from shotline.index.hybrid import Fused, ParsedQuery, fuse, holds_phrases, matched_words, parse_query
from shotline.index.text_index import ShotTextIndex, TextHit
from shotline.learning.metrics import platt_probability
from shotline.registry import FEED_KINDS, Registry
from shotline.settings import Settings
from shotline.v1 import common_pb2, events_pb2, query_pb2, query_pb2_grpc

_FEED_BY_ENUM = {query_pb2.FEED_KIND_TOP_POSITIVE: "top_positive", query_pb2.FEED_KIND_TOP_NEGATIVE: "top_negative",
                 query_pb2.FEED_KIND_BORDERLINE: "borderline", query_pb2.FEED_KIND_RANDOM: "random"}
_VALUE_NAME = {events_pb2.LABEL_VALUE_POSITIVE: "positive", events_pb2.LABEL_VALUE_NEGATIVE: "negative"}
MAX_LABELS_PER_CALL = 10_000
TEXT_CACHE_SIZE = 4096


def _remaining(context: grpc.ServicerContext, default: float = 10.0) -> float:
    left = context.time_remaining()
    return default if left is None else max(0.05, min(default, left))


def _shot(h: Hit) -> common_pb2.Shot:
    return common_pb2.Shot(shot_id=shot_id(h.video_id, h.shot_index), video_id=h.video_id, index=h.shot_index,
                           start_ms=h.start_ms, end_ms=h.end_ms,
                           keyframe_refs=[h.keyframe_ref] if h.keyframe_ref else [])


def _response(hits: list[Hit], group: bool, model: common_pb2.ModelRef, head: str) -> query_pb2.SearchResponse:
    return _grouped([query_pb2.ShotHit(shot=_shot(h), score=h.score) for h in hits], group, model, head)


def _grouped(shot_hits: list[query_pb2.ShotHit], group: bool, model: common_pb2.ModelRef,
             head: str) -> query_pb2.SearchResponse:
    videos: OrderedDict[str, query_pb2.VideoHit] = OrderedDict()
    if group:
        for sh in shot_hits:  # hits are best-first, so a video's first hit is its best
            v = videos.setdefault(sh.shot.video_id, query_pb2.VideoHit(video_id=sh.shot.video_id, score=sh.score))
            v.shots.append(sh)
    return query_pb2.SearchResponse(hits=shot_hits, videos=list(videos.values()), model=model, head=head)


def _text_shot(t: TextHit) -> common_pb2.Shot:
    return common_pb2.Shot(shot_id=shot_id(t.video_id, t.shot_index), video_id=t.video_id, index=t.shot_index,
                           start_ms=t.start_ms, end_ms=t.end_ms, keyframe_refs=[t.keyframe_ref] if t.keyframe_ref else [])


def _words(words) -> list[common_pb2.TextWord]:  # type: ignore[no-untyped-def]
    return [common_pb2.TextWord(word=w.word, start_ms=w.start_ms, end_ms=w.end_ms, confidence=w.confidence,
                                source=w.source) for w in words]


_MODES = {query_pb2.SEARCH_MODE_UNSPECIFIED: query_pb2.SEARCH_MODE_HYBRID, query_pb2.SEARCH_MODE_HYBRID:
          query_pb2.SEARCH_MODE_HYBRID, query_pb2.SEARCH_MODE_VECTOR: query_pb2.SEARCH_MODE_VECTOR,
          query_pb2.SEARCH_MODE_KEYWORD: query_pb2.SEARCH_MODE_KEYWORD}
TEXT_INDEX_RECHECK_SECONDS = 30.0  # a text index created after start (first transcript) is found this soon


# shotline.auth: the permission each method needs (a method missing here is refused).
QUERY_PERMISSIONS = {
    "SearchText": "read", "SearchSimilar": "read", "GetVideoCategories": "read", "BatchGetVideoCategories": "read",
    "ScoreShots": "read", "GetFeed": "read", "ListAnnotations": "read", "ListClassifiers": "read",
    "GetClassifier": "read", "SubmitLabels": "label", "LabelVideoCategories": "label",
    "DeployClassifier": "admin", "UploadVideo": "upload",
}


@guard_all("query")
class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    # Set by main.py: unfiltered searches hand their query vector to the recall probe.
    recall_probe: RecallProbe | None = None

    def __init__(self, settings: Settings, index: ShotIndex, model: common_pb2.ModelRef,
                 encoder: EncoderClient, registry: Registry, producer,  # type: ignore[no-untyped-def]
                 blobs: BlobStore | None = None, max_upload_bytes: int = 2 * 1024**3,
                 categories_cache_ttl_seconds: float = 0.0, auth: Authenticator | None = None,
                 text_index: ShotTextIndex | None = None):
        self.settings = settings
        self.text_index = text_index
        self._words_pool = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="bm25")
        self._text_index_seen = 0.0  # monotonic time the text collection was last found missing
        self.auth = auth
        self.uploads = Uploads(settings, blobs, producer, max_upload_bytes) if blobs is not None else None
        self.index = index
        self.model = model
        self.encoder = encoder
        self.registry = registry
        self.producer = producer
        self.similar_head = "visual" if "visual" in index.dims else "joint"
        # (label, version) → (w, b, head, Platt (a, c) or None, probability threshold or NaN)
        self._models: dict[tuple[str, int], tuple[np.ndarray, float, str, tuple[float, float] | None, float]] = {}
        self._lock = threading.Lock()
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        # GetVideoCategories' read-model cache (categories_cache.py); None: every call reads Redis.
        self.categories_cache: CategoriesCache | None = (
            CategoriesCache(self._build_read_models, ttl_seconds=categories_cache_ttl_seconds)
            if categories_cache_ttl_seconds > 0 else None)

    def _annotator(self, claimed: str, context: grpc.ServicerContext) -> str:
        """Who labelled: the authenticated identity (the interceptor already let it in); the
        request's free-text field only when the API runs without auth (a local stack)."""
        if self.auth is None:
            return claimed
        identity = self.auth.identify(context.invocation_metadata())
        return identity.name if identity is not None else claimed

    # -- uploads --------------------------------------------------------------------------
    def UploadVideo(self, request_iterator, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]  # noqa: N802
        if self.uploads is None:
            raise BadInput("uploads_disabled", "this query server has no blob store for uploads")
        return self.uploads.receive(request_iterator, timeout=_remaining(context, 30))

    # -- search ---------------------------------------------------------------------------
    def SearchText(self, request: query_pb2.SearchTextRequest, context: grpc.ServicerContext):  # noqa: N802
        query = check_query(request.query)
        top_k = check_top_k(request.top_k)
        filters = to_filter(request.filters)
        parsed = parse_query(query)
        mode, note = self._mode(request.mode, parsed)
        if mode == query_pb2.SEARCH_MODE_VECTOR:
            fused = Fused.of_vector(self._vector_hits(parsed.text or query, top_k, filters, context))
        else:
            assert self.text_index is not None
            # Phrases are checked after BM25 (no PHRASE_MATCH in milvus-lite 2.5.1): look deeper.
            depth = min(1000, max(top_k * (10 if parsed.phrases else 3), 100))
            # BM25 runs in Milvus while this thread encodes the prompt and runs the vector search
            words = self._words_pool.submit(self.text_index.search, " ".join(parsed.words), depth, filters)
            if mode == query_pb2.SEARCH_MODE_KEYWORD:
                texts = words.result()
                if parsed.phrases:
                    texts = [t for t in texts if holds_phrases(t, parsed.phrases)]
                fused = [Fused(t.video_id, t.shot_index, t.score, text=t) for t in texts[:top_k]]
            else:
                vhits = self._vector_hits(parsed.text, min(1000, max(top_k, 100)), filters, context)
                texts = words.result()
                if texts:
                    fused = fuse(vhits, texts, parsed.phrases, top_k)
                else:  # nothing says or shows these words: the embedding's ranking, with its cosines
                    mode, note = query_pb2.SEARCH_MODE_VECTOR, "no shot says or shows these words: vector search only"
                    fused = Fused.of_vector(vhits[:top_k])
        hits_out = self._with_words(fused, parsed.words if mode != query_pb2.SEARCH_MODE_VECTOR else [])
        resp = _grouped(hits_out, request.group_by_video, self.model, "joint")
        resp.mode, resp.note = mode, note
        return resp

    def _mode(self, asked: int, parsed: ParsedQuery) -> tuple[int, str]:
        """The mode that runs, and why when it is not the one asked for (hybrid without a text index
        or without words to match runs as vector search; keyword search without one is refused)."""
        mode = _MODES.get(asked)
        if mode is None:
            raise BadInput("bad_mode", f"mode must be one of {sorted(query_pb2.SearchMode.keys())}, got {asked}")
        if mode == query_pb2.SEARCH_MODE_VECTOR:
            return mode, ""
        if not self._has_text_index():
            if mode == query_pb2.SEARCH_MODE_KEYWORD:
                raise BadInput("no_text_index", "keyword search needs the transcriber's text index (Milvus >= 2.5 "
                                                "full-text search): none exists yet; use mode VECTOR")
            return query_pb2.SEARCH_MODE_VECTOR, "no text index yet (transcriber): vector search only"
        if mode == query_pb2.SEARCH_MODE_HYBRID and not parsed.words:
            return query_pb2.SEARCH_MODE_VECTOR, "no words to match: vector search only"
        return mode, ""

    def _vector_hits(self, text: str, top_k: int, filters: SearchFilter | None,
                     context: grpc.ServicerContext) -> list[Hit]:
        vec = self._text_vector(text, context)
        hits = self.index.search("joint", vec, top_k, filters,  # text: its own search params (modality gap)
                                 consistency_level=self.settings.search_consistency, kind="text")[0]
        if self.recall_probe is not None and filters is None:  # sampled for the recall gauge
            self.recall_probe.record("text", vec)
        return hits

    def _has_text_index(self) -> bool:
        """Whether keyword search can run; a missing collection is re-checked every 30 s."""
        if self.text_index is None:
            return False
        if self.text_index.ready:
            return True
        now = time.monotonic()
        if now - self._text_index_seen < TEXT_INDEX_RECHECK_SECONDS and self._text_index_seen:
            return False
        if self.text_index.exists():
            self.text_index.ensure_collection()
            return True
        self._text_index_seen = now
        return False

    def _with_words(self, fused: list[Fused], query_words: list[str]) -> list[query_pb2.ShotHit]:
        """Hits with what is said and shown in each shot, and which of the query's words matched."""
        texts: dict[tuple[str, int], TextHit] = {}
        missing = [(f.video_id, f.shot_index) for f in fused if f.text is None]
        if missing and self._has_text_index():
            assert self.text_index is not None
            texts = self.text_index.get(missing)
        out = []
        for f in fused:
            t = f.text or texts.get((f.video_id, f.shot_index))
            shot = _shot(f.vector) if f.vector is not None else _text_shot(f.text)  # type: ignore[arg-type]
            hit = query_pb2.ShotHit(shot=shot, score=f.score)
            if f.vector is not None:
                hit.signals.append("vector")
            if t is not None:
                hit.transcript, hit.on_screen_text = t.transcript, t.on_screen
                found = matched_words(t.words, query_words) if query_words else []
                hit.matches.extend(_words(found))
                hit.signals.extend(src for src in ("speech", "on_screen") if any(w.source == src for w in found))
            out.append(hit)
        return out

    def _text_vector(self, query: str, context: grpc.ServicerContext) -> np.ndarray:
        """Popular prompts repeat (ad tools, dashboards): an LRU spares the encoder round trip."""
        with self._lock:
            vec = self._text_cache.get(query)
            if vec is not None:
                self._text_cache.move_to_end(query)
                return vec
        vec = self.encoder.encode_text([query], timeout=_remaining(context))[0]
        with self._lock:
            self._text_cache[query] = vec
            if len(self._text_cache) > TEXT_CACHE_SIZE:
                self._text_cache.popitem(last=False)
        return vec

    def SearchSimilar(self, request: query_pb2.SearchSimilarRequest, context: grpc.ServicerContext):  # noqa: N802
        top_k = check_top_k(request.top_k)
        filters = to_filter(request.filters)
        head = self.similar_head
        which = request.WhichOneof("source")
        if which == "shot_id":
            video_id, idx = parse_shot_id(request.shot_id)
            row = self.index.get_by_shot(video_id, idx, heads=[head])
            if row is None:
                raise NotFound(f"shot {request.shot_id} is not in the index")
            vec = row.vectors[head]
        elif which == "clip":
            if len(request.clip) > MAX_CLIP_BYTES:
                raise BadInput("clip_too_large", f"clip is {len(request.clip)} bytes; the limit is {MAX_CLIP_BYTES}")
            vec = self._clip_vector(self.encoder.encode_clip(clip=request.clip, timeout=_remaining(context, 60)), head)
        elif which == "video":
            if not request.video.uri:
                raise BadInput("bad_request", "video.uri is required")
            if request.video.end_ms and request.video.end_ms <= request.video.start_ms:
                raise BadInput("bad_range", "video.end_ms must be greater than video.start_ms")
            shots = self.encoder.encode_clip(uri=request.video.uri, start_ms=request.video.start_ms,
                                             end_ms=request.video.end_ms, timeout=_remaining(context, 120))
            vec = self._clip_vector(shots, head)
        else:
            raise BadInput("bad_request", "give one of shot_id, clip or video")
        hits = self.index.search(head, vec, top_k, filters, consistency_level=self.settings.search_consistency,
                                 kind="shot")[0]
        if self.recall_probe is not None and filters is None:
            self.recall_probe.record("shot", vec)
        return _response(hits, request.group_by_video, self.model, head)

    @staticmethod
    def _clip_vector(shots: list[events_pb2.ShotEmbedding], head: str) -> np.ndarray:
        if not shots:
            raise BadInput("empty_clip", "the clip yielded no shots")
        v = np.mean([vectors(s)[head] for s in shots], axis=0)
        return v / (np.linalg.norm(v) or 1.0)

    # -- ad-serving -----------------------------------------------------------------------
    def GetVideoCategories(self, request: query_pb2.GetVideoCategoriesRequest, context: grpc.ServicerContext):  # noqa: N802
        return self._categories(check_video_id(request.video_id))[0]

    def BatchGetVideoCategories(self, request: query_pb2.BatchGetVideoCategoriesRequest,  # noqa: N802
                                context: grpc.ServicerContext):
        ids = check_video_ids(request.video_ids)
        resp = query_pb2.BatchGetVideoCategoriesResponse()
        for vid in ids:
            built = self._read_model(vid)
            if built is None:
                resp.not_found.append(vid)
            else:
                resp.videos.append(built[0])
        return resp

    def _categories(self, video_id: str) -> tuple[query_pb2.VideoCategories, bytes]:
        built = self._read_model(video_id)
        if built is None:
            raise NotFound(f"video {video_id} has not been classified")
        return built

    def _read_model(self, video_id: str) -> tuple[query_pb2.VideoCategories, bytes] | None:
        cache = self.categories_cache
        return cache.get(video_id) if cache is not None else self._build_categories(video_id)

    def _build_categories(self, video_id: str) -> tuple[query_pb2.VideoCategories, bytes] | None:
        """The read model as served (message and bytes), None for an unclassified video."""
        return self._build_read_models((video_id,))[0]

    def _build_read_models(self, video_ids: Sequence[str]) -> list[tuple[query_pb2.VideoCategories, bytes] | None]:
        """`_build_categories` for several videos, one Redis round trip; what the categories cache loads."""
        out: list[tuple[query_pb2.VideoCategories, bytes] | None] = []
        for video_id, (doc, classifiers) in zip(video_ids, self.registry.video_read_models(video_ids), strict=True):
            if doc is None and not classifiers:
                out.append(None)
                continue
            doc = doc or {}
            msg = query_pb2.VideoCategories(
                video_id=video_id,
                categories=[common_pb2.CategoryScore(**c) for c in doc.get("categories", [])],
                taxonomy_version=doc.get("taxonomy_version", ""),
                model_versions=doc.get("model_versions", {}),
                classified_at_ms=int(doc.get("classified_at_ms", 0)),
                classifiers=[self._classifier_score(k, v) for k, v in sorted(classifiers.items())],
                text_sources=doc.get("text_sources", []),
            )
            out.append((msg, msg.SerializeToString()))
        return out

    # -- classifiers ----------------------------------------------------------------------
    def _known(self, label: str) -> str:
        check_label_name(label)
        if not self.registry.exists(label):
            raise NotFound(f"unknown label {label!r}")
        return label

    def _weights(self, label: str, version: int) -> tuple[np.ndarray, float, str, tuple[float, float] | None, float]:
        key = (label, version)
        with self._lock:
            if key not in self._models:
                import io
                import json

                blob = self.registry.model_blob(label, version)
                if blob is None:
                    raise NotFound(f"{label} has no version {version}")
                with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                    doc = json.loads(z["meta"].tobytes())
                    meta, platt = doc["version"], doc["model"].get("platt")  # no "platt": not calibrated
                    self._models[key] = (z["w"].astype(np.float32), float(z["b"]), meta["head"],
                                         (float(platt[0]), float(platt[1])) if platt else None,
                                         _nan(meta.get("threshold")) if platt else float("nan"))
            return self._models[key]

    def _classifier_score(self, label: str, v: dict) -> query_pb2.ClassifierScore:  # type: ignore[type-arg]
        """A video's stored classifier entry; no stored probability (uncalibrated version, or written
        by a path that stores none) reads as NaN and not positive."""
        version, p = int(v["version"]), v.get("probability")
        positive = False
        if p is not None:
            try:
                positive = bool(p >= self._weights(label, version)[4])  # NaN threshold: never positive
            except NotFound:  # the version's blob is gone: no threshold to compare with
                positive = False
        return query_pb2.ClassifierScore(label=label, version=version, score=float(v["score"]),
                                         probability=_nan(p), positive=positive)

    def ScoreShots(self, request: query_pb2.ScoreShotsRequest, context: grpc.ServicerContext):  # noqa: N802
        label = self._known(request.label)
        if not request.shot_ids:
            raise BadInput("bad_request", "shot_ids must not be empty")
        if len(request.shot_ids) > 10_000:
            raise BadInput("too_many", "at most 10000 shot ids per call")
        version = self.registry.deployed(label)
        if not version:
            raise NotFound(f"label {label!r} has no deployed classifier yet")
        w, b, head, platt, threshold = self._weights(label, version)
        pks = {self.index.pk_of(*parse_shot_id(s)): s for s in request.shot_ids}
        rows = self.index.get(list(pks), heads=[head])
        missing = set(pks) - {r.pk for r in rows}
        if missing:
            raise NotFound("unknown shots: " + ", ".join(sorted(pks[m] for m in missing))[:500])
        scores = {shot_id(r.video_id, r.shot_index): float(r.vectors[head] @ w + b) for r in rows}
        probabilities = {} if platt is None else dict(zip(
            scores, platt_probability(np.fromiter(scores.values(), float, len(scores)), platt).tolist(), strict=True))
        return query_pb2.ScoreShotsResponse(label=label, version=version, scores=scores,
                                            probabilities=probabilities, threshold=threshold)

    def GetFeed(self, request: query_pb2.GetFeedRequest, context: grpc.ServicerContext):  # noqa: N802
        label = self._known(request.label)
        kind = _FEED_BY_ENUM.get(request.kind)
        if kind is None:
            raise BadInput("bad_feed_kind", f"kind must be one of {', '.join(k.upper() for k in FEED_KINDS)}")
        n = check_feed_size(request.n)
        items = self.registry.feed(label, kind)[:n]
        return query_pb2.FeedResponse(label=label, version=self.registry.deployed(label), kind=request.kind, shots=[
            query_pb2.ShotHit(score=it["score"], shot=common_pb2.Shot(
                shot_id=it["shot_id"], video_id=it["video_id"], index=it["shot_index"], start_ms=it["start_ms"],
                end_ms=it["end_ms"], keyframe_refs=[it["keyframe_ref"]] if it.get("keyframe_ref") else []))
            for it in items
        ])

    def SubmitLabels(self, request: query_pb2.SubmitLabelsRequest, context: grpc.ServicerContext):  # noqa: N802
        label = check_label_name(request.label)
        if not request.labels and not request.description.strip():
            raise BadInput("bad_request", "give labels, a description, or both")
        if len(request.labels) > MAX_LABELS_PER_CALL:
            raise BadInput("too_many", f"at most {MAX_LABELS_PER_CALL} labels per call")
        check_label_texts(request.annotator, request.description)
        for item in request.labels:
            parse_shot_id(item.shot_id)
            if item.value == events_pb2.LABEL_VALUE_UNSPECIFIED:
                raise BadInput("bad_label_value", f"label for {item.shot_id} has no value")
        ev = events_pb2.LabelSubmitted(meta=new_meta("", "query"), label=label, labels=request.labels,
                                       annotator=self._annotator(request.annotator, context),
                                       description=request.description)
        # Returns once the broker has the event (acks=all); training happens asynchronously.
        self.producer.send(self.settings.topic(topics.LABELS_SUBMITTED), key=label.encode(),
                           value=ev.SerializeToString()).get(timeout=_remaining(context))
        return query_pb2.SubmitLabelsResponse(event_id=ev.meta.event_id, accepted=len(request.labels))

    def LabelVideoCategories(self, request: query_pb2.LabelVideoCategoriesRequest, context: grpc.ServicerContext):  # noqa: N802
        """People's taxonomy labels of one video → ``categories.labels`` (keyed by video id); the
        trainer stores them (latest wins), retrains the category model and re-classifies the video."""
        from shotline.categories import human
        from shotline.events import validate_video_id

        tax = human.cached_taxonomy(str(p) if (p := getattr(self.settings, "taxonomy_path", None)) else None)
        human.check_request(tax, request.video_id, [(lb.category_id, int(lb.value)) for lb in request.labels],
                            request.annotator)
        video_id = validate_video_id(request.video_id)
        if (self.registry.video_categories(video_id) is None and not self.registry.video_text(video_id)
                and not self.index.video_shots(video_id)):
            raise NotFound(f"video {video_id} is unknown (neither classified nor indexed)")
        items = list({lb.category_id: lb for lb in request.labels}.values())  # exact duplicates once
        ev = events_pb2.CategoryLabelsSubmitted(
            meta=new_meta(video_id, "query"), annotator=self._annotator(request.annotator, context),
            labels=[events_pb2.VideoCategoryLabel(category_id=lb.category_id, value=lb.value) for lb in items])
        # Returns once the broker has the event (acks=all); training happens asynchronously.
        self.producer.send(self.settings.topic(topics.CATEGORY_LABELS), key=video_id.encode(),
                           value=ev.SerializeToString()).get(timeout=_remaining(context))
        return query_pb2.LabelVideoCategoriesResponse(event_id=ev.meta.event_id, accepted=len(items))

    def ListAnnotations(self, request: query_pb2.ListAnnotationsRequest, context: grpc.ServicerContext):  # noqa: N802
        label = self._known(request.label)

        def ann(a, **detached) -> query_pb2.Annotation:  # type: ignore[no-untyped-def]
            return query_pb2.Annotation(
                shot_id=a.shot_id, annotator=a.annotator, labelled_at_ms=a.ts_ms,
                value=events_pb2.LABEL_VALUE_POSITIVE if a.positive else events_pb2.LABEL_VALUE_NEGATIVE, **detached)

        live = [ann(a) for a in self.registry.annotations(label)]
        replaced = [ann(d.annotation, detached=True, detached_upload_id=d.old_upload_id,
                        replaced_by_upload_id=d.new_upload_id, detached_at_ms=d.detached_ms)
                    for d in self.registry.detached_annotations(label)]
        return query_pb2.ListAnnotationsResponse(label=label, annotations=live + replaced)

    def _classifier(self, label: str) -> query_pb2.Classifier:
        anns = self.registry.annotations(label)
        versions = []
        for v, m in sorted(self.registry.versions(label).items()):
            ci = m.get("ap_ci") or (float("nan"), float("nan"))
            versions.append(query_pb2.ClassifierVersion(
                version=v, kind=m["kind"], ap=m["ap"] if m.get("ap") is not None else float("nan"),
                ap_low=ci[0], ap_high=ci[1], positives=m.get("n_pos", 0), negatives=m.get("n_neg", 0),
                embedding_model=m.get("embedding_model", ""), head=m.get("head", ""),
                trained_at_ms=int(m.get("trained_at", 0) * 1000), train_seconds=m.get("train_seconds", 0.0),
                ap_trained=_nan(m.get("ap_trained")), ap_zero_shot=_nan(m.get("ap_zero_shot")),
                ap_combined=_nan(m.get("ap_combined")), chosen_because=m.get("chosen_because", ""),
                calibrated=bool(m.get("calibrated", False)), threshold=_nan(m.get("threshold")),
                threshold_precision=_nan(m.get("threshold_precision")),
                threshold_recall=_nan(m.get("threshold_recall"))))
        training_ms = self.registry.training_since_ms(label)
        queued = self.registry.dirty_score(label)  # a label event no version was trained on
        state = (query_pb2.RETRAIN_STATE_TRAINING if training_ms else
                 query_pb2.RETRAIN_STATE_QUEUED if queued is not None else query_pb2.RETRAIN_STATE_UP_TO_DATE)
        return query_pb2.Classifier(
            label=label, description=self.registry.meta(label).get("description", ""),
            deployed_version=self.registry.deployed(label), pinned=self.registry.pinned(label), versions=versions,
            positives=sum(a.positive for a in anns), negatives=sum(not a.positive for a in anns),
            retrain_state=state, labels_changed_at_ms=int(queued * 1000) if queued is not None else 0,
            training_started_at_ms=training_ms)

    def ListClassifiers(self, request: query_pb2.ListClassifiersRequest, context: grpc.ServicerContext):  # noqa: N802
        return query_pb2.ListClassifiersResponse(classifiers=[self._classifier(lb) for lb in self.registry.labels()])

    def GetClassifier(self, request: query_pb2.GetClassifierRequest, context: grpc.ServicerContext):  # noqa: N802
        return self._classifier(self._known(request.label))

    def DeployClassifier(self, request: query_pb2.DeployClassifierRequest, context: grpc.ServicerContext):  # noqa: N802
        label = self._known(request.label)
        versions = self.registry.versions(label)
        if not versions:
            raise NotFound(f"label {label!r} has no trained version yet")
        if request.version == 0:
            version, pinned, reason = max(versions), False, "unpinned"
        elif request.version in versions:
            current = self.registry.deployed(label)
            version, pinned = request.version, True
            reason = "rollback" if request.version < current else "pinned"
        else:
            raise NotFound(f"label {label!r} has no version {request.version}; versions: {sorted(versions)}")
        self.registry.set_deployed(label, version, pinned=pinned)
        ev = events_pb2.ModelDeployed(meta=new_meta("", "query"), label=label, version=version,
                                      kind=versions[version]["kind"], reason=reason,
                                      ap=versions[version].get("ap") or float("nan"))
        self.producer.send(self.settings.topic(topics.MODELS_DEPLOYED), key=label.encode(),
                           value=ev.SerializeToString()).get(timeout=_remaining(context))
        return self._classifier(label)


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def add_to_server(servicer: QueryServicer, server: grpc.Server) -> None:
    """`add_QueryServiceServicer_to_server` (with tolerant request parsing), except that
    GetVideoCategories answers with the cached response bytes: no protobuf build or serialization
    per call."""
    name, handlers = servicer_handlers(query_pb2_grpc.add_QueryServiceServicer_to_server, servicer)

    def GetVideoCategories(self: QueryServicer, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return self._categories(check_video_id(request.video_id))[1]

    fn = guarded("query", GetVideoCategories)  # same metrics and error mapping as the other methods
    handlers["GetVideoCategories"] = grpc.unary_unary_rpc_method_handler(
        lambda request, context: fn(servicer, request, context),
        request_deserializer=query_pb2.GetVideoCategoriesRequest.FromString,
        response_serializer=_passthrough)
    register(server, name, handlers)


def _passthrough(raw: bytes) -> bytes:
    return raw
