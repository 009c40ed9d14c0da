"""The Redis read model shared by the trainer (writer) and the query service (reader).

Key layout (all under `<prefix>:`, `SHOTLINE_REDIS_KEY_PREFIX`, default `shotline`):
  labels                              set of label names
  label:<l>:annotations               hash shot_id → {"v": "positive"|"negative", "a": annotator, "t": ms}
  label:<l>:detached                  hash "<shot_id>@<old upload id>" → {"ann": <annotation>, "old": upload id,
                                      "new": upload id, "at": ms}: labels of shots whose content a re-upload
                                      replaced or removed — kept for review, never trained on
  label:<l>:meta                      hash description, created_ms
  label:<l>:versions                  hash version → ModelVersion JSON
  label:<l>:version_seq               the last version number handed out (INCR: never reused)
  label:<l>:training                  ms the trainer started retraining it (expires: a crash never leaves it set)
  label:<l>:model:<v>                 model weights (npz bytes)
  label:<l>:deployed / :pinned        deployed version / "1" when pinned
  label:<l>:feed:<kind>               JSON [{shot_id, score}] for the deployed version
  label:<l>:reference                 JSON list of catalog scores at deploy time (drift reference)
  label:<l>:recent                    list of recent real-time scores (capped)
  video:<vid>:classifiers             hash label → {"version", "score", "probability"?}
  video:<vid>:categories              JSON of the video's categories (ad-serving hot path), written by the
                                      real-time path and the backfill alike; model_versions.categories
                                      is the category model that produced it
  video:<vid>:text                    JSON {title, description, language, metadata} seen at upload (the
                                      backfill re-classifies with it; the shot index holds no text)
  video:<vid>:spoken                  JSON {upload_id, transcript, on_screen, model}: what the transcriber heard
                                      and read in the video's latest transcribed upload (category text sources)
  backfill:<scope>:<version>:total    videos planned for a backfill with category model <version>
  backfill:<scope>:<version>:done     set of videos finished (classified or found already done)
  backfill:<scope>:<version>:log      list: one entry per video the backfill classified (audit)
  trainer:dirty                       zset label → time of its latest label event (debounce)
  lease:<name>                        the holder's token of a single-active-replica lease (PX ttl)
  indexer:chunks:<vid>:<upload id>    set of chunk indices indexed so far (video completion; expires after 7 days)
  video:<vid>:category_labels         hash category id → {"v": "positive"|"negative", "a": annotator, "t": ms}:
                                      people's taxonomy labels of the video (latest event wins)
  category_labels:videos              set of videos with ≥ 1 category label
  category_model:dirty                zset "categories" → time of the latest category label event (debounce)
  category_model:release              counter (INCR): the release number of the next category model
  category_model:releases             hash release → JSON {version, blob_key, trained_at, …} of every release
  category_model:deployed             JSON of the deployed release (the scorers reload when it changes)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from shotline.errors import TransientError

DEFAULT_PREFIX = "shotline"


def key(prefix: str, *parts: object) -> str:
    """The layout of every key above (readers outside this module, e.g. a bench baseline, use it)."""
    return prefix + ":" + ":".join(str(p) for p in parts)


FEED_KINDS = ("top_positive", "top_negative", "borderline", "random")




def _video_score(version: int, score: float, probability: float | None) -> dict[str, Any]:
    """A video's classifier entry; a missing or NaN probability is left out (strict JSON has no NaN)."""
    doc: dict[str, Any] = {"version": version, "score": score}
    if probability is not None and math.isfinite(probability):
        doc["probability"] = float(probability)
    return doc


@dataclass(frozen=True)
class Annotation:
    shot_id: str
    positive: bool
    annotator: str
    ts_ms: int


@dataclass(frozen=True)
class DetachedAnnotation:
    """An annotation whose shot was replaced by a re-upload: it described the old content."""

    annotation: Annotation
    old_upload_id: str
    new_upload_id: str
    detached_ms: int


# The next version number: INCR, lifted above any version already stored (labels from before
# the counter existed), so two trainers — or a trainer and a restore — never reuse a number.
_NEXT_VERSION = """
local n = redis.call('INCR', KEYS[1])
local top = 0
for _, v in ipairs(redis.call('HKEYS', KEYS[2])) do
  local x = tonumber(v)
  if x and x > top then top = x end
end
if n <= top then
  n = top + 1
  redis.call('SET', KEYS[1], n)
end
return n
"""

# An automatic deploy happens only if nobody pinned a version: checked and set in one step, so
# a pin through the API between the check and the write can never be overwritten.
_DEPLOY_UNLESS_PINNED = """
if redis.call('GET', KEYS[2]) == '1' then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

# Renew / release a lease only while this holder still owns it (never another replica's).
_LEASE_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_LEASE_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Moves the annotations of the given shots from one hash to the other in one step, so a label
# event stored at the same moment is either moved with them or written after (never lost).
# KEYS: annotations, detached. ARGV: old upload id, new upload id, now ms, shot ids...
_DETACH = """
local moved = {}
for i = 4, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local doc = {ann = cjson.decode(v), old = ARGV[1], new = ARGV[2], at = tonumber(ARGV[3])}
    redis.call('HSET', KEYS[2], ARGV[i] .. '@' .. ARGV[1], cjson.encode(doc))
    redis.call('HDEL', KEYS[1], ARGV[i])
    moved[#moved + 1] = ARGV[i]
  end
end
return moved
"""


def _annotation(shot_id: str, d: dict[str, Any]) -> Annotation:
    return Annotation(shot_id, d["v"] == "positive", d.get("a", ""), int(d.get("t", 0)))


class Registry:
    def __init__(self, r: redis.Redis, prefix: str = DEFAULT_PREFIX):
        self.r = r
        self.prefix = prefix
        self._detach = r.register_script(_DETACH)

    # -- labels ---------------------------------------------------------------------------
    def labels(self) -> list[str]:
        return sorted(x.decode() for x in self._call(self.r.smembers, self._k("labels")))

    def exists(self, label: str) -> bool:
        return bool(self._call(self.r.sismember, self._k("labels"), label))

    def annotations(self, label: str) -> list[Annotation]:
        """The label's live annotations (detached ones are not among them)."""
        raw = self._call(self.r.hgetall, self._k("label", label, "annotations"))
        out = [_annotation(sid.decode(), json.loads(v)) for sid, v in raw.items()]
        return sorted(out, key=lambda a: a.ts_ms)

    def detached_annotations(self, label: str) -> list[DetachedAnnotation]:
        """Annotations of shots a re-upload replaced ("shot replaced" in review), oldest first."""
        raw = self._call(self.r.hgetall, self._k("label", label, "detached"))
        out = []
        for key, v in raw.items():
            d = json.loads(v)
            sid = key.decode().rsplit("@", 1)[0]
            out.append(DetachedAnnotation(_annotation(sid, d["ann"]), d.get("old", ""), d.get("new", ""),
                                          int(d.get("at", 0))))
        return sorted(out, key=lambda a: (a.annotation.ts_ms, a.annotation.shot_id))

    def detach_annotations(self, shot_ids: list[str], old_upload_id: str, new_upload_id: str) -> dict[str, list[str]]:
        """A re-upload replaced the content of ``shot_ids``: move every label's annotations of
        them aside (kept with the old upload id, out of training) and queue those labels for
        retraining. Idempotent. Returns label → the shot ids detached from it."""
        if not shot_ids:
            return {}
        now = int(time.time() * 1000)
        moved: dict[str, list[str]] = {}
        for label in self.labels():
            keys = [self._k("label", label, "annotations"), self._k("label", label, "detached")]
            got = self._call(self._detach, keys=keys, args=[old_upload_id, new_upload_id, now, *shot_ids])
            if got:
                moved[label] = [x.decode() if isinstance(x, bytes) else str(x) for x in got]
                self.mark_dirty(label)
        return moved

    def meta(self, label: str) -> dict[str, str]:
        raw = self._call(self.r.hgetall, self._k("label", label, "meta"))
        return {k.decode(): v.decode() for k, v in raw.items()}

    # -- classifier versions ----------------------------------------------------------------
    def versions(self, label: str) -> dict[int, dict[str, Any]]:
        raw = self._call(self.r.hgetall, self._k("label", label, "versions"))
        return {int(k): json.loads(v) for k, v in raw.items()}

    def deployed(self, label: str) -> int:
        v = self._call(self.r.get, self._k("label", label, "deployed"))
        return int(v) if v else 0

    def pinned(self, label: str) -> bool:
        return self._call(self.r.get, self._k("label", label, "pinned")) == b"1"

    def model_blob(self, label: str, version: int) -> bytes | None:
        return self._call(self.r.get, self._k("label", label, "model", version))

    def feed(self, label: str, kind: str) -> list[dict[str, Any]]:
        raw = self._call(self.r.get, self._k("label", label, "feed", kind))
        return json.loads(raw) if raw else []

    def video_classifiers(self, video_id: str) -> dict[str, dict[str, Any]]:
        raw = self._call(self.r.hgetall, self._k("video", video_id, "classifiers"))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def video_categories(self, video_id: str) -> dict[str, Any] | None:
        raw = self._call(self.r.get, self._k("video", video_id, "categories"))
        return json.loads(raw) if raw else None

    def video_read_models(self, video_ids: Sequence[str]) -> list[tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]]:
        """Categories and classifier scores of each video, all in one round trip (the ad-serving hot path)."""
        pipe = self.r.pipeline(transaction=False)
        for video_id in video_ids:
            pipe.get(self._k("video", video_id, "categories"))
            pipe.hgetall(self._k("video", video_id, "classifiers"))
        got = self._call(pipe.execute)
        return [((json.loads(doc) if doc else None), {k.decode(): json.loads(v) for k, v in classifiers.items()})
                for doc, classifiers in zip(got[::2], got[1::2], strict=True)]

    # -- writes (trainer) -------------------------------------------------------------------
    def add_annotations(self, label: str, items: list[Annotation], description: str = "") -> int:
        """Latest label per shot wins (by event time); returns how many changed."""
        key = self._k("label", label, "annotations")
        current = self._call(self.r.hmget, key, [a.shot_id for a in items]) if items else []
        changed: dict[str, str] = {}
        for a, cur in zip(items, current, strict=True):
            if cur is not None and int(json.loads(cur).get("t", 0)) > a.ts_ms:
                continue  # an older event redelivered after a newer one
            changed[a.shot_id] = json.dumps({"v": "positive" if a.positive else "negative",
                                             "a": a.annotator, "t": a.ts_ms})
        pipe = self.r.pipeline()
        pipe.sadd(self._k("labels"), label)
        pipe.hsetnx(self._k("label", label, "meta"), "created_ms", int(time.time() * 1000))
        if description:
            pipe.hset(self._k("label", label, "meta"), "description", description)
        if changed:
            pipe.hset(key, mapping=changed)
        self._call(pipe.execute)
        return len(changed)

    def clear_annotations(self, label: str, shot_ids: list[str]) -> None:
        if shot_ids:
            self._call(self.r.hdel, self._k("label", label, "annotations"), *shot_ids)

    def mark_dirty(self, label: str, at: float | None = None) -> None:
        self._call(self.r.zadd, self._k("trainer", "dirty"), {label: at or time.time()})

    def due(self, debounce_seconds: float) -> list[str]:
        cutoff = time.time() - debounce_seconds
        return [x.decode() for x in self._call(self.r.zrangebyscore, self._k("trainer", "dirty"), 0, cutoff)]

    def undirty(self, label: str, seen_at: float) -> None:
        """Remove `label` from the queue unless a newer label event arrived meanwhile."""
        key = self._k("trainer", "dirty")
        score = self._call(self.r.zscore, key, label)
        if score is not None and score <= seen_at:
            self._call(self.r.zrem, key, label)

    def set_training(self, label: str, ttl_seconds: int = 3600) -> None:
        self._call(self.r.set, self._k("label", label, "training"), int(time.time() * 1000), ex=ttl_seconds)

    def clear_training(self, label: str) -> None:
        self._call(self.r.delete, self._k("label", label, "training"))

    def training_since_ms(self, label: str) -> int:
        raw = self._call(self.r.get, self._k("label", label, "training"))
        return int(raw) if raw else 0

    def dirty_score(self, label: str) -> float | None:
        return self._call(self.r.zscore, self._k("trainer", "dirty"), label)

    # -- leases (one active replica) ------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        return bool(self._call(self.r.set, self._k("lease", name), holder, nx=True, px=ttl_ms))

    def renew_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        return bool(self._call(self.r.eval, _LEASE_RENEW, 1, self._k("lease", name), holder, ttl_ms))

    def release_lease(self, name: str, holder: str) -> None:
        self._call(self.r.eval, _LEASE_RELEASE, 1, self._k("lease", name), holder)

    def lease_holder(self, name: str) -> str | None:
        raw = self._call(self.r.get, self._k("lease", name))
        return raw.decode() if raw else None

    def save_version(self, label: str, version: int, meta: dict[str, Any], blob: bytes) -> None:
        pipe = self.r.pipeline()
        pipe.set(self._k("label", label, "model", version), blob)
        pipe.hset(self._k("label", label, "versions"), str(version), json.dumps(meta))
        self._call(pipe.execute)

    def next_version(self, label: str) -> int:
        return int(self._call(self.r.eval, _NEXT_VERSION, 2, self._k("label", label, "version_seq"),
                              self._k("label", label, "versions")))

    def deploy_unless_pinned(self, label: str, version: int) -> bool:
        """The trainer's automatic deploy: False (nothing written) when a version is pinned."""
        return bool(self._call(self.r.eval, _DEPLOY_UNLESS_PINNED, 2, self._k("label", label, "deployed"),
                               self._k("label", label, "pinned"), version))

    def set_deployed(self, label: str, version: int, pinned: bool | None = None) -> None:
        """A deploy through the API: version and pin state in one MULTI/EXEC transaction."""
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self._k("label", label, "deployed"), version)
        if pinned is not None:
            pipe.set(self._k("label", label, "pinned"), "1" if pinned else "0")
        self._call(pipe.execute)

    def save_feeds(self, label: str, feeds: dict[str, list[dict[str, Any]]], reference: list[float]) -> None:
        pipe = self.r.pipeline()
        for kind, items in feeds.items():
            pipe.set(self._k("label", label, "feed", kind), json.dumps(items))
        pipe.set(self._k("label", label, "reference"), json.dumps(reference))
        self._call(pipe.execute)

    def reference(self, label: str) -> list[float]:
        raw = self._call(self.r.get, self._k("label", label, "reference"))
        return json.loads(raw) if raw else []

    def push_recent(self, label: str, scores: list[float], cap: int = 5000) -> None:
        if not scores:
            return
        pipe = self.r.pipeline()
        pipe.lpush(self._k("label", label, "recent"), *scores)
        pipe.ltrim(self._k("label", label, "recent"), 0, cap - 1)
        self._call(pipe.execute)

    def recent(self, label: str) -> list[float]:
        return [float(x) for x in self._call(self.r.lrange, self._k("label", label, "recent"), 0, -1)]

    def set_video_classifier(self, video_id: str, label: str, version: int, score: float,
                             probability: float | None = None) -> None:
        """``probability``: calibrated P(positive) of the video's score (None/NaN: not stored, reads as NaN)."""
        self._call(self.r.hset, self._k("video", video_id, "classifiers"), label,
                   json.dumps(_video_score(version, score, probability)))

    def set_video_classifiers(self, label: str, version: int, per_video: dict[str, float],
                              probabilities: dict[str, float] | None = None) -> None:
        pipe = self.r.pipeline(transaction=False)
        for vid, score in per_video.items():
            p = probabilities.get(vid) if probabilities else None
            pipe.hset(self._k("video", vid, "classifiers"), label, json.dumps(_video_score(version, score, p)))
        self._call(pipe.execute)

    def set_video_categories(self, video_id: str, doc: dict[str, Any]) -> None:
        self._call(self.r.set, self._k("video", video_id, "categories"), json.dumps(doc))

    def categories_versions(self, video_ids: list[str]) -> dict[str, str | None]:
        """Category model version behind each video's stored categories (None: not classified)."""
        out: dict[str, str | None] = {}
        for start in range(0, len(video_ids), 1000):
            chunk = video_ids[start:start + 1000]
            docs = self._call(self.r.mget, [self._k("video", v, "categories") for v in chunk])
            for vid, raw in zip(chunk, docs, strict=True):
                out[vid] = (json.loads(raw).get("model_versions") or {}).get("categories") if raw else None
        return out

    def set_video_text(self, video_id: str, text: dict[str, Any]) -> None:
        self._set_doc(self._k("video", video_id, "text"), text)

    def video_text(self, video_id: str) -> dict[str, Any]:
        return self._doc(self._k("video", video_id, "text"))

    def set_video_spoken(self, video_id: str, doc: dict[str, Any]) -> None:
        self._set_doc(self._k("video", video_id, "spoken"), doc)

    def video_spoken(self, video_id: str) -> dict[str, Any]:
        return self._doc(self._k("video", video_id, "spoken"))

    def _set_doc(self, k: str, doc: dict[str, Any]) -> None:
        self._call(self.r.set, k, json.dumps(doc))

    def _doc(self, k: str) -> dict[str, Any]:
        """A JSON document kept under one key ({} when there is none)."""
        raw = self._call(self.r.get, k)
        return json.loads(raw) if raw else {}

    # -- category backfill progress ---------------------------------------------------------
    def backfill_plan(self, scope: str, version: str, total: int) -> None:
        self._call(self.r.set, self._k("backfill", scope, version, "total"), total)

    def backfill_done(self, scope: str, version: str, video_ids: list[str], classified: bool = False) -> None:
        """Mark videos finished; ``classified`` ones are also logged (one entry per classification)."""
        if not video_ids:
            return
        pipe = self.r.pipeline()
        pipe.sadd(self._k("backfill", scope, version, "done"), *video_ids)
        if classified:
            pipe.rpush(self._k("backfill", scope, version, "log"), *video_ids)
        self._call(pipe.execute)

    def backfill_progress(self, scope: str, version: str) -> tuple[int, int]:
        """(done, total) of a backfill."""
        pipe = self.r.pipeline(transaction=False)
        pipe.scard(self._k("backfill", scope, version, "done"))
        pipe.get(self._k("backfill", scope, version, "total"))
        done, total = self._call(pipe.execute)
        return int(done), int(total or 0)

    def backfill_log(self, scope: str, version: str) -> list[str]:
        return [v.decode() for v in self._call(self.r.lrange, self._k("backfill", scope, version, "log"), 0, -1)]

    # -- category labels from people and the category model release ------------------------
    def video_category_labels(self, video_id: str) -> dict[str, dict[str, Any]]:
        """A video's human category labels: category id → {"v", "a", "t"}."""
        raw = self._call(self.r.hgetall, self._k("video", video_id, "category_labels"))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def videos_category_labels(self, video_ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Many videos' labels in one round trip (videos without labels are left out)."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for start in range(0, len(video_ids), 1000):
            chunk = video_ids[start:start + 1000]
            pipe = self.r.pipeline(transaction=False)
            for vid in chunk:
                pipe.hgetall(self._k("video", vid, "category_labels"))
            for vid, raw in zip(chunk, self._call(pipe.execute), strict=True):
                if raw:
                    out[vid] = {k.decode(): json.loads(v) for k, v in raw.items()}
        return out

    def set_video_category_labels(self, video_id: str, upserts: dict[str, dict[str, Any]], clears: list[str]) -> None:
        """Write and remove labels of one video, keeping the set of labelled videos in step."""
        key = self._k("video", video_id, "category_labels")
        pipe = self.r.pipeline()
        if upserts:
            pipe.hset(key, mapping={c: json.dumps(d) for c, d in upserts.items()})
        if clears:
            pipe.hdel(key, *clears)
        pipe.hlen(key)
        left = self._call(pipe.execute)[-1]
        if left:
            self._call(self.r.sadd, self._k("category_labels", "videos"), video_id)
        else:
            self._call(self.r.srem, self._k("category_labels", "videos"), video_id)

    def category_labelled_videos(self) -> list[str]:
        return sorted(x.decode() for x in self._call(self.r.smembers, self._k("category_labels", "videos")))

    def mark_categories_dirty(self, at: float | None = None) -> None:
        self._call(self.r.zadd, self._k("category_model", "dirty"), {"categories": at or time.time()})

    def categories_due(self, debounce_seconds: float) -> float | None:
        """Time of the latest category label event when it is older than the debounce, else None."""
        score = self._call(self.r.zscore, self._k("category_model", "dirty"), "categories")
        return score if score is not None and score <= time.time() - debounce_seconds else None

    def categories_undirty(self, seen_at: float) -> None:
        """Done up to ``seen_at``: keep the flag when a newer label event arrived meanwhile."""
        key = self._k("category_model", "dirty")
        score = self._call(self.r.zscore, key, "categories")
        if score is not None and score <= seen_at:
            self._call(self.r.zrem, key, "categories")

    def next_category_release(self) -> int:
        return int(self._call(self.r.incr, self._k("category_model", "release")))

    def deploy_category_model(self, release: int, doc: dict[str, Any]) -> None:
        """Record a release and make it the deployed one (its artefact must already be stored)."""
        body = json.dumps({**doc, "release": release})
        pipe = self.r.pipeline()
        pipe.hset(self._k("category_model", "releases"), str(release), body)
        pipe.set(self._k("category_model", "deployed"), body)
        self._call(pipe.execute)

    def category_model(self) -> dict[str, Any] | None:
        """The deployed category model release (None: the running base model, nothing trained)."""
        raw = self._call(self.r.get, self._k("category_model", "deployed"))
        return json.loads(raw) if raw else None

    def category_model_releases(self) -> dict[int, dict[str, Any]]:
        raw = self._call(self.r.hgetall, self._k("category_model", "releases"))
        return {int(k): json.loads(v) for k, v in raw.items()}

    def videos_text(self, video_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``video_text`` of many videos in one round trip ({} where none was kept)."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(video_ids), 1000):
            chunk = video_ids[start:start + 1000]
            docs = self._call(self.r.mget, [self._k("video", v, "text") for v in chunk])
            out.update({vid: json.loads(raw) if raw else {} for vid, raw in zip(chunk, docs, strict=True)})
        return out

    # -- video completion (the indexer) ----------------------------------------------------
    def chunk_indexed(self, video_id: str, upload_id: str, chunk_index: int, ttl_seconds: int = 7 * 24 * 3600) -> int:
        """Record one indexed chunk of an upload; returns how many distinct chunks are indexed."""
        key = self._k("indexer", "chunks", video_id, upload_id)
        pipe = self.r.pipeline()
        pipe.sadd(key, chunk_index)
        pipe.expire(key, ttl_seconds)
        pipe.scard(key)
        return int(self._call(pipe.execute)[-1])

    # -- plumbing ---------------------------------------------------------------------------
    def _k(self, *parts: object) -> str:
        return key(self.prefix, *parts)

    @staticmethod
    def _call(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as e:
            raise TransientError(f"redis: {e}") from e
