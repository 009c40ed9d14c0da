"""Connections to the stores every service shares: Redis, the Milvus shot index and text index."""

from __future__ import annotations

import redis

from shotline.index import ShotIndex
from shotline.index.model import collection_name
from shotline.index.text_index import ShotTextIndex
from shotline.registry import Registry
from shotline.settings import Settings


def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=5,
                                socket_connect_timeout=5, health_check_interval=30)


def registry(settings: Settings) -> Registry:
    """The read model, under this deployment's key prefix."""
    return Registry(redis_client(settings), settings.redis_key_prefix)


def shot_index(settings: Settings, model_id: str, dims: dict[str, int]) -> ShotIndex:
    """The collection of one model bundle (one collection per model: dims differ)."""
    return ShotIndex(
        settings.milvus_uri, collection_name(model_id), dims, index_type=settings.index_type,
        index_params=settings.index_params or None, search_params=settings.search_params or None,
        token=settings.milvus_token.get_secret_value() if settings.milvus_token else None,
        model_id=model_id, scalar_indexes=settings.milvus_scalar_indexes,
    )


def shot_text_index(settings: Settings) -> ShotTextIndex:
    """What is said and shown per shot (written by the transcriber, searched by query)."""
    return ShotTextIndex(settings.milvus_uri, settings.text_collection,
                         token=settings.milvus_token.get_secret_value() if settings.milvus_token else None)
