"""Where classified categories live in Redis: one hash per video, keyed by video id.

``<prefix>:categories:<video_id>`` → {"model_version", "taxonomy_version", "result" (JSON),
"classified_at_ms"}. Writing is an overwrite, so re-classifying is idempotent; a backfill
skips a video whose stored ``model_version`` equals the current one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import redis

from services.trainer.categories.service import CategoryResult


def key(prefix: str, video_id: str) -> str:
    return f"{prefix}:categories:{video_id}"


def write(r: redis.Redis, prefix: str, result: CategoryResult, version: str) -> None:
    doc = {"categories": [asdict(h) for h in result.categories], "notes": result.notes,
           "model_versions": result.model_versions}
    r.hset(key(prefix, result.video_id), mapping={
        "model_version": version, "taxonomy_version": result.taxonomy_version,
        "result": json.dumps(doc), "classified_at_ms": int(time.time() * 1000)})


def stored_version(r: redis.Redis, prefix: str, video_id: str) -> str | None:
    v = r.hget(key(prefix, video_id), "model_version")
    return v.decode() if isinstance(v, bytes) else v


def read(r: redis.Redis, prefix: str, video_id: str) -> dict | None:
    raw = r.hgetall(key(prefix, video_id))
    if not raw:
        return None
    d = {k.decode(): v.decode() for k, v in raw.items()}
    return {**d, "result": json.loads(d["result"])}
