"""Category backfill on the real stack, with the running default model (no configuration):
plan → two scorers (the backfill's workers) over Kafka partitions → interrupt → resume → every
video classified exactly once and served by `GetVideoCategories`; a re-plan finds nothing to do."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import numpy as np
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from services.scorer import backfill
from shotline.categories.train import running_model
from shotline import stores
from shotline.index import ShotRow
from shotline.models import l2_normalize, load_bundle
from shotline.models.build_default import default_bundle_path
from shotline.registry import Registry
from shotline.settings import Settings
from shotline.stack import local
from shotline.taxonomy import load_taxonomy
from shotline.v1 import query_pb2, query_pb2_grpc

from .conftest import service_env, spawn, wait_for
from .test_pipeline import query, services  # noqa: F401 - module fixtures: the stack's own services

pytestmark = pytest.mark.integration
N_VIDEOS = 120


def _served(query: query_pb2_grpc.QueryServiceStub, video_id: str) -> query_pb2.VideoCategories | None:  # noqa: F811
    try:
        return query.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id=video_id), timeout=10)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


def test_backfill_is_served_partitioned_resumable_and_idempotent(
        stack: local.Endpoints, prefix: str, tmp_path: Path, query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
        services: local.StackSettings) -> None:  # noqa: F811
    tax = load_taxonomy()
    bundle = load_bundle(default_bundle_path())
    # What `make backfill` runs with nothing configured: the trainer's own day-one model.
    svc = running_model(None, tax, bundle.encode_text, text_model_id=f"{bundle.model_id}:{bundle.version}")

    admin = KafkaAdminClient(bootstrap_servers=stack.kafka)
    # The scorer group's whole subscription (written out, not read from the code) and its outputs.
    names = [f"{prefix}.{t}{twin}" for t in ("categories.backfill", "shots.indexed", "videos.transcribed")
             for twin in ("", ".retry", ".dlq")]
    names += [f"{prefix}.videos.classified", f"{prefix}.errors"]
    admin.create_topics([NewTopic(n, 4, 1) for n in names])
    admin.close()
    settings = Settings(kafka_bootstrap_servers=stack.kafka, milvus_uri=stack.milvus, redis_url=stack.redis,
                        topic_prefix=prefix, consumer_group_prefix=prefix)
    index = stores.shot_index(settings, bundle.model_id, bundle.dims)
    index.ensure_collection()
    rng = np.random.default_rng(0)
    rows = [ShotRow(f"{prefix}-v{i}", s, {h: l2_normalize(rng.normal(size=d).astype(np.float32)) for h, d in bundle.dims.items()},
                    catalog_id=prefix, start_ms=s * 1000, end_ms=(s + 1) * 1000, video_version="u1")
            for i in range(N_VIDEOS) for s in range(int(rng.integers(1, 5)))]
    index.upsert(rows)
    videos = [f"{prefix}-v{i}" for i in range(N_VIDEOS)]
    # Nothing classified them yet. (Asked of a video not read again below: the query service
    # caches "not classified" until a videos.classified event on *its* topic prefix evicts it,
    # and this test's backfill publishes under its own prefix.)
    assert _served(query, videos[1]) is None

    registry = Registry(stores.redis_client(settings))
    published, skipped = backfill.plan(settings, index, registry, svc.version, svc.m.head, catalog_id=prefix)
    assert (published, skipped) == (N_VIDEOS, 0)

    env = service_env(stack, SHOTLINE_TOPIC_PREFIX=prefix, SHOTLINE_CONSUMER_GROUP_PREFIX=prefix,
                      SHOTLINE_BATCH_MAX_RECORDS="2", SHOTLINE_ENCODER_ADDRESS=f"127.0.0.1:{services.encoder_port}")
    env.pop("SHOTLINE_CATEGORY_MODEL_DIR", None)
    work = ["-m", "services.scorer"]

    def done() -> int:
        return registry.backfill_progress(prefix, svc.version)[0]

    first = [spawn(work, env, tmp_path / f"w{i}.log") for i in range(2)]
    wait_for(lambda: done() >= 8, 180, what="first videos classified")
    for p in first:  # stop mid-way (graceful: finish batch, commit)
        p.send_signal(signal.SIGTERM)
    for p in first:
        p.wait(60)
    assert done() < N_VIDEOS, "stopped too late to prove resumption"
    resumed = spawn(work, env, tmp_path / "w2.log")
    try:
        wait_for(lambda: done() >= N_VIDEOS, 180, what="all videos classified")
    finally:
        resumed.send_signal(signal.SIGTERM)
        resumed.wait(60)

    assert sorted(registry.backfill_log(prefix, svc.version)) == sorted(videos)  # each exactly once
    # Served through the public API, exactly as the real-time path's results are.
    for vid in (videos[0], videos[57], videos[-1]):
        got = _served(query, vid)
        assert got is not None, f"{vid}: backfilled categories are not served"
        assert got.model_versions["categories"] == svc.version and got.taxonomy_version == tax.version
        assert got.classified_at_ms > 0
    # Nothing left to do for this model version.
    assert backfill.plan(settings, index, registry, svc.version, svc.m.head, catalog_id=prefix) == (0, N_VIDEOS)
