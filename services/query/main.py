"""Query entrypoint: the gRPC API with health, reflection, metrics and graceful shutdown."""

from __future__ import annotations

import gc
import os
import signal
import threading

from kafka import KafkaProducer
from pydantic import Field

from services.query.categories_cache import Invalidator
from services.query.recall_probe import RecallProbe
from services.query.servicer import QUERY_PERMISSIONS, QueryServicer, add_to_server
from shotline import logs, stores, tls, topics
from shotline.auth import Authenticator
from shotline.blobstore import open_blob_store
from shotline.encoder_client import EncoderClient
from shotline.grpcserver import GrpcServer
from shotline.health import HealthServer, HealthState
from shotline.settings import Settings
from shotline.v1 import events_pb2, query_pb2

SERVICE = "query"


class QuerySettings(Settings):
    service_name: str = SERVICE
    grpc_grace_seconds: float = Field(10.0, gt=0)  # < the pod's terminationGracePeriodSeconds
    # Handler threads share one GIL: beyond ~2 per core they only contend (measured on 2 cores:
    # 4 threads serve GetVideoCategories at 64 clients with 1.9x the QPS and 1/4 the p99 of 64).
    grpc_workers: int = Field(default_factory=lambda: 2 * len(os.sched_getaffinity(0)), ge=1, le=512)
    max_upload_bytes: int = Field(2 * 1024**3, gt=0)  # UploadVideo: bigger streams are refused
    # GetVideoCategories' in-process cache (categories_cache.py): entries live this long at most —
    # the staleness bound of what changes with no event (a rescore after a pinned/rollback deploy,
    # a not-yet-complete video's classifier scores); categories are evicted by videos.classified at
    # once, an auto deploy's rescore by models.deployed. 0 turns the cache off: every call reads Redis.
    category_cache_ttl_seconds: float = Field(60.0, ge=0, le=3600)
    # Recall probe (recall_probe.py): every N s a sample of recent unfiltered queries is re-run through
    # the deployed search and by brute force -> shotline_query_search_recall_ratio{kind}. 0 turns it off.
    recall_probe_interval_seconds: float = Field(1800.0, ge=0)
    recall_probe_sample_size: int = Field(16, ge=1, le=256)


def main() -> None:
    s = QuerySettings()
    logs.configure(s.log_level, s.log_json, SERVICE)
    log = logs.get(SERVICE)
    state = HealthState()
    http = HealthServer(s.metrics_host, s.metrics_port, state).start()
    encoder = EncoderClient(s)
    index, info = encoder.index(s)
    index.ensure_collection()
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, acks="all", linger_ms=2)
    auth = Authenticator.from_settings(s.api_tokens_file, s.api_token.get_secret_value() if s.api_token else None,
                                       QUERY_PERMISSIONS)
    servicer = QueryServicer(s, index, info.model, encoder, stores.registry(s), producer, auth=auth,
                             blobs=open_blob_store(s), max_upload_bytes=s.max_upload_bytes,
                             categories_cache_ttl_seconds=s.category_cache_ttl_seconds)
    probe = None
    if s.recall_probe_interval_seconds > 0:
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

        invalidator = Invalidator(cache, s.kafka_bootstrap_servers, {
            s.topic(topics.VIDEOS_CLASSIFIED): classified,
            s.topic(topics.MODELS_DEPLOYED): lambda key, value: cache.clear("deploy"),
        }, client_id=f"query-cache-{os.getpid()}").start()
    name = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
    server = GrpcServer(s.query_address, [name], auth=servicer.auth, credentials=tls.server_credentials(s),
                        reflect=s.grpc_reflection, max_workers=s.grpc_workers)
    add_to_server(servicer, server.server)
    gc.freeze()  # start-up objects leave the collector's generations: shorter pauses on the hot path
    server.start()
    state.ready, state.detail = True, f"serving gRPC on {s.query_address}"
    log.info("query serving", address=s.query_address, model=info.model.model_id, metrics_port=http.port)

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
    http.stop()
    log.info("stopped")
