"""Scale-out on the real broker: a stack of its own ingests a batch with one process per stage,
is scaled to three per worker stage (`shotline stack up --replicas`), ingests another batch, and
loses a replica mid-batch.

Checked from outside the services: the consumer groups as Kafka describes them (members, every
partition assigned once), each replica's own /metrics (work split), and every video through the
public API (`SearchSimilar` within the video: exactly the shots an offline `segment_video` of the
same file finds, each once). Throughput of both runs is printed, never asserted (`make bench
ONLY=scale` is where speed is measured).
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from kafka import KafkaAdminClient, KafkaProducer

from shotline.events import new_meta
from shotline.stack import local
from shotline.stack.kafka import keys_on_every_partition
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc
from shotline.video import segment_video

from .conftest import wait_for
from .test_pipeline import FIXTURES, Topic

pytestmark = pytest.mark.integration

PORTS = dict(kafka_port=33092, kafka_controller_port=33093, milvus_port=33530, redis_port=33379,
             query_port=33051, encoder_port=33052, console_port=33080, metrics_port_base=33401)
PARTITIONS = 6
SCALED = {"segmenter": 3, "encoder": 3, "indexer": 3}
CLIPS = [FIXTURES / "bigbuckbunny.mp4", FIXTURES / "cockatoo.mp4", FIXTURES / "cityCC0.mpg"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    run = tmp_path_factory.mktemp("scale")
    yield run
    local.down(local.StackSettings(run_dir=run, partitions=PARTITIONS, **PORTS))


@pytest.fixture(scope="module")
def expected() -> dict[Path, int]:
    """Shots per clip, from the segmenter library run offline on the same file."""
    return {clip: len(segment_video(clip).shots) for clip in CLIPS}


def video_ids(tag: str) -> list[str]:
    """Two ids per partition, so every replica has work whatever partitions it is given."""
    return keys_on_every_partition(tag, PARTITIONS, 2)


def ingest(kafka: str, vids: list[str]) -> dict[str, tuple[str, Path]]:
    uploads = {}
    producer = KafkaProducer(bootstrap_servers=kafka, acks="all")
    for n, vid in enumerate(vids):
        clip = CLIPS[n % len(CLIPS)]
        ev = events_pb2.VideoUploaded(meta=new_meta(vid, "test"), uri=str(clip), title=vid, upload_id=str(uuid.uuid4()))
        producer.send("shotline.videos.uploaded", key=vid.encode(), value=ev.SerializeToString())
        uploads[vid] = (ev.upload_id, clip)
    producer.flush()
    producer.close()
    return uploads


def wait_complete(kafka: str, uploads: dict[str, tuple[str, Path]], timeout: float) -> float:
    started = time.monotonic()
    indexed = Topic(local.Endpoints(kafka, "", "", True, True, True), "shotline.shots.indexed", events_pb2.ShotsIndexed)

    def done() -> bool:
        complete = {m.meta.video_id for m in indexed.where(
            lambda m: m.video_complete and uploads.get(m.meta.video_id, ("",))[0] == m.upload_id)}
        return set(uploads) <= complete
    wait_for(done, timeout, interval=1.0, what=f"{len(uploads)} videos indexed")
    return time.monotonic() - started


def assert_each_shot_once(st: local.StackSettings, uploads: dict[str, tuple[str, Path]], expected: dict[Path, int]) -> None:
    stub = query_pb2_grpc.QueryServiceStub(grpc.insecure_channel(f"127.0.0.1:{st.query_port}"))
    for vid, (_upload, clip) in uploads.items():
        res = stub.SearchSimilar(query_pb2.SearchSimilarRequest(
            shot_id=f"{vid}/0", top_k=1000, filters=query_pb2.SearchFilters(video_ids=[vid])), timeout=60)
        indexes = sorted(h.shot.index for h in res.hits)
        assert indexes == list(range(expected[clip])), (vid, clip.name, indexes)


def group_members(kafka: str, group: str) -> dict[str, set[tuple[str, int]]]:
    """member id → the (topic, partition) pairs Kafka assigned it."""
    admin = KafkaAdminClient(bootstrap_servers=kafka, client_id="scale-test")
    try:
        desc = admin.describe_groups([group])[group]
    finally:
        admin.close()
    out = {}
    for m in desc["members"]:
        assignment = m["member_assignment"]
        if not isinstance(assignment, dict):  # mid-rebalance: nothing (decodable) assigned yet
            out[m["member_id"]] = set()
            continue
        parts = assignment.get("assigned_partitions") or assignment.get("assignment") or []
        out[m["member_id"]] = {(t["topic"] if isinstance(t, dict) else t[0], p)
                               for t in parts for p in (t["partitions"] if isinstance(t, dict) else t[1])}
    return out


def consumed(st: local.StackSettings, service: str, replica: int) -> float:
    """Records this replica processed, from its own /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{st.metrics_port(service, replica)}/metrics", timeout=5) as r:  # noqa: S310
        text = r.read().decode()
    return sum(float(v) for v in re.findall(
        rf'^shotline_messages_consumed_total\{{[^}}]*service="{service}"[^}}]*\}} ([0-9.e+]+)$', text, re.M))


def test_one_replica_then_three_per_stage_then_one_lost(run_dir: Path, expected: dict[Path, int]) -> None:
    single = local.StackSettings(run_dir=run_dir, partitions=PARTITIONS, **PORTS)
    ep = local.up(single)

    first = ingest(ep.kafka, video_ids("one"))
    t1 = wait_complete(ep.kafka, first, 300)
    assert_each_shot_once(single, first, expected)

    scaled = local.StackSettings(run_dir=run_dir, partitions=PARTITIONS, replicas=SCALED, **PORTS)
    local.up(scaled)  # the running stack is scaled: supervisord adds the new replicas
    topics_of = {"segmenter": "videos.uploaded", "encoder": "shots.segmented", "indexer": "shots.embedded"}
    for svc, n in SCALED.items():
        def balanced(svc: str = svc, n: int = n) -> dict | None:
            members = group_members(ep.kafka, f"shotline-{svc}")
            owned = [tp for tps in members.values() for tp in tps if tp[0] == f"shotline.{topics_of[svc]}"]
            ok = len(members) == n and sorted(p for _, p in owned) == list(range(PARTITIONS))
            return members if ok and all(members.values()) else None
        wait_for(balanced, 90, interval=1.0, what=f"{svc}: {n} members sharing every partition once")

    before = {(svc, r): consumed(scaled, svc, r) for svc, n in SCALED.items() for r in range(n)}
    second = ingest(ep.kafka, video_ids("three"))
    t3 = wait_complete(ep.kafka, second, 300)
    assert_each_shot_once(scaled, second, expected)
    split = {k: consumed(scaled, *k) - v for k, v in before.items()}
    assert all(n > 0 for n in split.values()), f"a replica did no work: {split}"

    # a replica killed mid-batch: its partitions go to the others, no video is lost
    third = ingest(ep.kafka, video_ids("lost"))
    wait_for(lambda: consumed(scaled, "segmenter", 1) > before[("segmenter", 1)] + split[("segmenter", 1)], 60,
             interval=0.2, what="segmenter-2 busy with the third batch")
    run = run_dir.resolve()
    local._ctl(run, "signal", "KILL", "segmenter-2")
    local._ctl(run, "stop", "segmenter-2")  # and it stays down: the group must absorb its work
    wait_complete(ep.kafka, third, 300)
    assert_each_shot_once(scaled, third, expected)
    # The dead member leaves the group once its session times out (10 s); the batch can finish first
    # when the killed replica had already handed over the video it was on.
    wait_for(lambda: len(group_members(ep.kafka, "shotline-segmenter")) == 2, 60, interval=1.0,
             what="the killed segmenter dropped from its group")
    n = len(first)
    print(f"\n{n} videos: 1 replica per stage {t1:.1f} s ({n / t1 * 60:.0f}/min), "
          f"3 per stage {t3:.1f} s ({n / t3 * 60:.0f}/min) on {__import__('os').cpu_count()} cores; split {split}")
