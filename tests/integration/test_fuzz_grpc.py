"""Issue 16, fuzzing: every gRPC method of QueryService and EncoderService, on the real servers.

The services run under the test stack's supervisord exactly as `make up` runs them. Requests go
out as raw bytes through a generic `channel.unary_unary(method)` / `stream_unary` with no
serializer, so the servers' own deserialisation is fuzzed too: random bytes, adversarial byte
strings, well-framed protobuf wire data with wrong types and nested garbage, and well-typed
messages of the method's request type with hostile values (empty, NUL, 70k-character and
invalid strings, extreme numbers, NaN).

Property, per call: OK or one of the documented statuses (below), never INTERNAL/UNKNOWN and
never a hang past the deadline, and the server answers a good request right after. Bytes that are
not the request message answer INVALID_ARGUMENT (grpcserver parses them; gRPC alone would answer
INTERNAL before any Shotline code ran).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor as _descriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shotline.stack import local
from shotline.v1 import encoder_pb2, query_pb2
from tests.unit.test_fuzz_events import ADVERSARIAL, FLOATS, RAW, TEXT, wire

from .test_pipeline import services  # noqa: F401 - module fixture: the stack's services

pytestmark = pytest.mark.integration

# The statuses the APIs document (README Security; grpcserver.py maps BadInput / NotFound /
# TransientError, the encoder's admission control RESOURCE_EXHAUSTED, auth UNAUTHENTICATED /
# PERMISSION_DENIED), and the caller's own deadline.
DOCUMENTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
              grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
              grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.FAILED_PRECONDITION,
              grpc.StatusCode.OUT_OF_RANGE}
DEADLINE_S = 20.0
EXAMPLES = int(os.environ.get("SHOTLINE_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])
# Methods that change shared state get names of their own, so the fuzz never pins, labels or
# uploads over another module's videos and classifiers on this shared stack.
OWN = "fuzz-"
STATS: dict[str, dict[str, int]] = {}


def metadata() -> list[tuple[str, str]]:
    token = os.environ.get("SHOTLINE_API_TOKEN")
    return [("authorization", f"Bearer {token}")] if token else []


@pytest.fixture(scope="module")
def channels(services: local.StackSettings) -> Iterator[dict[str, grpc.Channel]]:
    opts = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    out = {"QueryService": grpc.insecure_channel(f"127.0.0.1:{services.query_port}", options=opts),
           "EncoderService": grpc.insecure_channel(f"127.0.0.1:{services.encoder_port}", options=opts)}
    for ch in out.values():
        grpc.channel_ready_future(ch).result(timeout=120)
    yield out
    for ch in out.values():
        ch.close()


# ---- requests --------------------------------------------------------------------------------
def _scalar(draw: st.DrawFn, f: _descriptor.FieldDescriptor) -> Any:
    t = f.type
    if t == f.TYPE_STRING:
        return draw(TEXT | st.sampled_from(["v1/0", "bikes", "blob://uploads/x/y.mp4", "http://169.254.169.254/",
                                            "file:///etc/passwd", "../../../../etc/shadow"]))
    if t == f.TYPE_BYTES:
        return draw(RAW | ADVERSARIAL)
    if t == f.TYPE_BOOL:
        return draw(st.booleans())
    if t in (f.TYPE_FLOAT, f.TYPE_DOUBLE):
        return draw(FLOATS)
    if t == f.TYPE_ENUM:
        return draw(st.integers(-3, 12))
    lo, hi = {f.TYPE_UINT32: (0, 2**32 - 1), f.TYPE_INT32: (-2**31, 2**31 - 1), f.TYPE_UINT64: (0, 2**64 - 1),
              f.TYPE_INT64: (-2**63, 2**63 - 1)}.get(t, (0, 2**31 - 1))
    return draw(st.integers(lo, hi) | st.sampled_from([lo, hi, 0, 1]))


def _fill(draw: st.DrawFn, msg: Any, depth: int = 0) -> None:
    for f in msg.DESCRIPTOR.fields:
        if not draw(st.booleans()):
            continue
        try:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                kf, vf = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
                for _ in range(draw(st.integers(0, 3))):
                    if vf.message_type is None:
                        getattr(msg, f.name)[_scalar(draw, kf)] = _scalar(draw, vf)
            elif f.message_type is not None:
                if depth >= 3:
                    continue
                if f.is_repeated:
                    for _ in range(draw(st.integers(0, 4) | st.just(600))):  # 600: past the documented list caps
                        _fill(draw, getattr(msg, f.name).add(), depth + 1)
                        if len(getattr(msg, f.name)) > 4 and draw(st.booleans()):
                            break
                else:
                    _fill(draw, getattr(msg, f.name), depth + 1)
                    getattr(msg, f.name).SetInParent()
            elif f.is_repeated:
                n = draw(st.integers(0, 4) | st.sampled_from([300, 600]))
                vals = [_scalar(draw, f)] * n if n > 4 else [_scalar(draw, f) for _ in range(n)]
                getattr(msg, f.name).extend(vals)
            else:
                setattr(msg, f.name, _scalar(draw, f))
        except (ValueError, TypeError):  # a value protobuf itself refuses to hold
            pass


@st.composite
def typed(draw: st.DrawFn, cls: type) -> bytes:
    msg = cls()
    _fill(draw, msg)
    for name in ("label", "video_id"):  # state-changing calls stay in names of their own
        if name in msg.DESCRIPTOR.fields_by_name and cls.__name__ in MUTATING:
            value = getattr(msg, name)
            setattr(msg, name, OWN + value[:40] if draw(st.booleans()) or not value else value)
    return msg.SerializeToString()


MUTATING = {"SubmitLabelsRequest", "DeployClassifierRequest", "LabelVideoCategoriesRequest"}


def parseable(cls: type) -> st.SearchStrategy[bytes]:
    """Bytes that deserialise as `cls` (proto3 parsing is lenient: unknown fields are kept)."""
    def ok(data: bytes) -> bool:
        try:
            cls.FromString(data)
        except Exception:  # noqa: BLE001 - DecodeError, or invalid UTF-8 in a string field
            return False
        return True

    return typed(cls) | (wire() | RAW).filter(ok)


def methods() -> list[tuple[str, str, type, bool]]:
    out = []
    for pb2, service in ((query_pb2, "QueryService"), (encoder_pb2, "EncoderService")):
        for m in pb2.DESCRIPTOR.services_by_name[service].methods:
            req = getattr(pb2, m.input_type.name, None) or _by_name(m.input_type.full_name)
            out.append((service, m.name, req, m.client_streaming))
    return out


def _by_name(full: str) -> type:
    from google.protobuf import symbol_database

    return symbol_database.Default().GetSymbol(full)


METHODS = methods()


def call(channels: dict[str, grpc.Channel], service: str, method: str, streaming: bool,
         body: bytes | list[bytes]) -> grpc.StatusCode:
    path = f"/shotline.v1.{service}/{method}"
    ch = channels[service]
    try:
        if streaming:
            stub = ch.stream_unary(path, request_serializer=None, response_deserializer=None)
            stub(iter(body if isinstance(body, list) else [body]), timeout=DEADLINE_S, metadata=metadata())
        else:
            ch.unary_unary(path, request_serializer=None, response_deserializer=None)(
                body, timeout=DEADLINE_S, metadata=metadata())
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def still_serves(channels: dict[str, grpc.Channel], service: str) -> None:
    """A good request right after: the cheapest one of each API."""
    if service == "QueryService":
        ch = channels[service].unary_unary("/shotline.v1.QueryService/GetVideoCategories",
                                           request_serializer=query_pb2.GetVideoCategoriesRequest.SerializeToString,
                                           response_deserializer=query_pb2.VideoCategories.FromString)
        try:
            ch(query_pb2.GetVideoCategoriesRequest(video_id="fuzz-never-uploaded"), timeout=10, metadata=metadata())
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
    else:
        ch = channels[service].unary_unary("/shotline.v1.EncoderService/GetModelInfo",
                                           request_serializer=encoder_pb2.GetModelInfoRequest.SerializeToString,
                                           response_deserializer=encoder_pb2.ModelInfo.FromString)
        assert ch(encoder_pb2.GetModelInfoRequest(), timeout=10, metadata=metadata()).model.model_id


def _record(method: str, code: grpc.StatusCode) -> None:
    STATS.setdefault(method, {}).setdefault(code.name, 0)
    STATS[method][code.name] += 1


@pytest.mark.parametrize(("service", "method", "cls", "streaming"), METHODS, ids=[f"{s}.{m}" for s, m, _, _ in METHODS])
@FUZZ
@given(data=st.data())
def test_every_method_answers_a_documented_status(channels: dict[str, grpc.Channel], service: str, method: str,
                                                  cls: type, streaming: bool, data: st.DataObject) -> None:
    if streaming:  # UploadVideo: a metadata message (often), then chunks, in any order
        parts = data.draw(st.lists(
            st.builds(lambda m: query_pb2.UploadVideoRequest(metadata=m).SerializeToString(),
                      st.builds(lambda v, f: query_pb2.UploadVideoMetadata(video_id=OWN + v, filename=f),
                                st.text(max_size=12), TEXT))
            | st.builds(lambda b: query_pb2.UploadVideoRequest(chunk=b).SerializeToString(), RAW)
            | parseable(cls), min_size=0, max_size=5))
        body: bytes | list[bytes] = parts
    else:
        body = data.draw(parseable(cls))
    started = time.monotonic()
    code = call(channels, service, method, streaming, body)
    _record(method, code)
    assert code in DOCUMENTED, f"{method}: {code}"
    assert time.monotonic() - started < DEADLINE_S + 5
    still_serves(channels, service)


@FUZZ
@given(data=st.data())
def test_unparseable_request_bytes_are_invalid_argument(channels: dict[str, grpc.Channel], data: st.DataObject) -> None:
    service, method, cls, streaming = data.draw(st.sampled_from(METHODS))

    def bad(b: bytes) -> bool:
        try:
            cls.FromString(b)
        except Exception:  # noqa: BLE001
            return True
        return False

    body = data.draw((RAW | wire() | ADVERSARIAL).filter(bad))
    code = call(channels, service, method, streaming, body)
    still_serves(channels, service)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{method}: {code}"


def test_documented_fuzz_counts(channels: dict[str, grpc.Channel]) -> None:
    """Runs after the fuzz above (file order): every method was called, and print what it answered."""
    if not STATS:
        pytest.skip("reports on the fuzz tests of this module; run with them")
    assert {m for _, m, _, _ in METHODS} <= set(STATS), sorted(set(m for _, m, _, _ in METHODS) - set(STATS))
    for method, codes in sorted(STATS.items()):
        print(f"{method}: {sum(codes.values())} calls, {dict(sorted(codes.items()))}")
