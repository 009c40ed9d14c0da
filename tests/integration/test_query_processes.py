"""The query service as several serving processes on one port (SHOTLINE_GRPC_PROCESSES=2), on the
real stack:

- connections are spread over both processes, each with its own read-model cache: a fresh video
  asked over 16 connections misses exactly once per process, and process 0's /metrics counts the
  lookups of both (multiprocess metrics);
- a `videos.classified` event reaches every process's cache (each has its own consumer);
- SIGTERM stops every process cleanly; a serving process that dies on its own takes the whole
  replica down (non-zero exit, the other process gone), so Kubernetes restarts it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import redis
from kafka import KafkaProducer

from shotline.events import new_meta
from shotline.registry import Registry
from shotline.stack import local
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc

from .conftest import wait_for
from .test_hot_path import _cache_consumer_up, start_query
from .test_pipeline import services  # noqa: F401 - module fixture: the stack's encoder

pytestmark = pytest.mark.integration

CONNECTIONS = 16  # all on one process of two: p = 2 / 2**16


def _cache_calls(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:  # noqa: S310 - loopback
        text = r.read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^shotline_query_category_cache_total\{outcome="(\w+)"\} ([0-9.e+]+)$', text, re.M)}


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    address: str
    metrics_port: int
    prefix: str


def _start(stack: local.Endpoints, services: local.StackSettings, log: Path) -> Replica:  # noqa: F811
    proc, port, metrics_port, prefix = start_query(stack, services, log, SHOTLINE_GRPC_PROCESSES="2",
                                                   SHOTLINE_RECALL_PROBE_INTERVAL_SECONDS="0")
    # Ready = both processes have bound the port and both caches' consumers hold their positions.
    wait_for(lambda: proc.poll() is None and len(_children(proc.pid)) == 2 and _cache_consumer_up(metrics_port),
             120, what="two serving processes with their cache consumers up")
    return Replica(proc, f"127.0.0.1:{port}", metrics_port, prefix)


def _stubs(address: str) -> list[query_pb2_grpc.QueryServiceStub]:
    # A local subchannel pool per channel: each its own TCP connection (channels share one by default).
    channels = [grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(CONNECTIONS)]
    for ch in channels:
        grpc.channel_ready_future(ch).result(timeout=60)
    return [query_pb2_grpc.QueryServiceStub(ch) for ch in channels]


@pytest.fixture(scope="module")
def replica(stack: local.Endpoints, services: local.StackSettings,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    r = _start(stack, services, tmp_path_factory.mktemp("processes") / "query.log")
    children = _children(r.proc.pid)
    try:
        yield r
    finally:
        r.proc.send_signal(signal.SIGTERM)
        code = r.proc.wait(60)
    assert code == 0, "SIGTERM must stop the replica cleanly"
    assert not any(Path(f"/proc/{c}").exists() for c in children), "a serving process outlived its parent"


def _doc(name: str) -> dict:  # type: ignore[type-arg]
    return {"categories": [{"category_id": f"t-{name}", "name": name, "score": 0.8, "threshold": 0.5,
                            "source": "text"}], "taxonomy_version": "test-tax",
            "model_versions": {"categories": "m1"}, "classified_at_ms": 1}


def _names(stub: query_pb2_grpc.QueryServiceStub, vid: str) -> list[str]:
    res = stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id=vid), timeout=10)
    return [c.name for c in res.categories]


def test_connections_reach_both_processes_and_metrics_sum_them(replica: Replica, stack: local.Endpoints) -> None:
    r = redis.Redis.from_url(stack.redis)
    vid = f"proc-{uuid.uuid4().hex[:8]}"
    Registry(r).set_video_categories(vid, _doc("Sports"))
    stubs = _stubs(replica.address)
    before = _cache_calls(replica.metrics_port)
    assert [_names(s, vid) for s in stubs] == [["Sports"]] * CONNECTIONS
    after = _cache_calls(replica.metrics_port)
    r.close()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in ("hit", "miss", "bypass")}
    # One miss per process (its own cache), every other lookup a hit, all counted on one endpoint.
    assert delta == {"hit": CONNECTIONS - 2, "miss": 2, "bypass": 0}


def test_an_event_reaches_every_process(replica: Replica, stack: local.Endpoints) -> None:
    r = redis.Redis.from_url(stack.redis)
    reg = Registry(r)
    vid = f"proc-{uuid.uuid4().hex[:8]}"
    reg.set_video_categories(vid, _doc("Travel"))
    stubs = _stubs(replica.address)
    assert {tuple(_names(s, vid)) for s in stubs} == {("Travel",)}
    reg.set_video_categories(vid, _doc("Food"))  # no event yet: every process still serves its cached copy
    assert {tuple(_names(s, vid)) for s in stubs} == {("Travel",)}
    producer = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    producer.send(f"{replica.prefix}.videos.classified", key=vid.encode(),
                  value=events_pb2.VideoClassified(meta=new_meta(vid, "test")).SerializeToString()).get(timeout=30)
    producer.close(timeout=5)
    r.close()
    wait_for(lambda: {tuple(_names(s, vid)) for s in stubs} == {("Food",)}, 30,
             what="the new categories served by every process")


def test_a_dead_serving_process_takes_the_replica_down(stack: local.Endpoints, services: local.StackSettings,  # noqa: F811
                                                       tmp_path: Path) -> None:
    r = _start(stack, services, tmp_path / "query.log")
    first, second = _children(r.proc.pid)
    os.kill(second, signal.SIGKILL)
    try:
        code = r.proc.wait(60)
    except subprocess.TimeoutExpired:
        r.proc.kill()
        raise
    assert code != 0, "a replica missing a serving process must not carry on as healthy"
    wait_for(lambda: not Path(f"/proc/{first}").exists() or "Z" in Path(f"/proc/{first}/stat").read_text().split()[2],
             30, what="the other serving process stopped")
    assert "serving process 1" in (tmp_path / "query.log").read_text()


def _allowed(pid: int) -> set[int]:
    """A process's cpuset, as the kernel reports it (``Cpus_allowed_list: 0-1`` or ``0,2``)."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("Cpus_allowed_list"))
    cores: set[int] = set()
    for part in line.split(":", 1)[1].strip().split(","):
        lo, _, hi = part.partition("-")
        cores |= set(range(int(lo), int(hi or lo) + 1))
    return cores


def test_each_process_gets_a_core_of_its_own_when_the_cpuset_has_one_each(replica: Replica) -> None:
    given = _allowed(replica.proc.pid)
    got = sorted((_allowed(c) for c in _children(replica.proc.pid)), key=min)
    if len(given) == 2:  # this machine: 2 cores for 2 processes
        assert got == [{c} for c in sorted(given)]
    else:  # a shared pool: left to the scheduler
        assert got == [given, given]
