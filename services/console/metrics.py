"""The console's metrics (bounded labels: route templates, never ids)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from shotline.metrics import LATENCY_BUCKETS

REQUESTS = Counter("shotline_console_requests_total", "HTTP requests served", ["route", "method", "status"])
REQUEST_DURATION = Histogram("shotline_console_request_duration_seconds", "HTTP request wall time", ["route"],
                             buckets=LATENCY_BUCKETS)
RPC_ERRORS = Counter("shotline_console_rpc_errors_total", "QueryService calls that failed", ["method", "code"])
MEDIA_BYTES = Counter("shotline_console_media_bytes_total", "Bytes of media sent", ["kind"])
PREVIEWS = Counter("shotline_console_previews_total", "Shot previews made with ffmpeg", ["outcome"])
PREVIEW_DURATION = Histogram("shotline_console_preview_duration_seconds", "Time to make one shot preview",
                             buckets=LATENCY_BUCKETS)
