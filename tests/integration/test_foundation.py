"""The foundation's promises, against the real Apache Kafka, Redis and Milvus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from shotline.stack import local

from .conftest import service_env, spawn, wait_for

pytestmark = pytest.mark.integration

ECHO = ["tests/integration/echo_worker.py"]


def _create(stack: local.Endpoints, *names: str, partitions: int = 4) -> None:
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka)
    admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    admin.close()
    c = KafkaConsumer(bootstrap_servers=stack.kafka)  # wait until the broker's metadata has them
    wait_for(lambda: set(names) <= c.topics(), 30, what="topic metadata")
    c.close()


def _send(stack: local.Endpoints, topic: str, values: list[bytes], key: bytes | None = None) -> None:
    p = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    for i, v in enumerate(values):
        p.send(topic, key=key or str(i).encode(), value=v)
    p.flush()
    p.close()


def _drain(stack: local.Endpoints, topic: str, expect: int, timeout: float = 30) -> list:
    c = KafkaConsumer(topic, bootstrap_servers=stack.kafka, auto_offset_reset="earliest",
                      enable_auto_commit=False, group_id=None, consumer_timeout_ms=1000)
    out: list = []
    deadline = time.monotonic() + timeout
    while len(out) < expect and time.monotonic() < deadline:
        out.extend(c)
    c.close()
    return out


def _echo_env(stack: local.Endpoints, prefix: str, **extra: str) -> dict[str, str]:
    return service_env(stack, **{"SHOTLINE_TOPIC_PREFIX": prefix, "SHOTLINE_CONSUMER_GROUP_PREFIX": prefix,
                                 "SHOTLINE_BATCH_MAX_RECORDS": "8", **extra})


def test_broker_is_apache_kafka_and_topics_have_partitions(stack: local.Endpoints,
                                                           stack_settings: local.StackSettings) -> None:
    pid = int((stack_settings.run_dir / "supervisord.pid").read_text())
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    cmdlines = [Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0") for c in children]
    kafka = [c for c in cmdlines if b"kafka.Kafka" in c]
    assert kafka, "no kafka.Kafka java process under the stack's supervisord"
    assert kafka[0][0].endswith(b"java")
    c = KafkaConsumer(bootstrap_servers=stack.kafka)
    for topic in ("shotline.videos.uploaded", "shotline.videos.uploaded.dlq", "shotline.shots.indexed"):
        assert len(c.partitions_for_topic(topic)) == stack_settings.partitions, topic
    c.close()


def test_consumer_group_of_two_workers_splits_partitions(stack: local.Endpoints, prefix: str,
                                                         tmp_path: Path) -> None:
    _create(stack, f"{prefix}.echo.in", f"{prefix}.echo.out", f"{prefix}.errors", f"{prefix}.echo.in.dlq", f"{prefix}.echo.in.retry")
    env = _echo_env(stack, prefix)
    workers = [spawn(ECHO, env, tmp_path / f"w{i}.log") for i in range(2)]
    try:
        r = redis.Redis.from_url(stack.redis)
        # Keys 0..39 spread over the 4 partitions; both workers must take a share.
        wait_for(lambda: _group_members(stack, f"{prefix}-echo") == 2, 60, what="two group members")
        _send(stack, f"{prefix}.echo.in", [json.dumps({"id": i}).encode() for i in range(40)])
        wait_for(lambda: r.llen(f"{prefix}:deliveries") >= 40, 60, what="40 deliveries")
        owners = {r.get(f"{prefix}:effect:{i}") for i in range(40)}
        assert owners == {str(w.pid).encode() for w in workers}
        assert r.llen(f"{prefix}:deliveries") == 40
    finally:
        for w in workers:
            w.terminate()
            w.wait(30)


def _group_members(stack: local.Endpoints, group: str) -> int:
    """Members of `group` that hold at least one partition (stable group only)."""
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka)
    try:
        desc = admin.describe_groups([group])[group]
        if desc.get("group_state") != "Stable":
            return 0
        return sum(1 for m in desc.get("members", []) if _assigned(m))
    except Exception:  # noqa: BLE001 - group not created yet
        return 0
    finally:
        admin.close()


def _assigned(member: dict) -> bool:
    assigned = (member.get("member_assignment") or {}).get("assigned_partitions") or []
    return any(a["partitions"] for a in assigned)


def test_sigkill_before_commit_redelivers_and_effect_stays_single(stack: local.Endpoints, prefix: str,
                                                                  tmp_path: Path) -> None:
    _create(stack, f"{prefix}.echo.in", f"{prefix}.echo.out", f"{prefix}.errors", f"{prefix}.echo.in.dlq", f"{prefix}.echo.in.retry",
            partitions=1)
    env = _echo_env(stack, prefix)
    _send(stack, f"{prefix}.echo.in", [json.dumps({"id": "a", "crash": True}).encode()])
    w = spawn(ECHO, env, tmp_path / "w1.log")
    assert w.wait(60) == -signal.SIGKILL
    r = redis.Redis.from_url(stack.redis)
    assert r.lrange(f"{prefix}:deliveries", 0, -1) == [b"a"]
    assert _drain(stack, f"{prefix}.echo.out", 1, timeout=3) == []  # nothing produced, nothing committed
    w2 = spawn(ECHO, env, tmp_path / "w2.log")
    try:
        wait_for(lambda: r.llen(f"{prefix}:deliveries") == 2, 60, what="redelivery")
        out = _drain(stack, f"{prefix}.echo.out", 1)
        assert [o.key for o in out] == [b"a"]
        # The sink saw the record twice; the idempotent effect happened once (first pid kept).
        assert r.get(f"{prefix}:effect:a") == str(w.pid).encode()
    finally:
        w2.terminate()
        w2.wait(30)


def test_malformed_message_goes_to_dlq_and_partition_keeps_flowing(stack: local.Endpoints, prefix: str,
                                                                   tmp_path: Path) -> None:
    _create(stack, f"{prefix}.echo.in", f"{prefix}.echo.out", f"{prefix}.errors", f"{prefix}.echo.in.dlq", f"{prefix}.echo.in.retry",
            partitions=1)
    env = _echo_env(stack, prefix)
    _send(stack, f"{prefix}.echo.in",
          [json.dumps({"id": "before"}).encode(), b"\x00garbage{", json.dumps({"id": "after"}).encode()],
          key=b"k")
    w = spawn(ECHO, env, tmp_path / "w.log")
    try:
        r = redis.Redis.from_url(stack.redis)
        wait_for(lambda: r.llen(f"{prefix}:deliveries") == 2, 60, what="good records processed")
        assert r.lrange(f"{prefix}:deliveries", 0, -1) == [b"before", b"after"]
        dlq = _drain(stack, f"{prefix}.echo.in.dlq", 1)
        assert len(dlq) == 1 and dlq[0].value == b"\x00garbage{" and dlq[0].key == b"k"
        headers = dict(dlq[0].headers)
        assert headers["dlq.topic"] == f"{prefix}.echo.in".encode()
        assert headers["dlq.partition"] == b"0" and headers["dlq.offset"] == b"1"
        assert headers["dlq.reason"] == b"malformed_event" and b"not an echo event" in headers["dlq.error"]
        errors = _drain(stack, f"{prefix}.errors", 1)
        assert len(errors) == 1
        assert w.poll() is None, "worker must stay up after a poison message"
    finally:
        w.terminate()
        assert w.wait(30) == 0


def test_sigterm_mid_batch_finishes_commits_and_loses_nothing(stack: local.Endpoints, prefix: str,
                                                              tmp_path: Path) -> None:
    _create(stack, f"{prefix}.echo.in", f"{prefix}.echo.out", f"{prefix}.errors", f"{prefix}.echo.in.dlq", f"{prefix}.echo.in.retry",
            partitions=1)
    env = _echo_env(stack, prefix)
    _send(stack, f"{prefix}.echo.in", [json.dumps({"id": i, "sleep": 0.3}).encode() for i in range(8)], key=b"k")
    w = spawn(ECHO, env, tmp_path / "w1.log")
    r = redis.Redis.from_url(stack.redis)
    wait_for(lambda: r.llen(f"{prefix}:deliveries") >= 2, 60, what="batch under way")
    w.send_signal(signal.SIGTERM)
    assert w.wait(60) == 0
    done_first = r.llen(f"{prefix}:deliveries")
    assert done_first == 8, "the whole polled batch is finished before exit"
    _send(stack, f"{prefix}.echo.in", [json.dumps({"id": "late"}).encode()], key=b"k")
    w2 = spawn(ECHO, env, tmp_path / "w2.log")
    try:
        wait_for(lambda: r.llen(f"{prefix}:deliveries") == 9, 60, what="post-restart record")
        time.sleep(1.0)
        delivered = [d.decode() for d in r.lrange(f"{prefix}:deliveries", 0, -1)]
        assert delivered == [str(i) for i in range(8)] + ["late"]  # nothing lost, nothing repeated
        assert len(_drain(stack, f"{prefix}.echo.out", 9)) == 9
    finally:
        w2.terminate()
        w2.wait(30)


def test_per_record_fault_moves_aside_and_the_partition_keeps_flowing(stack: local.Endpoints, prefix: str,
                                                                    tmp_path: Path) -> None:
    """An upload whose URL never answers must not hold the records behind it: it goes to the
    retry topic (delayed), then the DLQ; a flaky one succeeds on its second try."""
    _create(stack, f"{prefix}.echo.in", f"{prefix}.echo.out", f"{prefix}.errors", f"{prefix}.echo.in.dlq",
            f"{prefix}.echo.in.retry", partitions=1)
    env = _echo_env(stack, prefix, SHOTLINE_RECORD_RETRY_DELAYS_SECONDS="3,3")
    _send(stack, f"{prefix}.echo.in", [json.dumps({"id": "dead", "retryable": -1}).encode(),
                                       json.dumps({"id": "flaky", "retryable": 1}).encode(),
                                       json.dumps({"id": "after"}).encode()], key=b"k")
    w = spawn(ECHO, env, tmp_path / "w.log")
    try:
        r = redis.Redis.from_url(stack.redis)
        wait_for(lambda: r.llen(f"{prefix}:deliveries") == 2, 60, what="flaky and after processed")
        # "after" ran first (within a poll, not after the 3 s retry delay); "flaky" on try 2.
        assert r.lrange(f"{prefix}:deliveries", 0, -1) == [b"after", b"flaky"]
        assert r.get(f"{prefix}:tries:flaky") == b"2"
        (dead,) = _drain(stack, f"{prefix}.echo.in.dlq", 1, timeout=60)
        h = dict(dead.headers)
        assert dead.key == b"k" and json.loads(dead.value)["id"] == "dead"
        assert h["dlq.reason"] == b"retries_exhausted" and h["dlq.attempts"] == b"3"
        assert h["dlq.topic"] == f"{prefix}.echo.in".encode() and h["dlq.offset"] == b"0"
        assert b"fetch_unreachable" in h["dlq.error"]
        assert r.get(f"{prefix}:tries:dead") == b"3"  # first try + two delayed retries
        retried = _drain(stack, f"{prefix}.echo.in.retry", 3, timeout=10)
        assert sorted(dict(x.headers)["retry.attempt"] for x in retried) == [b"2", b"2", b"3"]
        assert w.poll() is None
        wait_for(lambda: _committed_lag(stack, f"{prefix}-echo", [f"{prefix}.echo.in", f"{prefix}.echo.in.retry"]) == 0,
                 10, what="everything committed")
    finally:
        w.terminate()
        assert w.wait(30) == 0


def test_work_longer_than_the_poll_interval_runs_once_while_other_partitions_flow(
        stack: local.Endpoints, prefix: str, tmp_path: Path) -> None:
    _create(stack, f"{prefix}.echo.in", f"{prefix}.echo.out", f"{prefix}.errors", f"{prefix}.echo.in.dlq",
            f"{prefix}.echo.in.retry", partitions=2)
    env = _echo_env(stack, prefix, SHOTLINE_MAX_POLL_INTERVAL_MS="3000", SHOTLINE_WORKER_CONCURRENCY="2")
    w = spawn(ECHO, env, tmp_path / "w.log")
    p = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    try:
        r = redis.Redis.from_url(stack.redis)
        p.send(f"{prefix}.echo.in", partition=0, key=b"a", value=json.dumps({"id": "long", "sleep": 12}).encode())
        p.flush()
        wait_for(lambda: r.lrange(f"{prefix}:started", 0, -1), 60, what="long record started")
        time.sleep(1)
        assert r.lrange(f"{prefix}:started", 0, -1) == [b"long"]
        for i in range(3):
            p.send(f"{prefix}.echo.in", partition=1, key=b"b", value=json.dumps({"id": f"p1-{i}"}).encode())
        p.send(f"{prefix}.echo.in", partition=0, key=b"a", value=json.dumps({"id": "p0-after"}).encode())
        p.flush()
        wait_for(lambda: r.llen(f"{prefix}:deliveries") >= 3, 20, what="other partition flowing")
        seen = r.lrange(f"{prefix}:deliveries", 0, -1)
        assert seen[:3] == [b"p1-0", b"p1-1", b"p1-2"], seen  # while the long one still runs
        wait_for(lambda: r.llen(f"{prefix}:deliveries") == 5, 60, what="long record and the one behind it")
        time.sleep(4)  # a member evicted mid-job would now get the record again
        delivered = [d.decode() for d in r.lrange(f"{prefix}:deliveries", 0, -1)]
        assert delivered.count("long") == 1 and delivered[-2:] == ["long", "p0-after"]
        assert [o.key for o in _drain(stack, f"{prefix}.echo.out", 5)].count(b"long") == 1
        wait_for(lambda: _committed_lag(stack, f"{prefix}-echo", [f"{prefix}.echo.in"]) == 0, 10,
                 what="everything committed")
        assert w.poll() is None
    finally:
        p.close()
        w.terminate()
        assert w.wait(30) == 0


def test_paused_partitions_with_fetched_backlog_are_read_again(stack: local.Endpoints, prefix: str,
                                                               tmp_path: Path) -> None:
    """A partition paused while the client holds fetched-but-unreturned records for it must be
    read again once resumed (kafka-python 3.0.12 parks them and could leave them parked)."""
    _create(stack, f"{prefix}.echo.in", f"{prefix}.echo.out", f"{prefix}.errors", f"{prefix}.echo.in.dlq",
            f"{prefix}.echo.in.retry", partitions=3)
    p = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    for part in range(3):
        for i in range(4):
            p.send(f"{prefix}.echo.in", partition=part, key=b"k",
                   value=json.dumps({"id": f"{part}-{i}", "sleep": 0.3}).encode())
    p.flush()
    p.close()
    env = _echo_env(stack, prefix, SHOTLINE_BATCH_MAX_RECORDS="1", SHOTLINE_WORKER_CONCURRENCY="2")
    w = spawn(ECHO, env, tmp_path / "w.log")
    try:
        r = redis.Redis.from_url(stack.redis)
        wait_for(lambda: r.llen(f"{prefix}:deliveries") >= 12, 90, what="all 12 records processed")
        delivered = [d.decode() for d in r.lrange(f"{prefix}:deliveries", 0, -1)]
        assert sorted(delivered) == sorted(f"{part}-{i}" for part in range(3) for i in range(4))
        for part in range(3):  # order within a partition holds
            mine = [d for d in delivered if d.startswith(f"{part}-")]
            assert mine == [f"{part}-{i}" for i in range(4)]
        wait_for(lambda: _committed_lag(stack, f"{prefix}-echo", [f"{prefix}.echo.in"]) == 0, 10,
                 what="everything committed")
    finally:
        w.terminate()
        assert w.wait(30) == 0


def _committed_lag(stack: local.Endpoints, group: str, names: list[str]) -> int:
    """Records not yet committed by `group` across `names` (end offsets minus commits)."""
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka)
    c = KafkaConsumer(bootstrap_servers=stack.kafka)
    try:
        committed = admin.list_group_offsets(group)[group]
        tps = [tp for n in names for tp in (TopicPartition(n, p) for p in c.partitions_for_topic(n))]
        ends = c.end_offsets(tps)
        return sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps)
    finally:
        c.close()
        admin.close()


def test_up_twice_is_harmless(stack: local.Endpoints, stack_settings: local.StackSettings) -> None:
    pid_file = stack_settings.run_dir / "supervisord.pid"
    before = pid_file.read_text()
    ep = local.up(stack_settings, with_services=False)
    assert ep == stack
    assert pid_file.read_text() == before  # the same supervisord: nothing was restarted
    assert "RUNNING" in local.status(stack_settings)


def test_down_leaves_no_process(tmp_path: Path) -> None:
    st = local.StackSettings(run_dir=tmp_path / "run", kafka_port=39092, kafka_controller_port=39093,
                             milvus_port=39530, redis_port=36379, metrics_port_base=39401, partitions=2)
    local.up(st, with_services=False)
    pid = int((st.run_dir / "supervisord.pid").read_text())
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 3  # kafka, milvus, redis
    assert local.down(st)
    for p in [pid, *map(int, children)]:
        with pytest.raises(ProcessLookupError):
            os.kill(p, 0)
    assert not local.down(st)  # second down: nothing to do
