"""Tokens with roles on the real services: an encoder and a query service of their own (own topic
prefix), each reading a token file made with `shotline tokens new`, on the running stack.

- the query service starts only because its own `service` credential is accepted by the encoder
  (GetModelInfo at start-up), while a person's reader token is refused there;
- a reader searches (query → encoder with the service credential) and reads categories, but may not
  label, deploy or upload; no token / a wrong token is UNAUTHENTICATED; health stays open;
- an annotator's label reaches `labels.submitted` with the annotator's identity, not the name the
  request claims; an admin may deploy (the unknown label is then NOT_FOUND, not PERMISSION_DENIED).
Expected permissions are spelled out here from the issue's role list.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaConsumer, TopicPartition

from shotline.stack import local
from shotline.v1 import encoder_pb2, encoder_pb2_grpc, events_pb2, query_pb2, query_pb2_grpc

from .conftest import service_env, spawn

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _new_token(file: Path, identity: str, role: str) -> str:
    out = subprocess.run([str(Path(sys.executable).parent / "shotline"), "tokens", "new", identity, "--role", role,
                          "--file", str(file)], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def secured(stack: local.Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    d = tmp_path_factory.mktemp("auth")
    prefix = "a" + uuid.uuid4().hex[:10]
    local.ensure_topics(stack.kafka, 1, prefix)
    tokens = d / "tokens"
    t = {who: _new_token(tokens, who, role) for who, role in
         [("query", "service"), ("ads", "reader"), ("alice", "annotator"), ("ops", "admin")]}
    enc_port, q_port = _free_port(), _free_port()
    common = {"SHOTLINE_TOPIC_PREFIX": prefix, "SHOTLINE_API_TOKENS_FILE": str(tokens),
              "SHOTLINE_ENCODER_ADDRESS": f"127.0.0.1:{enc_port}", "SHOTLINE_QUERY_ADDRESS": f"127.0.0.1:{q_port}"}
    encoder = spawn(["-m", "services.encoder"], service_env(stack, **common), d / "encoder.log")
    query = spawn(["-m", "services.query"], service_env(stack, SHOTLINE_API_TOKEN=t["query"], **common),
                  d / "query.log")
    qch, ech = grpc.insecure_channel(f"127.0.0.1:{q_port}"), grpc.insecure_channel(f"127.0.0.1:{enc_port}")
    try:
        try:
            grpc.channel_ready_future(qch).result(timeout=180)
        except grpc.FutureTimeoutError:
            raise AssertionError("query did not start:\n" + (d / "query.log").read_text()[-3000:]) from None
        yield SimpleNamespace(q=query_pb2_grpc.QueryServiceStub(qch), enc=encoder_pb2_grpc.EncoderServiceStub(ech),
                              health=health_pb2_grpc.HealthStub(qch), tokens=t, prefix=prefix, kafka=stack.kafka)
    finally:
        qch.close()
        ech.close()
        for p in (query, encoder):
            p.terminate()
            p.wait(30)


def _md(token: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def _code(fn, request, token: str | None) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    try:
        fn(request, metadata=_md(token), timeout=60)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def test_service_credential_is_accepted_and_people_cannot_call_the_encoder(secured) -> None:  # type: ignore[no-untyped-def]
    # The query service is up, so the encoder accepted its service token (GetModelInfo at start-up).
    req = encoder_pb2.EncodeTextRequest(texts=["a bike"])
    assert _code(secured.enc.EncodeText, req, secured.tokens["query"]) == grpc.StatusCode.OK
    assert _code(secured.enc.EncodeText, req, secured.tokens["ads"]) == grpc.StatusCode.PERMISSION_DENIED
    assert _code(secured.enc.EncodeText, req, None) == grpc.StatusCode.UNAUTHENTICATED


def test_reader_reads_but_cannot_write(secured) -> None:  # type: ignore[no-untyped-def]
    q, ads = secured.q, secured.tokens["ads"]
    res = q.SearchText(query_pb2.SearchTextRequest(query="a bike on a road", top_k=5), metadata=_md(ads), timeout=60)
    assert res.head  # searched: the text went to the encoder with the query's own credential
    assert _code(q.GetVideoCategories, query_pb2.GetVideoCategoriesRequest(video_id="nobody"), ads) == \
        grpc.StatusCode.NOT_FOUND
    label = query_pb2.SubmitLabelsRequest(label="bikes", description="a bike")
    assert _code(q.SubmitLabels, label, ads) == grpc.StatusCode.PERMISSION_DENIED
    assert _code(q.DeployClassifier, query_pb2.DeployClassifierRequest(label="bikes", version=1), ads) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert _code(q.GetVideoCategories, query_pb2.GetVideoCategoriesRequest(video_id="x"), None) == \
        grpc.StatusCode.UNAUTHENTICATED
    assert _code(q.GetVideoCategories, query_pb2.GetVideoCategoriesRequest(video_id="x"), ads + "x") == \
        grpc.StatusCode.UNAUTHENTICATED
    assert secured.health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING


def test_label_records_the_annotators_identity(secured) -> None:  # type: ignore[no-untyped-def]
    topic = f"{secured.prefix}.labels.submitted"
    consumer = KafkaConsumer(bootstrap_servers=secured.kafka, consumer_timeout_ms=20_000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_end(tp)
    start = consumer.position(tp)
    res = secured.q.SubmitLabels(query_pb2.SubmitLabelsRequest(label="bikes", description="a bike on a road",
                                                               annotator="mallory"),
                                 metadata=_md(secured.tokens["alice"]), timeout=60)
    consumer.seek(tp, start)
    events = [events_pb2.LabelSubmitted.FromString(m.value) for m in consumer]
    consumer.close()
    mine = [e for e in events if e.meta.event_id == res.event_id]
    assert [e.annotator for e in mine] == ["alice"]


def test_admin_may_deploy(secured) -> None:  # type: ignore[no-untyped-def]
    req = query_pb2.DeployClassifierRequest(label="never-made", version=1)
    assert _code(secured.q.DeployClassifier, req, secured.tokens["ops"]) == grpc.StatusCode.NOT_FOUND
    assert _code(secured.q.DeployClassifier, req, secured.tokens["alice"]) == grpc.StatusCode.PERMISSION_DENIED
