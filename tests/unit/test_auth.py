"""Tokens with roles (shotline.auth) on the query API's real gRPC server: who may call what, the
annotator recorded on a label is the caller's identity, bad token files are refused, and only
hashes are stored. Expected permissions are written out here from the issue's role list, not read
from the service's table."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from services.query.servicer import QUERY_PERMISSIONS, QueryServicer, add_to_server
from shotline.auth import Authenticator, TokenFileError, hash_token, parse_token_file
from shotline.grpcserver import GrpcServer
from shotline.settings import Settings
from shotline.v1 import common_pb2, events_pb2, query_pb2, query_pb2_grpc

NAME = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
TOKENS = {"ads": ("reader", "tok-reader"), "alice": ("annotator", "tok-alice"), "ops": ("admin", "tok-admin"),
          "platform": ("uploader", "tok-upload")}


class Producer:
    """Captures label events (the broker's ack is immediate)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send(self, topic: str, key: bytes, value: bytes):  # type: ignore[no-untyped-def]
        self.sent.append((topic, value))
        return SimpleNamespace(get=lambda timeout: None)


class Registry:
    def video_read_models(self, vids):  # type: ignore[no-untyped-def]  # what the query service calls
        return [self.video_read_model(v) for v in vids]

    def video_read_model(self, vid: str):  # type: ignore[no-untyped-def]
        return ({"categories": [], "taxonomy_version": "t"}, {}) if vid == "v1" else (None, {})

    def exists(self, label: str) -> bool:
        return False


@pytest.fixture()
def api(tmp_path: Path):  # type: ignore[no-untyped-def]
    f = tmp_path / "tokens"
    f.write_text("# who role hash\n" + "".join(f"{who} {role} {hash_token(tok)}\n" for who, (role, tok) in TOKENS.items()))
    producer = Producer()
    auth = Authenticator.from_settings(f, None, QUERY_PERMISSIONS)
    servicer = QueryServicer(Settings(), SimpleNamespace(dims={"joint": 8}), common_pb2.ModelRef(), None, Registry(),
                             producer, auth=auth)
    server = GrpcServer("127.0.0.1:0", [NAME], auth=auth, max_workers=2)
    add_to_server(servicer, server.server)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield SimpleNamespace(stub=query_pb2_grpc.QueryServiceStub(channel), producer=producer, file=f)
    channel.close()
    server.stop(1)


def call(stub, method: str, token: str | None):  # type: ignore[no-untyped-def]
    md = [("authorization", f"Bearer {token}")] if token else []
    req = {"GetVideoCategories": query_pb2.GetVideoCategoriesRequest(video_id="v1"),
           "SubmitLabels": query_pb2.SubmitLabelsRequest(label="cars", description="a red car", annotator="mallory"),
           "DeployClassifier": query_pb2.DeployClassifierRequest(label="cars", version=1)}[method]
    try:
        getattr(stub, method)(req, metadata=md, timeout=5)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


@pytest.mark.parametrize("who,method,allowed", [
    (None, "GetVideoCategories", False), ("ads", "GetVideoCategories", True), ("ads", "SubmitLabels", False),
    ("alice", "GetVideoCategories", True), ("alice", "SubmitLabels", True), ("alice", "DeployClassifier", False),
    ("ops", "SubmitLabels", True), ("ops", "DeployClassifier", True), ("platform", "GetVideoCategories", False),
])
def test_roles(api, who: str | None, method: str, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    code = call(api.stub, method, TOKENS[who][1] if who else None)
    if allowed:  # let in: whatever the handler answers, it is not an auth refusal
        assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), code
    else:
        assert code == (grpc.StatusCode.UNAUTHENTICATED if who is None else grpc.StatusCode.PERMISSION_DENIED)


def test_wrong_and_oversized_tokens_are_unauthenticated(api) -> None:  # type: ignore[no-untyped-def]
    assert call(api.stub, "GetVideoCategories", "tok-admin ") == grpc.StatusCode.UNAUTHENTICATED
    assert call(api.stub, "GetVideoCategories", hash_token("tok-admin")) == grpc.StatusCode.UNAUTHENTICATED
    assert call(api.stub, "GetVideoCategories", "x" * 5000) == grpc.StatusCode.UNAUTHENTICATED


def test_the_label_records_the_caller_not_the_request_field(api) -> None:  # type: ignore[no-untyped-def]
    assert call(api.stub, "SubmitLabels", "tok-alice") == grpc.StatusCode.OK
    (_, value), = api.producer.sent
    assert events_pb2.LabelSubmitted.FromString(value).annotator == "alice"  # not "mallory"


def test_unlisted_methods_are_refused_even_for_admin() -> None:
    auth = Authenticator([("ops", "admin", hash_token("t"))], {"Known": "read"})
    md = [("authorization", "Bearer t")]
    assert auth.decide("/x.S/Known", md).code == "ok"
    assert auth.decide("/x.S/Unknown", md).code == "permission_denied"
    assert auth.decide("/grpc.health.v1.Health/Check", []).code == "ok"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "alice annotator\n", "alice boss sha256:" + "0" * 64,
                                  "alice reader md5:abc", "alice reader sha256:" + "Z" * 64])
def test_bad_token_files_are_refused(text: str) -> None:
    with pytest.raises(TokenFileError):
        parse_token_file(text)


def test_cli_prints_the_token_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    res = subprocess.run([str(Path(sys.executable).parent / "shotline"), "tokens", "new", "alice", "--role", "annotator",
                          "--file", str(f)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    token, = res.stdout.split()
    stored = f.read_text()
    assert token not in stored and hashlib.sha256(token.encode()).hexdigest() in stored
    assert f.stat().st_mode & 0o077 == 0
    auth = Authenticator.from_settings(f, None, {"GetVideoCategories": "read"})
    assert auth.identify([("authorization", f"Bearer {token}")]).name == "alice"  # type: ignore[union-attr]
