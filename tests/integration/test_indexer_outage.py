"""The indexer survives Milvus going away: it backs off, commits no offset it has not
written, and resumes; a process that runs out of retries exits without committing, and its
restart (what supervisord or Kubernetes does) finishes the work with one row per shot.

The indexer runs as a real process (`python -m services.indexer`) against the stack's Kafka
and Redis, and a milvus-lite server of this module's own, so stopping it leaves the shared
one alone.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from shotline.events import new_meta
from shotline.index import ShotIndex
from shotline.index.model import collection_name
from shotline.stack import local
from shotline.stack.milvus import MilvusLiteServer
from shotline.v1 import common_pb2, events_pb2

from .conftest import service_env, spawn, wait_for

pytestmark = pytest.mark.integration

MODEL = "outage-test"
DIM = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def milvus(tmp_path: Path) -> Iterator[MilvusLiteServer]:
    server = MilvusLiteServer(tmp_path / "milvus", _free_port(), db_name="outage.db")
    server.start()
    server.wait_ready(timeout=60)
    yield server
    server.stop()


@pytest.fixture
def topics(stack: local.Endpoints, prefix: str) -> dict[str, str]:
    names = {s: f"{prefix}.{s}" for s in ("shots.embedded", "shots.indexed", "shots.embedded.dlq", "shots.embedded.retry", "errors")}
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka)
    admin.create_topics([NewTopic(n, 1, 1) for n in names.values()])  # one partition: offsets are easy to read
    admin.close()
    c = KafkaConsumer(bootstrap_servers=stack.kafka)
    wait_for(lambda: set(names.values()) <= c.topics(), 30, what="topic metadata")
    c.close()
    return names


def _embedded(video_id: str, shots: int) -> bytes:
    rng = np.random.default_rng(abs(hash(video_id)) % 2**32)
    ev = events_pb2.ShotsEmbedded(meta=new_meta(video_id, "test"), upload_id=f"{video_id}-u1",
                                  model=common_pb2.ModelRef(model_id=MODEL, version="1"),
                                  chunk_index=0, chunk_count=1, total_shots=shots)
    for i in range(shots):
        v = rng.standard_normal(DIM).astype(np.float32)
        e = ev.shots.add()
        e.shot.CopyFrom(common_pb2.Shot(shot_id=f"{video_id}/{i}", video_id=video_id, index=i,
                                        start_ms=i * 1000, end_ms=(i + 1) * 1000))
        e.vectors["joint"].values.extend((v / np.linalg.norm(v)).tolist())
    return ev.SerializeToString()


def _send(stack: local.Endpoints, topic: str, video_id: str, shots: int) -> None:
    p = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    p.send(topic, key=video_id.encode(), value=_embedded(video_id, shots)).get(30)
    p.close()


class Indexed:
    """Video ids whose shots-indexed event says complete, read from the topic's start."""

    def __init__(self, stack: local.Endpoints, topic: str):
        self.c = KafkaConsumer(topic, bootstrap_servers=stack.kafka, auto_offset_reset="earliest",
                               enable_auto_commit=False, group_id=None, consumer_timeout_ms=300)
        self.videos: list[str] = []

    def poll(self) -> list[str]:
        for rec in self.c:
            m = events_pb2.ShotsIndexed()
            m.ParseFromString(rec.value)
            if m.video_complete:
                self.videos.append(m.meta.video_id)
        return self.videos


def _committed(stack: local.Endpoints, group: str, topic: str) -> int:
    """The group's committed offset of the topic's only partition (0 when none yet)."""
    c = KafkaConsumer(bootstrap_servers=stack.kafka, group_id=group, enable_auto_commit=False)
    try:
        return c.committed(TopicPartition(topic, 0)) or 0
    finally:
        c.close()


def _rows(milvus: MilvusLiteServer, video_id: str) -> list[int]:
    ix = ShotIndex(milvus.uri, collection_name(MODEL), {"joint": DIM}, model_id=MODEL)
    try:
        return sorted(s.shot_index for s in ix.video_shots(video_id))
    finally:
        ix.close()


def _indexer(stack: local.Endpoints, prefix: str, milvus: MilvusLiteServer, log: Path,
             retries: int) -> subprocess.Popen[bytes]:
    env = service_env(stack, MILVUS_URI=milvus.uri, SHOTLINE_TOPIC_PREFIX=prefix,
                      SHOTLINE_CONSUMER_GROUP_PREFIX=prefix, SHOTLINE_TRANSIENT_RETRIES=str(retries),
                      SHOTLINE_RETRY_BACKOFF_SECONDS="0.2")
    return spawn(["-m", "services.indexer"], env, log)


def test_short_outage_is_ridden_out_with_backoff(stack: local.Endpoints, prefix: str, topics: dict[str, str],
                                                 milvus: MilvusLiteServer, tmp_path: Path) -> None:
    log = tmp_path / "indexer.log"
    proc = _indexer(stack, prefix, milvus, log, retries=30)
    indexed = Indexed(stack, topics["shots.indexed"])
    try:
        _send(stack, topics["shots.embedded"], "before", 3)
        wait_for(lambda: "before" in indexed.poll(), 90, what="first video indexed")
        wait_for(lambda: _committed(stack, f"{prefix}-indexer", topics["shots.embedded"]) == 1, 30,
                 what="first offset committed")

        milvus.stop()
        _send(stack, topics["shots.embedded"], "during", 4)
        wait_for(lambda: "transient fault, backing off" in log.read_text(), 30, what="the indexer backing off")
        time.sleep(2.0)
        assert proc.poll() is None, "a short outage must not stop the indexer"
        assert "during" not in indexed.poll(), "nothing may be reported indexed while Milvus is down"
        assert _committed(stack, f"{prefix}-indexer", topics["shots.embedded"]) == 1, \
            "the offset of an unwritten event must not be committed"

        milvus.start()
        milvus.wait_ready(timeout=60)
        wait_for(lambda: "during" in indexed.poll(), 90, what="indexing to resume after the outage")
        wait_for(lambda: _committed(stack, f"{prefix}-indexer", topics["shots.embedded"]) == 2, 30,
                 what="offset committed after the write")
        assert proc.poll() is None
        assert _rows(milvus, "before") == [0, 1, 2]
        assert _rows(milvus, "during") == [0, 1, 2, 3]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_long_outage_exits_uncommitted_and_the_restart_finishes(
        stack: local.Endpoints, prefix: str, topics: dict[str, str], milvus: MilvusLiteServer,
        tmp_path: Path) -> None:
    group = f"{prefix}-indexer"
    proc = _indexer(stack, prefix, milvus, tmp_path / "indexer-1.log", retries=2)
    indexed = Indexed(stack, topics["shots.indexed"])
    try:
        _send(stack, topics["shots.embedded"], "first", 2)
        wait_for(lambda: "first" in indexed.poll(), 90, what="first video indexed")
        wait_for(lambda: _committed(stack, group, topics["shots.embedded"]) == 1, 30, what="first offset committed")

        milvus.stop()
        _send(stack, topics["shots.embedded"], "lost-unless-redelivered", 3)
        wait_for(lambda: proc.poll() is not None, 90, what="the indexer to give up")
        assert proc.returncode != 0, "running out of retries is a failure exit, for the supervisor to restart"
        assert _committed(stack, group, topics["shots.embedded"]) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    milvus.start()
    milvus.wait_ready(timeout=60)
    restarted = _indexer(stack, prefix, milvus, tmp_path / "indexer-2.log", retries=2)
    try:
        wait_for(lambda: "lost-unless-redelivered" in indexed.poll(), 120, what="the restart to index the event")
        wait_for(lambda: _committed(stack, group, topics["shots.embedded"]) == 2, 30, what="offset committed")
        assert _rows(milvus, "first") == [0, 1]
        assert _rows(milvus, "lost-unless-redelivered") == [0, 1, 2]
        assert indexed.poll().count("first") == 1, "the committed event is not reprocessed"
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)

