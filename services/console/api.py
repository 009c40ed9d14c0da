"""The console's only backend: the public QueryService over gRPC, turned into plain JSON.

`QueryApi` owns the channel; every call carries the bearer token (when set) and a deadline.
A failed call raises `ApiError` with an HTTP status and the server's own words, which the
web app shows verbatim.
"""

from __future__ import annotations

import math
import threading
import time
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

import grpc

from services.console import metrics
from shotline import tls
from shotline.settings import Settings
from shotline.v1 import common_pb2, events_pb2, query_pb2, query_pb2_grpc

FEEDS = {
    "top_positive": query_pb2.FEED_KIND_TOP_POSITIVE,
    "top_negative": query_pb2.FEED_KIND_TOP_NEGATIVE,
    "borderline": query_pb2.FEED_KIND_BORDERLINE,
    "random": query_pb2.FEED_KIND_RANDOM,
}
VALUES = {
    "positive": events_pb2.LABEL_VALUE_POSITIVE,
    "negative": events_pb2.LABEL_VALUE_NEGATIVE,
    "cleared": events_pb2.LABEL_VALUE_CLEARED,
}
VALUE_NAMES = {v: k for k, v in VALUES.items()}
MODES = {"hybrid": query_pb2.SEARCH_MODE_HYBRID, "vector": query_pb2.SEARCH_MODE_VECTOR,
         "keyword": query_pb2.SEARCH_MODE_KEYWORD}
MODE_NAMES = {v: k for k, v in MODES.items()}

_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str = ""):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _finite(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else round(x, 6)


# ---- shots and media URLs ------------------------------------------------------------------

def upload_id_of(shot: common_pb2.Shot) -> str | None:
    """The upload a shot came from, read from its keyframe key ``keyframes/<video>/<upload>/…``."""
    for ref in shot.keyframe_refs:
        parts = ref.split("/")
        if len(parts) >= 4 and parts[0] == "keyframes":
            return parts[-2]
    return None


def shot_json(shot: common_pb2.Shot, score: float | None = None) -> dict[str, Any]:
    uid = upload_id_of(shot)
    out: dict[str, Any] = {
        "shot_id": shot.shot_id, "video_id": shot.video_id, "index": shot.index,
        "start_ms": shot.start_ms, "end_ms": shot.end_ms, "transition": shot.transition,
        "thumbnail": f"/media/{quote(shot.keyframe_refs[0])}" if shot.keyframe_refs else None,
        "video": f"/media/video/{quote(shot.video_id, safe='')}/{quote(uid, safe='')}" if uid else None,
    }
    if score is not None:
        out["score"] = _finite(score)
    return out


def hit_json(h: query_pb2.ShotHit) -> dict[str, Any]:
    """A search hit: the shot, and what is said and shown in it with the query's words that matched."""
    out = shot_json(h.shot, h.score)
    out["signals"] = list(h.signals)
    out["transcript"], out["on_screen_text"] = h.transcript, h.on_screen_text
    out["matches"] = [{"word": w.word, "start_ms": w.start_ms, "end_ms": w.end_ms, "source": w.source}
                      for w in h.matches]
    return out


def version_json(v: query_pb2.ClassifierVersion) -> dict[str, Any]:
    return {"version": v.version, "kind": v.kind, "ap": _finite(v.ap), "ap_low": _finite(v.ap_low),
            "ap_high": _finite(v.ap_high), "positives": v.positives, "negatives": v.negatives,
            "embedding_model": v.embedding_model, "head": v.head, "trained_at_ms": v.trained_at_ms,
            "train_seconds": _finite(v.train_seconds)}


def retrain_state(c: query_pb2.Classifier) -> dict[str, Any]:
    """What the page shows about the asynchronous retrain, from the trainer's own state."""
    pin = " (pinned)" if c.pinned else ""
    deployed = f"deployed v{c.deployed_version}{pin}" if c.deployed_version else "no version deployed yet"
    if c.retrain_state == query_pb2.RETRAIN_STATE_TRAINING:
        return {"state": "training", "text": f"training on {c.positives}+/{c.negatives}−; {deployed}"}
    if c.retrain_state == query_pb2.RETRAIN_STATE_QUEUED:
        return {"state": "queued", "text": f"queued: new labels ({c.positives}+/{c.negatives}−); {deployed}"}
    if not c.versions:
        return {"state": "queued", "text": "waiting for the first version"}
    return {"state": "deployed", "text": deployed}


def classifier_json(c: query_pb2.Classifier) -> dict[str, Any]:
    return {"label": c.label, "description": c.description, "deployed_version": c.deployed_version,
            "pinned": c.pinned, "positives": c.positives, "negatives": c.negatives,
            "latest_version": c.versions[-1].version if c.versions else 0,
            "versions": [version_json(v) for v in c.versions], "retrain": retrain_state(c)}


# ---- the client ------------------------------------------------------------------------------

# The signed-in user's own API token for this request (set by the app's middleware when the console
# signs people in with their tokens): the query service then checks *their* role and records *them*
# as the annotator. Unset: the console's configured token.
CALLER_TOKEN: ContextVar[str | None] = ContextVar("caller_token", default=None)


class QueryApi:
    def __init__(self, address: str, token: str | None = None, timeout_s: float = 30.0,
                 channel: grpc.Channel | None = None, settings: Settings | None = None):
        self.channel = channel or tls.channel(address, settings or Settings(), options=[
            ("grpc.max_send_message_length", 40 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        self.stub = query_pb2_grpc.QueryServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout_s = timeout_s
        self._video_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            caller = CALLER_TOKEN.get()
            metadata = (("authorization", f"Bearer {caller}"),) if caller else self.metadata
            return getattr(self.stub, method)(request, timeout=timeout or self.timeout_s, metadata=metadata)
        except grpc.RpcError as e:
            code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
            metrics.RPC_ERRORS.labels(method, code.name).inc()
            details = e.details() if hasattr(e, "details") else str(e)
            if code == grpc.StatusCode.UNAVAILABLE:
                details = f"the query service is unavailable ({details})"
            elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
                details = f"the query service did not answer in time ({method})"
            raise ApiError(_HTTP.get(code, 502), details or code.name, code.name) from e

    def ready(self) -> bool:
        try:
            grpc.channel_ready_future(self.channel).result(timeout=1)
            return True
        except grpc.FutureTimeoutError:
            return False

    # search
    @staticmethod
    def filters(catalogs: list[str], videos: list[str], min_start_ms: int = 0,
                max_end_ms: int = 0) -> query_pb2.SearchFilters:
        return query_pb2.SearchFilters(catalog_ids=catalogs, video_ids=videos, min_start_ms=min_start_ms,
                                       max_end_ms=max_end_ms)

    @staticmethod
    def _results(res: query_pb2.SearchResponse, offset: int, limit: int, grouped: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"model": res.model.model_id, "head": res.head, "offset": offset, "limit": limit,
                               "mode": MODE_NAMES.get(res.mode, ""), "note": res.note}
        if grouped:
            out["videos"] = [{"video_id": v.video_id, "score": _finite(v.score),
                              "shots": [hit_json(h) for h in v.shots]}
                             for v in res.videos[offset:offset + limit]]
            out["has_more"] = len(res.videos) > offset + limit
        else:
            out["hits"] = [hit_json(h) for h in res.hits[offset:offset + limit]]
            out["has_more"] = len(res.hits) > offset + limit
        return out

    def search_text(self, q: str, filters: query_pb2.SearchFilters, offset: int, limit: int,
                    grouped: bool, mode: str = "hybrid") -> dict[str, Any]:
        if mode not in MODES:
            raise ApiError(400, f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        # Grouped: ask for enough shots that `limit` videos usually fill; flat: exactly one page more.
        top_k = min(1000, (offset + limit) * (10 if grouped else 1) + 1)
        res = self.call("SearchText", query_pb2.SearchTextRequest(query=q, top_k=top_k, filters=filters,
                                                                  group_by_video=grouped, mode=MODES[mode]))
        return self._results(res, offset, limit, grouped)

    def search_similar(self, filters: query_pb2.SearchFilters, offset: int, limit: int, grouped: bool, *,
                       shot_id: str = "", clip: bytes = b"") -> dict[str, Any]:
        top_k = min(1000, (offset + limit) * (10 if grouped else 1) + 1)
        req = query_pb2.SearchSimilarRequest(top_k=top_k, filters=filters, group_by_video=grouped)
        if clip:
            req.clip = clip
        else:
            req.shot_id = shot_id
        res = self.call("SearchSimilar", req, timeout=max(self.timeout_s, 120.0) if clip else None)
        return self._results(res, offset, limit, grouped)

    def video_shots(self, video_id: str, any_index: int = 0, max_age_s: float = 30.0) -> list[dict[str, Any]]:
        """Every indexed shot of a video, in order. The API has no GetVideo: this is a visual search from
        one of its shots restricted to the video itself (top_k 1000), cached briefly."""
        with self._lock:
            hit = self._video_cache.get(video_id)
        if hit and time.monotonic() - hit[0] < max_age_s:
            return hit[1]
        res = self.call("SearchSimilar", query_pb2.SearchSimilarRequest(
            shot_id=f"{video_id}/{any_index}", top_k=1000, filters=query_pb2.SearchFilters(video_ids=[video_id])))
        shots = sorted((shot_json(h.shot) for h in res.hits), key=lambda s: s["index"])
        with self._lock:
            if len(self._video_cache) > 256:
                self._video_cache.clear()
            self._video_cache[video_id] = (time.monotonic(), shots)
        return shots

    def categories(self, video_id: str) -> dict[str, Any]:
        c = self.call("GetVideoCategories", query_pb2.GetVideoCategoriesRequest(video_id=video_id))
        return {"video_id": c.video_id, "taxonomy_version": c.taxonomy_version,
                "model_versions": dict(c.model_versions), "classified_at_ms": c.classified_at_ms,
                "categories": [{"category_id": x.category_id, "name": x.name, "score": _finite(x.score),
                                "threshold": _finite(x.threshold), "source": x.source,
                                "model": c.model_versions.get(x.source, "")} for x in c.categories],
                "classifiers": [{"label": x.label, "version": x.version, "score": _finite(x.score)}
                                for x in c.classifiers]}

    # classifiers
    def classifiers(self) -> list[dict[str, Any]]:
        res = self.call("ListClassifiers", query_pb2.ListClassifiersRequest())
        return [classifier_json(c) for c in res.classifiers]

    def classifier(self, label: str) -> dict[str, Any]:
        return classifier_json(self.call("GetClassifier", query_pb2.GetClassifierRequest(label=label)))

    def submit(self, label: str, labels: list[tuple[str, str]], annotator: str, description: str = "") -> dict:
        items = []
        for shot_id, value in labels:
            if value not in VALUES:
                raise ApiError(400, f"label value must be positive, negative or cleared, not {value!r}")
            items.append(events_pb2.ShotLabel(shot_id=shot_id, value=VALUES[value]))
        res = self.call("SubmitLabels", query_pb2.SubmitLabelsRequest(
            label=label, labels=items, annotator=annotator, description=description))
        return {"event_id": res.event_id, "accepted": res.accepted}

    def deploy(self, label: str, version: int) -> dict[str, Any]:
        return classifier_json(self.call("DeployClassifier", query_pb2.DeployClassifierRequest(
            label=label, version=version)))

    def feed(self, label: str, kind: str, offset: int, limit: int) -> dict[str, Any]:
        if kind not in FEEDS:
            raise ApiError(400, f"feed must be one of {', '.join(FEEDS)}, not {kind!r}")
        res = self.call("GetFeed", query_pb2.GetFeedRequest(label=label, kind=FEEDS[kind],
                                                            n=min(1000, offset + limit + 1)))
        return {"label": res.label, "version": res.version, "kind": kind, "offset": offset, "limit": limit,
                "hits": [shot_json(h.shot, h.score) for h in res.shots[offset:offset + limit]],
                "has_more": len(res.shots) > offset + limit}

    def scores(self, label: str, shot_ids: list[str]) -> dict[str, float | None]:
        if not shot_ids:
            return {}
        try:
            res = self.call("ScoreShots", query_pb2.ScoreShotsRequest(label=label, shot_ids=shot_ids))
        except ApiError as e:
            if e.status in (400, 404):  # no deployed version yet, or a shot the index dropped
                return {}
            raise
        return {k: _finite(v) for k, v in res.scores.items()}

    def annotations(self, label: str, *, value: str = "", annotator: str = "", since_ms: int = 0,
                    sort: str = "recent", offset: int = 0, limit: int = 50) -> dict[str, Any]:
        res = self.call("ListAnnotations", query_pb2.ListAnnotationsRequest(label=label))
        rows = [{"shot_id": a.shot_id, "value": VALUE_NAMES.get(a.value, "unspecified"),
                 "annotator": a.annotator, "labelled_at_ms": a.labelled_at_ms}
                for a in res.annotations if not a.detached]
        # Labels whose shot a re-upload replaced: shown apart ("shot replaced"), never trained on,
        # so the expert can look at the new content and label it again.
        replaced = [{"shot_id": a.shot_id, "value": VALUE_NAMES.get(a.value, "unspecified"),
                     "annotator": a.annotator, "labelled_at_ms": a.labelled_at_ms,
                     "old_upload_id": a.detached_upload_id, "new_upload_id": a.replaced_by_upload_id,
                     "replaced_at_ms": a.detached_at_ms}
                    for a in res.annotations if a.detached]
        replaced.sort(key=lambda r: -r["replaced_at_ms"])
        annotators = sorted({r["annotator"] for r in rows if r["annotator"]})
        counts = {"positive": sum(r["value"] == "positive" for r in rows),
                  "negative": sum(r["value"] == "negative" for r in rows)}
        rows = [r for r in rows if (not value or r["value"] == value) and (not annotator or r["annotator"] == annotator)
                and r["labelled_at_ms"] >= since_ms]
        if sort == "disagreement":
            scores = self.scores(label, [r["shot_id"] for r in rows])
            for r in rows:
                r["score"] = scores.get(r["shot_id"])
            # A positive the model scores low (or a negative it scores high) first; unscored last.
            rows.sort(key=lambda r: -(1 - r["score"] if r["value"] == "positive" else r["score"])
                      if r["score"] is not None else 1.0)
        else:
            rows.sort(key=lambda r: -r["labelled_at_ms"])
        page = rows[offset:offset + limit]
        if sort != "disagreement":
            scores = self.scores(label, [r["shot_id"] for r in page])
            for r in page:
                r["score"] = scores.get(r["shot_id"])
        self._attach_shots(page)
        return {"label": res.label, "total": len(rows), "offset": offset, "limit": limit,
                "has_more": len(rows) > offset + limit, "annotators": annotators, "counts": counts,
                "annotations": page, "replaced": replaced[:200]}

    def _attach_shots(self, rows: list[dict[str, Any]]) -> None:
        """Thumbnails and times for annotation rows (the API returns only shot ids there)."""
        by_video: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            vid, _, idx = r["shot_id"].rpartition("/")
            by_video.setdefault(vid, []).append(r)
        for vid, group in by_video.items():
            try:
                idx = int(group[0]["shot_id"].rpartition("/")[2])
                shots = {s["shot_id"]: s for s in self.video_shots(vid, idx)}
            except (ApiError, ValueError):
                shots = {}
            for r in group:
                r["shot"] = shots.get(r["shot_id"])
