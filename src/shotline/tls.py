"""Optional TLS for the gRPC APIs, and mTLS between services.

Server side: ``SHOTLINE_TLS_CERT_FILE`` + ``SHOTLINE_TLS_KEY_FILE`` serve TLS; adding
``SHOTLINE_TLS_CLIENT_CA_FILE`` requires every client to present a certificate signed by that CA
(mTLS). Client side (a service calling another, the CLI, the console): ``SHOTLINE_TLS_CA_FILE``
turns TLS on and is what the server's certificate must chain to; the same cert/key, when set, are
presented as the client certificate. Unset: plaintext (a local stack). Certificates for one
machine: ``scripts/make_dev_certs.sh``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc

from shotline.settings import Settings


def _read(path: Path | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if not settings.tls_cert_file:
        return None
    if not settings.tls_key_file:
        raise ValueError("SHOTLINE_TLS_CERT_FILE needs SHOTLINE_TLS_KEY_FILE")
    client_ca = _read(settings.tls_client_ca_file)
    return grpc.ssl_server_credentials([(_read(settings.tls_key_file), _read(settings.tls_cert_file))],
                                       root_certificates=client_ca, require_client_auth=client_ca is not None)


def channel(address: str, settings: Settings, options: list[tuple[str, Any]] | None = None) -> grpc.Channel:
    """A channel to another Shotline service: TLS (with our certificate for mTLS) when configured."""
    if not settings.tls_ca_file:
        return grpc.insecure_channel(address, options=options)
    creds = grpc.ssl_channel_credentials(
        root_certificates=_read(settings.tls_ca_file),
        private_key=_read(settings.tls_key_file) if settings.tls_cert_file else None,
        certificate_chain=_read(settings.tls_cert_file))
    return grpc.secure_channel(address, creds, options=options)
