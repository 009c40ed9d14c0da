"""The query service's recall probe on a live milvus-lite catalog (the local stack's IVF_FLAT, both heads).

An encoder and a query service of their own (the stack's Kafka and Redis, a milvus-lite of their own
so no other test's catalog is touched) with the probe every 2 s. First the catalog is empty: runs are
`empty`, never `error` (milvus-lite 2.5.1 refuses vector reads of an IVF collection with no raw vector
chunk, "Growing segment loss raw data"). Then shots are written the indexer's way while unfiltered
SearchText / SearchSimilar calls feed the probe, and /metrics must publish recall for both kinds.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shotline.index import ShotIndex, ShotRow, collection_name
from shotline.stack import local
from shotline.stack.milvus import MilvusLiteServer
from shotline.v1 import encoder_pb2, encoder_pb2_grpc, query_pb2, query_pb2_grpc

from .conftest import service_env, spawn, wait_for

pytestmark = pytest.mark.integration

PROMPTS = ("a bicycle", "a cockatoo", "a city street at night", "a cartoon rabbit", "a dog on a beach")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def probed(stack: local.Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    d = tmp_path_factory.mktemp("recall-probe")
    milvus = MilvusLiteServer(d, _free_port(), db_name="probe.db")
    milvus.start()
    prefix = "r" + uuid.uuid4().hex[:10]
    local.ensure_topics(stack.kafka, 1, prefix)
    enc_port, q_port, metrics_port = _free_port(), _free_port(), _free_port()
    common = {"SHOTLINE_TOPIC_PREFIX": prefix, "MILVUS_URI": milvus.uri,
              "SHOTLINE_ENCODER_ADDRESS": f"127.0.0.1:{enc_port}", "SHOTLINE_QUERY_ADDRESS": f"127.0.0.1:{q_port}"}
    procs = []
    qch, ech = grpc.insecure_channel(f"127.0.0.1:{q_port}"), grpc.insecure_channel(f"127.0.0.1:{enc_port}")
    try:
        milvus.wait_ready(timeout=60)
        procs.append(spawn(["-m", "services.encoder"], service_env(stack, **common), d / "encoder.log"))
        procs.append(spawn(["-m", "services.query"], service_env(
            stack, SHOTLINE_METRICS_PORT=str(metrics_port), SHOTLINE_RECALL_PROBE_INTERVAL_SECONDS="2",
            SHOTLINE_RECALL_PROBE_SAMPLE_SIZE="8", **common), d / "query.log"))
        try:
            grpc.channel_ready_future(qch).result(timeout=180)
        except grpc.FutureTimeoutError:
            raise AssertionError("query did not start:\n" + (d / "query.log").read_text()[-3000:]) from None
        info = encoder_pb2_grpc.EncoderServiceStub(ech).GetModelInfo(encoder_pb2.GetModelInfoRequest(), timeout=30)
        dims = dict(info.head_dims)
        ix = ShotIndex(milvus.uri, collection_name(info.model.model_id), dims, model_id=info.model.model_id)
        yield SimpleNamespace(q=query_pb2_grpc.QueryServiceStub(qch), metrics_port=metrics_port, index=ix,
                              dims=dims, log=d / "query.log")
        ix.close()
    finally:
        qch.close()
        ech.close()
        for p in procs:
            p.terminate()
            p.wait(30)
        milvus.stop()


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _runs(m: dict) -> dict[str, float]:
    return {dict(k[1])["outcome"]: v for k, v in m.items() if k[0] == "shotline_query_recall_probe_runs_total"}


def test_query_service_publishes_search_recall_on_an_empty_then_live_catalog(probed: SimpleNamespace) -> None:
    q, ix = probed.q, probed.index
    assert ix.index_type == "IVF_FLAT" and set(probed.dims) == {"joint", "visual"}  # what the stack deploys
    assert ix.count() == 0
    for prompt in PROMPTS:  # an empty catalog: nothing found, but the query is recorded
        assert not q.SearchText(query_pb2.SearchTextRequest(query=prompt, top_k=10), timeout=60).hits
    before = _runs(_scrape(probed.metrics_port)).get("empty", 0)
    wait_for(lambda: _runs(_scrape(probed.metrics_port)).get("empty", 0) >= before + 2, 60, interval=0.5,
             what="a recall probe run (begun after the queries) on the empty catalog")
    assert _runs(_scrape(probed.metrics_port)).get("error", 0) == 0, probed.log.read_text()[-3000:]

    rng = np.random.default_rng(11)

    def video(vid: str, n: int, version: str) -> list[ShotRow]:
        V = {h: rng.standard_normal((n, d)).astype(np.float32) for h, d in probed.dims.items()}
        return [ShotRow(video_id=vid, shot_index=i, video_version=version,
                        vectors={h: V[h][i] / np.linalg.norm(V[h][i]) for h in V}) for i in range(n)]

    ix.upsert([r for v in range(40) for r in video(f"v{v}", 25, "u1")])
    stop, errors = threading.Event(), []

    def index_live() -> None:  # the indexer's writes: new videos, re-uploads (upsert in place, then trim)
        n = 0
        try:
            while not stop.is_set():
                ix.upsert(video(f"new{n}", 10, "u1"))
                ix.write(ix.prepare(video(f"v{n % 40}", 5 + n % 20, f"u{n + 2}")))
                ix.replace_video(f"v{n % 40}", f"u{n + 2}")
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writer = threading.Thread(target=index_live, daemon=True)
    writer.start()
    try:
        for prompt in PROMPTS:
            assert q.SearchText(query_pb2.SearchTextRequest(query=prompt, top_k=10), timeout=60).hits
        for shot in ("v30/0", "v31/3", "v32/4"):  # shots 0-4 of every video survive the writer's re-uploads
            assert q.SearchSimilar(query_pb2.SearchSimilarRequest(shot_id=shot, top_k=10), timeout=60).hits

        def published() -> dict | None:
            m = _scrape(probed.metrics_port)
            recall = {dict(k[1])["kind"] for k in m if k[0] == "shotline_query_search_recall_ratio"}
            return m if {"text", "shot"} <= recall and _runs(m).get("ok", 0) >= 1 else None

        m = wait_for(published, 120, interval=1.0, what="the recall probe's first published run")
    finally:
        stop.set()
        writer.join(60)
    assert not errors
    assert _runs(m).get("error", 0) == 0, probed.log.read_text()[-3000:]
    for kind in ("text", "shot"):
        assert 0.5 <= m[("shotline_query_search_recall_ratio", (("kind", kind),))] <= 1.0
        assert m[("shotline_query_recall_probe_sampled_queries", (("kind", kind),))] >= 1
    assert m[("shotline_query_recall_probe_last_success_timestamp_seconds", ())] > 0
