"""Query entrypoint: the gRPC API with health, reflection, metrics and graceful shutdown."""

from __future__ import annotations

import gc
import os
import signal
import threading

from kafka import KafkaProducer

from services.query.categories_cache import Invalidator
from services.query.processes import process_index
from services.query.recall_probe import RecallProbe
from services.query.servicer import QUERY_PERMISSIONS, QueryServicer, add_to_server
from services.query.settings import SERVICE, QuerySettings
from shotline import logs, stores, tls, topics
from shotline.auth import Authenticator
from shotline.blobstore import open_blob_store
from shotline.encoder_client import EncoderClient
from shotline.grpcserver import GrpcServer
from shotline.health import HealthServer, HealthState
from shotline.v1 import events_pb2, query_pb2


def main(s: QuerySettings) -> None:
    """Serve one query process (``processes.main`` starts it, or N of them, from the settings)."""
    logs.configure(s.log_level, s.log_json, SERVICE)
    log = logs.get(SERVICE)
    state = HealthState()
    first = process_index() == 0  # the one process (of grpc_processes) with HTTP and the recall probe
    http = HealthServer(s.metrics_host, s.metrics_port, state).start() if first else None
    encoder = EncoderClient(s)
    index, info = encoder.index(s)
    index.ensure_collection()
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, acks="all", linger_ms=2)
    auth = Authenticator.from_settings(s.api_tokens_file, s.api_token.get_secret_value() if s.api_token else None,
                                       QUERY_PERMISSIONS)
    servicer = QueryServicer(s, index, info.model, encoder, stores.registry(s), producer, auth=auth,
                             blobs=open_blob_store(s), max_upload_bytes=s.max_upload_bytes,
                             categories_cache_ttl_seconds=s.category_cache_ttl_seconds,
                             text_index=stores.shot_text_index(s))
    probe = None
    if s.recall_probe_interval_seconds > 0 and first:
        probe = RecallProbe(index, heads={"text": "joint", "shot": servicer.similar_head},
                            interval_seconds=s.recall_probe_interval_seconds, sample_size=s.recall_probe_sample_size,
                            consistency_level=s.search_consistency).start()
        servicer.recall_probe = probe
    invalidator = None
    if servicer.categories_cache is not None:
        cache = servicer.categories_cache

        def classified(key: bytes | None, value: bytes) -> None:
            vid = key.decode() if key else events_pb2.VideoClassified.FromString(value).meta.video_id
            cache.invalidate(vid)

        cache.start_refresher()
        invalidator = Invalidator(cache, s.kafka_bootstrap_servers, {
            s.topic(topics.VIDEOS_CLASSIFIED): classified,
            s.topic(topics.MODELS_DEPLOYED): lambda key, value: cache.clear("deploy"),
        }, client_id=f"query-cache-{os.getpid()}").start()
    name = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
    server = GrpcServer(s.query_address, [name], auth=servicer.auth, credentials=tls.server_credentials(s),
                        reflect=s.grpc_reflection, max_workers=s.grpc_workers,
                        share_port=s.grpc_processes > 1)
    add_to_server(servicer, server.server)
    gc.freeze()  # start-up objects leave the collector's generations: shorter pauses on the hot path
    server.start()
    state.ready, state.detail = True, f"serving gRPC on {s.query_address}"
    log.info("query serving", address=s.query_address, model=info.model.model_id, process=process_index(),
             metrics_port=http.port if http else None)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("draining")
    state.ready = False
    server.stop(s.grpc_grace_seconds)
    if probe is not None:
        probe.stop()
    if invalidator is not None:
        invalidator.stop()
    producer.close(timeout=5)
    if http is not None:
        http.stop()
    log.info("stopped")
