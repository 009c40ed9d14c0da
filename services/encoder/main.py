"""Encoder entrypoint: load the bundle once, serve the online API, run the worker loop."""

from __future__ import annotations

from pydantic import Field

from services.encoder.api import ENCODER_PERMISSIONS, EncoderServicer, OnlineLimits, online_sources
from services.encoder.embedding import ShotEncoder
from services.encoder.handler import SERVICE, EmbedHandler
from shotline import logs, tls, topics
from shotline.auth import Authenticator
from shotline.blobstore import open_blob_store
from shotline.grpcserver import GrpcServer
from shotline.models.runtime import load_bundle
from shotline.settings import Settings
from shotline.v1 import encoder_pb2, encoder_pb2_grpc
from shotline.worker import run_service


class EncoderSettings(Settings):
    service_name: str = SERVICE
    batch_max_records: int = Field(16, ge=1, le=1024)  # shots-segmented events per batch
    poll_timeout_ms: int = Field(100, ge=10)            # the batching window (max wait)
    grpc_grace_seconds: float = Field(10.0, gt=0)
    grpc_share_port: bool = False  # replicas on one host share the online API's port (SO_REUSEPORT)


def main() -> None:
    s = EncoderSettings()
    logs.configure(s.log_level, s.log_json, SERVICE)
    model = load_bundle(s.bundle_path, s.ort_providers or None)
    logs.get("encoder").info("model loaded", model=model.model_id, version=model.version,
                             provider=model.provider, heads=model.dims)
    blobs = open_blob_store(s)
    encoder = ShotEncoder(model, blobs)
    server = GrpcServer(f"{s.encoder_address}", [encoder_pb2.DESCRIPTOR.services_by_name["EncoderService"].full_name],
                        auth=Authenticator.from_settings(s.api_tokens_file, s.api_token.get_secret_value()
                                                         if s.api_token else None, ENCODER_PERMISSIONS),
                        credentials=tls.server_credentials(s), reflect=s.grpc_reflection,
                        share_port=s.grpc_share_port)
    server.add_servicer(encoder_pb2_grpc.add_EncoderServiceServicer_to_server,
                        EncoderServicer(encoder, online_sources(s, blobs), OnlineLimits.from_settings(s)))
    server.start()
    try:
        run_service(s, SERVICE, topics.SUBSCRIPTIONS[SERVICE], EmbedHandler(s, encoder))
    finally:
        server.stop(s.grpc_grace_seconds)
