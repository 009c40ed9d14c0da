"""Category backfill on the real stack: plan → two workers over Kafka partitions → interrupt →
resume → every video classified exactly once; a re-plan finds nothing to do."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import redis
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from services.trainer.categories import backfill, datasets, store
from services.trainer.categories import visual_model as vm
from services.trainer.categories.train import fit
from shotline import stores
from shotline.index import ShotRow
from shotline.models import l2_normalize, load_bundle
from shotline.models.build_default import default_bundle_path
from shotline.settings import Settings
from shotline.stack import local
from shotline.taxonomy import load_taxonomy

from .conftest import service_env, spawn, wait_for

pytestmark = pytest.mark.integration
N_VIDEOS = 120


def test_backfill_is_partitioned_resumable_and_idempotent(stack: local.Endpoints, prefix: str, tmp_path: Path) -> None:
    tax = load_taxonomy()
    bundle = load_bundle(default_bundle_path())
    train = datasets.synthetic_benchmark(tax, bundle.encode_text, 300, seed=1)
    val = datasets.synthetic_benchmark(tax, bundle.encode_text, 150, seed=2)
    svc, _ = fit(tax, bundle.encode_text, train, val, set(), kind="meanpool", cfg=vm.TrainConfig(epochs=3))
    svc.save(tmp_path / "model")

    admin = KafkaAdminClient(bootstrap_servers=stack.kafka)
    names = [f"{prefix}.{backfill.TOPIC}", f"{prefix}.{backfill.TOPIC}.dlq", f"{prefix}.videos.classified", f"{prefix}.errors"]
    admin.create_topics([NewTopic(n, 4, 1) for n in names])
    admin.close()
    settings = Settings(kafka_bootstrap_servers=stack.kafka, milvus_uri=stack.milvus, redis_url=stack.redis,
                        topic_prefix=prefix, consumer_group_prefix=prefix)
    index = stores.shot_index(settings, bundle.model_id, bundle.dims)
    index.ensure_collection()
    rng = np.random.default_rng(0)
    rows = [ShotRow(f"{prefix}-v{i}", s, {h: l2_normalize(rng.normal(size=d).astype(np.float32)) for h, d in bundle.dims.items()},
                    catalog_id=prefix, start_ms=s * 1000, end_ms=(s + 1) * 1000)
            for i in range(N_VIDEOS) for s in range(int(rng.integers(1, 5)))]
    index.upsert(rows)

    r = redis.Redis.from_url(stack.redis)
    published, skipped = backfill.plan(settings, index, r, svc.version, svc.m.head, catalog_id=prefix)
    assert (published, skipped) == (N_VIDEOS, 0)

    env = service_env(stack, SHOTLINE_TOPIC_PREFIX=prefix, SHOTLINE_CONSUMER_GROUP_PREFIX=prefix,
                      SHOTLINE_BATCH_MAX_RECORDS="2", SHOTLINE_CATEGORY_MODEL_DIR=str(tmp_path / "model"))
    work = ["-m", "services.trainer.categories.backfill", "work"]
    done = backfill.done_key(prefix, svc.version)
    first = [spawn(work, env, tmp_path / f"w{i}.log") for i in range(2)]
    wait_for(lambda: r.scard(done) >= 8, 180, what="first videos classified")
    for p in first:  # stop mid-way (graceful: finish batch, commit)
        p.send_signal(signal.SIGTERM)
    for p in first:
        p.wait(60)
    assert r.scard(done) < N_VIDEOS, "stopped too late to prove resumption"
    resumed = spawn(work, env, tmp_path / "w2.log")
    try:
        wait_for(lambda: r.scard(done) >= N_VIDEOS, 180, what="all videos classified")
    finally:
        resumed.send_signal(signal.SIGTERM)
        resumed.wait(60)

    log = [v.decode() for v in r.lrange(f"{prefix}:backfill:{svc.version}:log", 0, -1)]
    assert sorted(log) == sorted(f"{prefix}-v{i}" for i in range(N_VIDEOS))  # each exactly once
    stored = store.read(r, prefix, f"{prefix}-v0")
    assert stored is not None and stored["model_version"] == svc.version
    assert stored["taxonomy_version"] == tax.version
    # Nothing left to do for this model version.
    assert backfill.plan(settings, index, r, svc.version, svc.m.head, catalog_id=prefix) == (0, N_VIDEOS)
