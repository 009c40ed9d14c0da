"""TLS and mTLS on the query API's real server with certificates from scripts/make_dev_certs.sh:
a client that trusts the CA (and, for mTLS, presents the certificate) is served; a plaintext
client, or one without a client certificate where mTLS is on, gets no answer."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from services.query.servicer import QueryServicer, add_to_server
from shotline import tls
from shotline.grpcserver import GrpcServer
from shotline.settings import Settings
from shotline.v1 import common_pb2, query_pb2, query_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
NAME = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name


class Registry:
    def video_read_models(self, vids):  # type: ignore[no-untyped-def]  # what the query service calls
        return [self.video_read_model(v) for v in vids]

    def video_read_model(self, vid: str):  # type: ignore[no-untyped-def]
        return {"categories": [], "taxonomy_version": "t1"}, {}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(ROOT / "scripts" / "make_dev_certs.sh"), str(d)], check=True, capture_output=True)
    return d


def _serve(server_settings: Settings) -> GrpcServer:
    servicer = QueryServicer(Settings(), SimpleNamespace(dims={"joint": 8}), common_pb2.ModelRef(), None, Registry(),
                             None)
    server = GrpcServer("localhost:0", [NAME], credentials=tls.server_credentials(server_settings),
                             max_workers=2)
    add_to_server(servicer, server.server)
    return server.start()


def _get(address: str, settings: Settings, server_name: str | None = None) -> str:
    """One GetVideoCategories over `settings`' channel: "served" or the status code's name;
    `server_name` is the name the server's certificate is checked against (default: the host)."""
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else None
    ch = tls.channel(address, settings, options=options)
    try:
        query_pb2_grpc.QueryServiceStub(ch).GetVideoCategories(
            query_pb2.GetVideoCategoriesRequest(video_id="v1"), timeout=5)
        return "served"
    except grpc.RpcError as e:
        return e.code().name
    finally:
        ch.close()


def test_tls_and_mtls(certs: Path) -> None:
    cert, key, ca = certs / "cert.pem", certs / "key.pem", certs / "ca.pem"
    plain, trusting = Settings(), Settings(tls_ca_file=ca)
    with_cert = Settings(tls_ca_file=ca, tls_cert_file=cert, tls_key_file=key)

    server = _serve(Settings(tls_cert_file=cert, tls_key_file=key))
    try:
        addr = f"localhost:{server.port}"
        assert _get(addr, trusting) == "served"
        assert _get(addr, plain) == "UNAVAILABLE"
    finally:
        server.stop(1)

    server = _serve(Settings(tls_cert_file=cert, tls_key_file=key, tls_client_ca_file=ca))
    try:
        addr = f"localhost:{server.port}"
        assert _get(addr, with_cert) == "served"
        assert _get(addr, trusting) == "UNAVAILABLE"  # no client certificate: the handshake fails
        assert _get(addr, plain) == "UNAVAILABLE"
    finally:
        server.stop(1)


def test_a_certificate_without_its_key_is_refused(certs: Path) -> None:
    with pytest.raises(ValueError, match="KEY_FILE"):
        tls.server_credentials(Settings(tls_cert_file=certs / "cert.pem"))


def test_the_install_time_certificate_serves_the_cluster_names() -> None:
    """deploy/k8s/generate-secrets.sh's certificate: mTLS works for a client that dials the query
    Service by its cluster name (the name checked against the certificate), and not for another."""
    from deploy import validate

    validate.ensure_secrets("prod")
    tls_dir = ROOT / "deploy" / "k8s" / "overlays" / "prod" / "secrets" / "tls"
    cert, key, ca = tls_dir / "cert.pem", tls_dir / "key.pem", tls_dir / "ca.pem"
    server = _serve(Settings(tls_cert_file=cert, tls_key_file=key, tls_client_ca_file=ca))
    client = Settings(tls_ca_file=ca, tls_cert_file=cert, tls_key_file=key)

    def get(name: str) -> str:
        return _get(f"127.0.0.1:{server.port}", client, server_name=name)

    try:
        assert get("shotline-query.shotline.svc.cluster.local") == "served"
        assert get("shotline-query") == "served"
        assert get("evil.example.com") == "UNAVAILABLE"
    finally:
        server.stop(1)
