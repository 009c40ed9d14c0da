"""The query service's settings; importable before prometheus_client (the process launcher reads
them to decide, before any metric exists, whether metrics are shared between processes)."""

from __future__ import annotations

import os

from pydantic import Field

from shotline.settings import Settings

SERVICE = "query"


class QuerySettings(Settings):
    service_name: str = SERVICE
    grpc_grace_seconds: float = Field(10.0, gt=0)  # < the pod's terminationGracePeriodSeconds
    # Handler threads share one GIL: beyond ~2 per core they only contend (measured on 2 cores:
    # 4 threads serve GetVideoCategories at 64 clients with 1.9x the QPS and 1/4 the p99 of 64).
    grpc_workers: int = Field(default_factory=lambda: 2 * len(os.sched_getaffinity(0)), ge=1, le=512)
    # Serving processes sharing the gRPC port (SO_REUSEPORT: the kernel spreads connections over
    # them), each with its own GIL, handler threads, read-model cache and invalidation consumer;
    # metrics are summed across them (prometheus_client multiprocess mode). processes.py.
    grpc_processes: int = Field(1, ge=1, le=64)
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
