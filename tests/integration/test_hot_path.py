"""GetVideoCategories' read-model cache on the real stack: a query service of its own (its own topic
prefix, a cache TTL of an hour, so only an event can make it see a change) beside the stack's encoder.

- a categories document rewritten in Redis is served after its `videos.classified` event (and not
  before: the cache is really in use);
- per-video classifier scores rewritten by a rescore are served after the `models.deployed` event;
- BatchGetVideoCategories answers in request order with the unknown ids in `not_found`, and refuses
  an empty list, an empty id and more than 500 ids with INVALID_ARGUMENT.
"""

from __future__ import annotations

import re
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from shotline.events import new_meta
from shotline.registry import Registry
from shotline.stack import local
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc

from .conftest import service_env, spawn, wait_for
from .test_pipeline import services  # noqa: F401 - module fixture: the stack's encoder

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cache_consumer_up(metrics_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as r:  # noqa: S310
            text = r.read().decode()
    except OSError:
        return False
    return re.search(r"^shotline_query_category_cache_consumer_up_ratio 1(\.0)?$", text, re.M) is not None


class Cached:
    def __init__(self, stub: query_pb2_grpc.QueryServiceStub, producer: KafkaProducer, prefix: str,
                 registry: Registry):
        self.stub, self.producer, self.prefix, self.registry = stub, producer, prefix, registry

    def publish(self, topic: str, key: str, msg) -> None:  # type: ignore[no-untyped-def]
        self.producer.send(f"{self.prefix}.{topic}", key=key.encode(), value=msg.SerializeToString()).get(timeout=30)

    def get(self, video_id: str) -> query_pb2.VideoCategories:
        return self.stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id=video_id), timeout=10)


def start_query(stack: local.Endpoints, services: local.StackSettings, log: Path,  # noqa: F811
                **extra: str) -> tuple[subprocess.Popen[bytes], int, int, str]:
    """A query service of its own beside the stack's encoder: its own topic prefix (the cache's two
    topics created), ports and a cache TTL of an hour. -> (process, gRPC port, metrics port, prefix)"""
    prefix = "t" + uuid.uuid4().hex[:10]
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka)
    admin.create_topics([NewTopic(f"{prefix}.{t}", 3, 1) for t in ("videos.classified", "models.deployed")])
    admin.close()
    for _attempt in range(3):
        # A port found free can be taken by another process before the service binds it: the
        # service then exits at once, and another pair of ports is tried.
        port, metrics_port = _free_port(), _free_port()
        env = service_env(stack, SHOTLINE_TOPIC_PREFIX=prefix, SHOTLINE_QUERY_ADDRESS=f"127.0.0.1:{port}",
                          SHOTLINE_ENCODER_ADDRESS=f"127.0.0.1:{services.encoder_port}",
                          SHOTLINE_METRICS_PORT=str(metrics_port), SHOTLINE_CATEGORY_CACHE_TTL_SECONDS="3600",
                          **extra)
        proc = spawn(["-m", "services.query"], env, log)
        wait_for(lambda: proc.poll() is not None or _listening(port), 120, what="the query service's port")
        if proc.poll() is None:
            return proc, port, metrics_port, prefix
    raise RuntimeError(f"the query service did not start: see {log}")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def cached(stack: local.Endpoints, services: local.StackSettings,  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cached]:
    proc, port, metrics_port, prefix = start_query(stack, services, tmp_path_factory.mktemp("hot_path") / "query.log")
    producer = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    r = redis.Redis.from_url(stack.redis)
    try:
        grpc.channel_ready_future(channel).result(timeout=90)
        wait_for(lambda: _cache_consumer_up(metrics_port), 60, what="the category cache's consumer")
        yield Cached(query_pb2_grpc.QueryServiceStub(channel), producer, prefix, Registry(r))
    finally:
        channel.close()
        producer.close(timeout=5)
        r.close()
        proc.terminate()
        proc.wait(30)


def _doc(*names: str) -> dict:  # type: ignore[type-arg]
    return {"categories": [{"category_id": f"t-{n}", "name": n, "score": 0.8, "threshold": 0.5, "source": "text"}
                           for n in names],
            "taxonomy_version": "test-tax", "model_versions": {"categories": "m1"}, "classified_at_ms": 1}


def _names(res: query_pb2.VideoCategories) -> list[str]:
    return [c.name for c in res.categories]


def test_a_new_classification_is_served_after_its_event(cached: Cached) -> None:
    vid = f"hot-{uuid.uuid4().hex[:8]}"
    cached.registry.set_video_categories(vid, _doc("Sports"))
    assert _names(cached.get(vid)) == ["Sports"]
    # Rewritten with no event: the cached answer stands (the hour-long TTL is far away).
    cached.registry.set_video_categories(vid, _doc("Travel", "Food"))
    assert _names(cached.get(vid)) == ["Sports"]
    # The scorer's way: the document, then videos.classified keyed by the video id.
    cached.publish("videos.classified", vid, events_pb2.VideoClassified(meta=new_meta(vid, "test")))
    wait_for(lambda: _names(cached.get(vid)) == ["Travel", "Food"], 30, what="the new categories served")


def test_unclassified_then_classified_is_served_after_its_event(cached: Cached) -> None:
    vid = f"hot-{uuid.uuid4().hex[:8]}"
    with pytest.raises(grpc.RpcError) as err:
        cached.get(vid)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    cached.registry.set_video_categories(vid, _doc("News"))
    cached.publish("videos.classified", vid, events_pb2.VideoClassified(meta=new_meta(vid, "test")))
    wait_for(lambda: _served(cached, vid) == ["News"], 30, what="a first classification served")


def _served(cached: Cached, vid: str) -> list[str] | None:
    try:
        return _names(cached.get(vid))
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


def test_rescored_classifier_scores_are_served_after_the_deploy(cached: Cached) -> None:
    vid = f"hot-{uuid.uuid4().hex[:8]}"
    cached.registry.set_video_categories(vid, _doc("Autos"))
    cached.registry.set_video_classifier(vid, "hot_label", 1, 0.25)
    first = cached.get(vid)
    assert [(c.label, c.version, c.score) for c in first.classifiers] == [("hot_label", 1, 0.25)]
    cached.registry.set_video_classifiers("hot_label", 2, {vid: -1.5})  # the trainer's rescore
    cached.publish("models.deployed", "hot_label", events_pb2.ModelDeployed(
        meta=new_meta("", "test"), label="hot_label", version=2, kind="trained", reason="auto"))
    wait_for(lambda: [(c.version, c.score) for c in cached.get(vid).classifiers] == [(2, -1.5)], 30,
             what="the rescored classifier served")


def test_batch_answers_in_request_order_with_not_found(cached: Cached) -> None:
    a, b, missing = (f"hot-{uuid.uuid4().hex[:8]}" for _ in range(3))
    cached.registry.set_video_categories(a, _doc("Arts"))
    cached.registry.set_video_categories(b, _doc("Business"))
    cached.get(a)  # one of them already cached, the other not
    res = cached.stub.BatchGetVideoCategories(
        query_pb2.BatchGetVideoCategoriesRequest(video_ids=[b, missing, a, b]), timeout=10)
    assert [v.video_id for v in res.videos] == [b, a, b]
    assert [_names(v) for v in res.videos] == [["Business"], ["Arts"], ["Business"]]
    assert list(res.not_found) == [missing]
    full = cached.stub.BatchGetVideoCategories(
        query_pb2.BatchGetVideoCategoriesRequest(video_ids=[a] * 500), timeout=30)
    assert len(full.videos) == 500


@pytest.mark.parametrize(("ids", "text"), [([], "must not be empty"), (["x", ""], "video_ids[1]"),
                                           (["x"] * 501, "at most 500")])
def test_invalid_batch_is_refused(cached: Cached, ids: list[str], text: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        cached.stub.BatchGetVideoCategories(query_pb2.BatchGetVideoCategoriesRequest(video_ids=ids), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert text in err.value.details()
