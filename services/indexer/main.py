"""Indexer entrypoint."""

from __future__ import annotations

from functools import partial

from pydantic import Field

from services.indexer.handler import SERVICE, IndexHandler
from shotline import topics
from shotline.settings import Settings
from shotline.stores import redis_client, shot_index
from shotline.worker import run_service


class IndexerSettings(Settings):
    service_name: str = SERVICE
    batch_max_records: int = Field(64, ge=1, le=10_000)  # size bound of one upsert batch (events)
    poll_timeout_ms: int = Field(250, ge=10)              # time bound of one batch


def main() -> None:
    s = IndexerSettings()
    run_service(s, SERVICE, topics.SUBSCRIPTIONS[SERVICE], IndexHandler(s, partial(shot_index, s), redis_client(s)))
