"""Segmenter entrypoint: settings → handler → the shared worker loop."""

from __future__ import annotations

from pydantic import Field

from services.segmenter.handler import SERVICE, SegmentHandler
from shotline import topics
from shotline.blobstore import open_blob_store
from shotline.settings import Settings
from shotline.video.config import SegmenterConfig
from shotline.video.sources import SourceConfig
from shotline.worker import run_service


class SegmenterSettings(Settings):
    service_name: str = SERVICE
    keyframes_per_shot: int = Field(3, ge=1, le=64)
    keyframes_per_second: float | None = Field(None, gt=0)
    max_duration_seconds: float = Field(4 * 3600, gt=0)
    max_pixels: int = Field(3840 * 2160, gt=0)
    max_file_bytes: int = Field(8 * 1024**3, gt=0)
    chunk_shots: int = Field(64, ge=1, le=1000)
    download_timeout_seconds: float = Field(30.0, gt=0)  # connect / per read, http(s) sources
    download_deadline_seconds: float = Field(1800.0, gt=0)  # a whole http(s) download
    batch_max_records: int = Field(1, ge=1)  # videos are big: one per poll keeps rebalances quick
    # Two videos at once: an hour-long upload holds only its own partition, the rest flow.
    worker_concurrency: int = Field(2, ge=1, le=64)
    # Decoder threads per video (0: one per CPU this process may use, at most 8).
    decode_workers: int = Field(0, ge=0, le=64)
    decode_buffer_bytes: int = Field(768 * 1024**2, ge=0)


def main() -> None:
    s = SegmenterSettings()
    config = SegmenterConfig(
        keyframes_per_shot=s.keyframes_per_shot, keyframes_per_second=s.keyframes_per_second,
        max_duration_s=s.max_duration_seconds, max_pixels=s.max_pixels, max_file_bytes=s.max_file_bytes,
        decode_workers=s.decode_workers, decode_buffer_bytes=s.decode_buffer_bytes,
    )
    blobs = open_blob_store(s)  # uploads (blob://) are read and keyframes written here
    # roots (never the run dir), download cap / timeout / deadline, egress policy, URI schemes
    sources = SourceConfig.from_settings(s, blobs=blobs)
    handler = SegmentHandler(s, blobs, config, sources, s.chunk_shots)
    run_service(s, SERVICE, topics.SUBSCRIPTIONS[SERVICE], handler)
