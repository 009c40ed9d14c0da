"""The query API's server (GrpcServer + add_to_server) over real gRPC on loopback: a cached
GetVideoCategories is served without a second read, misses and errors keep their status codes,
client streams work, bytes that are not the message are INVALID_ARGUMENT, the bearer token is
enforced, health stays open, and reflection can be turned off."""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.query.servicer import QUERY_PERMISSIONS, QueryServicer, add_to_server
from shotline.auth import Authenticator
from shotline.grpcserver import GrpcServer
from shotline.settings import Settings
from shotline.v1 import common_pb2, query_pb2, query_pb2_grpc

NAME = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name


class Registry:
    """Just the read-model call, counting reads."""

    def __init__(self, docs: dict[str, dict]) -> None:  # type: ignore[type-arg]
        self.docs, self.reads = docs, []  # type: ignore[var-annotated]

    def video_read_models(self, vids):  # type: ignore[no-untyped-def]  # what the query service calls
        return [self.video_read_model(v) for v in vids]

    def video_read_model(self, vid: str):  # type: ignore[no-untyped-def]
        self.reads.append(vid)
        return self.docs.get(vid), {}

    def exists(self, label: str) -> bool:
        return False


def doc(name: str) -> dict:  # type: ignore[type-arg]
    return {"categories": [{"category_id": name, "name": name, "score": 0.9, "threshold": 0.5, "source": "text"}],
            "taxonomy_version": "t1", "model_versions": {}, "classified_at_ms": 1}


@pytest.fixture()
def served():  # type: ignore[no-untyped-def]
    reg = Registry({"a": doc("Arts"), "b": doc("Bikes")})
    servicer = QueryServicer(Settings(), SimpleNamespace(dims={"joint": 8}), common_pb2.ModelRef(), None, reg, None,
                             categories_cache_ttl_seconds=60)
    servicer.categories_cache.active = True  # type: ignore[union-attr]  # what the invalidation consumer sets
    auth = Authenticator.from_settings(None, "s3cret", QUERY_PERMISSIONS)  # the local stack's shared token
    server = GrpcServer("127.0.0.1:0", [NAME], auth=auth, max_workers=2)
    add_to_server(servicer, server.server)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield SimpleNamespace(reg=reg, server=server, channel=channel, stub=query_pb2_grpc.QueryServiceStub(channel),
                          auth=[("authorization", "Bearer s3cret")])
    channel.close()
    server.stop(1)


def test_a_cached_answer_is_served_without_reading_again(served) -> None:  # type: ignore[no-untyped-def]
    stub, auth, reg = served.stub, served.auth, served.reg
    first = stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id="a"), metadata=auth, timeout=5)
    assert [c.name for c in first.categories] == ["Arts"]
    again = stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id="a"), metadata=auth, timeout=5)
    assert again == first and reg.reads.count("a") == 1


def test_errors_keep_their_codes(served) -> None:  # type: ignore[no-untyped-def]
    stub, auth = served.stub, served.auth
    with pytest.raises(grpc.RpcError) as e:
        stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id="nope"), metadata=auth, timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "not been classified" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id=""), metadata=auth, timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:  # a plain (pool) handler's error mapping
        stub.GetClassifier(query_pb2.GetClassifierRequest(label="no-such-label"), metadata=auth, timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_plain_unary_and_batch_run_in_the_pool(served) -> None:  # type: ignore[no-untyped-def]
    res = served.stub.BatchGetVideoCategories(
        query_pb2.BatchGetVideoCategoriesRequest(video_ids=["b", "zz", "a"]), metadata=served.auth, timeout=5)
    assert [v.video_id for v in res.videos] == ["b", "a"] and list(res.not_found) == ["zz"]


def test_client_stream_handler_runs_and_reports_bad_input(served) -> None:  # type: ignore[no-untyped-def]
    def stream():  # type: ignore[no-untyped-def]
        yield query_pb2.UploadVideoRequest(chunk=b"bytes before any metadata")

    with pytest.raises(grpc.RpcError) as e:
        served.stub.UploadVideo(stream(), metadata=served.auth, timeout=5)
    assert e.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)


def test_token_is_required_but_health_stays_open_and_drains(served) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as e:
        served.stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id="a"), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as e:
        served.stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id="a"),
                                       metadata=[("authorization", "Bearer wrong")], timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    health = health_pb2_grpc.HealthStub(served.channel)
    assert health.Check(health_pb2.HealthCheckRequest(service=NAME), timeout=5).status == \
        health_pb2.HealthCheckResponse.SERVING


def test_bytes_that_are_not_the_message_are_invalid_argument(served) -> None:  # type: ignore[no-untyped-def]
    garbage = b"\xff\xff\xff\xff\x0f"  # a truncated varint: no message parses from it
    for method in ("GetVideoCategories", "GetClassifier"):
        raw = served.channel.unary_unary(f"/{NAME}/{method}")
        with pytest.raises(grpc.RpcError) as e:
            raw(garbage, metadata=served.auth, timeout=5)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "not a valid" in e.value.details()
    upload = served.channel.stream_unary(f"/{NAME}/UploadVideo")
    with pytest.raises(grpc.RpcError) as e:
        upload(iter([garbage]), metadata=served.auth, timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_reflection_can_be_turned_off() -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    def services(reflect: bool) -> str:
        server = GrpcServer("127.0.0.1:0", [NAME], reflect=reflect, max_workers=1).start()
        ch = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        try:
            stub = reflection_pb2_grpc.ServerReflectionStub(ch)
            res = next(iter(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                      timeout=5)))
            return ",".join(s.name for s in res.list_services_response.service)
        except grpc.RpcError as e:
            return e.code().name
        finally:
            ch.close()
            server.stop(1)

    assert NAME in services(True)
    assert services(False) == "UNIMPLEMENTED"


def test_keyword_search_without_a_text_index_says_what_is_missing(served) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as e:
        served.stub.SearchText(query_pb2.SearchTextRequest(query="harbour", mode=query_pb2.SEARCH_MODE_KEYWORD),
                               metadata=served.auth, timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "text index" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        served.stub.SearchText(query_pb2.SearchTextRequest(query="harbour", mode=7), metadata=served.auth, timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "mode" in e.value.details()
