"""`shotline dlq list|replay` against the real broker.

The test writes its own dead-letter records, with the headers the worker's contract names
(dlq.topic/partition/offset/reason/error/attempts/service), then lists and replays them through
the CLI in a subprocess, and reads the source topic to see exactly what came back — run twice,
with and without a reason filter, nothing is replayed twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from shotline.stack import local

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-c", "from shotline.cli import app; app()"]


def cli(stack: local.Endpoints, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack.kafka, "SHOTLINE_TOPIC_PREFIX": prefix,
           "SHOTLINE_LOG_LEVEL": "INFO"}
    res = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    return res


def dead_letter(p: KafkaProducer, prefix: str, partition: int, key: str, value: bytes, reason: str,
                src_offset: int, extra: list[tuple[str, bytes]] | None = None) -> None:
    headers = list(extra or []) + [
        ("dlq.topic", f"{prefix}.videos.uploaded".encode()), ("dlq.partition", b"1"),
        ("dlq.offset", str(src_offset).encode()), ("dlq.reason", reason.encode()),
        ("dlq.error", f"{reason}: it broke".encode()), ("dlq.attempts", b"3"), ("dlq.service", b"segmenter"),
    ]
    p.send(f"{prefix}.videos.uploaded.dlq", key=key.encode(), value=value, headers=headers,
           partition=partition).get(timeout=30)


def source_records(stack: local.Endpoints, prefix: str) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    c = KafkaConsumer(bootstrap_servers=stack.kafka, enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(f"{prefix}.videos.uploaded", p) for p in range(2)]
        c.assign(tps)
        c.seek_to_beginning()
        end = c.end_offsets(tps)
        out = []
        while any(c.position(tp) < end[tp] for tp in tps):
            for recs in c.poll(timeout_ms=1000).values():
                out += [(r.key.decode(), r.value, list(r.headers)) for r in recs]
        return sorted(out)
    finally:
        c.close()


def test_list_and_replay_are_exact_and_idempotent(stack: local.Endpoints, prefix: str) -> None:
    local.ensure_topics(stack.kafka, 2, prefix)
    p = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    dead_letter(p, prefix, 0, "v1", b"payload-1", "corrupt_video", 10, [("traceparent", b"00-aa")])
    dead_letter(p, prefix, 1, "v2", b"payload-2", "retries_exhausted", 11)
    dead_letter(p, prefix, 0, "v3", b"payload-3", "corrupt_video", 12)

    rows = [json.loads(line) for line in cli(stack, prefix, "dlq", "list", "videos.uploaded", "--json").stdout.splitlines()]
    assert [(r["partition"], r["offset"], r["key"], r["reason"]) for r in rows] == [
        (0, 0, "v1", "corrupt_video"), (0, 1, "v3", "corrupt_video"), (1, 0, "v2", "retries_exhausted")]
    first = rows[0]
    assert first["error"] == "corrupt_video: it broke" and first["attempts"] == 3
    assert (first["source_topic"], first["source_partition"], first["source_offset"]) == (
        f"{prefix}.videos.uploaded", 1, 10)
    assert first["service"] == "segmenter" and first["headers"] == {"traceparent": "00-aa"}
    only = cli(stack, prefix, "dlq", "list", "videos.uploaded", "--reason", "retries_exhausted", "--json")
    assert [json.loads(x)["key"] for x in only.stdout.splitlines()] == ["v2"]
    table = cli(stack, prefix, "dlq", "list", "videos.uploaded").stdout
    assert "3 records" in table and "v1" in table

    def replay(*extra: str) -> dict:
        return json.loads(cli(stack, prefix, "dlq", "replay", "videos.uploaded", "--json", *extra).stdout)

    assert replay("--reason", "corrupt_video")["replayed"] == 2
    assert source_records(stack, prefix) == [
        ("v1", b"payload-1", [("traceparent", b"00-aa")]), ("v3", b"payload-3", [])]
    assert replay("--reason", "corrupt_video")["replayed"] == 0  # twice: nothing new

    res = replay()  # everything else: only v2 was not replayed yet
    assert (res["replayed"], res["skipped_already"]) == (1, 2)
    assert replay()["replayed"] == 0
    assert [k for k, _, _ in source_records(stack, prefix)] == ["v1", "v2", "v3"]

    dead_letter(p, prefix, 1, "v4", b"payload-4", "corrupt_video", 13)
    assert replay("--reason", "corrupt_video")["replayed"] == 1
    assert replay()["replayed"] == 0
    assert [k for k, _, _ in source_records(stack, prefix)] == ["v1", "v2", "v3", "v4"]
    human = subprocess.run([*CLI, "dlq", "replay", "videos.uploaded"], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack.kafka, "SHOTLINE_TOPIC_PREFIX": prefix})
    assert human.returncode == 0 and "replayed 0 record(s)" in human.stdout
    p.close()


def test_unknown_topic_is_a_clear_error(stack: local.Endpoints, prefix: str) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack.kafka, "SHOTLINE_TOPIC_PREFIX": prefix}
    res = subprocess.run([*CLI, "dlq", "list", "videos.uploaded"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 1 and "does not exist" in res.stderr
