"""Prometheus metrics shared by every service.

Naming: `shotline_<what>_<unit>`, base units, `_total` for counters, histograms for
latencies; labels take bounded values only (service, topic, outcome, reason — never a
video id). Service-specific metrics are declared in the service's own module with the
same conventions.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

SERVICE_INFO = Info("shotline_service", "Service identity and version")

MESSAGES_CONSUMED = Counter(
    "shotline_messages_consumed_total", "Records processed by a worker", ["service", "topic", "outcome"]
)
MESSAGES_PRODUCED = Counter(
    "shotline_messages_produced_total", "Records produced and confirmed by the broker", ["service", "topic"]
)
DEAD_LETTERS = Counter(
    "shotline_dead_letters_total", "Records sent to a dead-letter topic", ["service", "topic", "reason"]
)
TRANSIENT_RETRIES = Counter(
    "shotline_transient_retries_total", "Retries after a transient fault", ["service"]
)
BATCH_DURATION = Histogram(
    "shotline_batch_duration_seconds",
    "Wall time of one consume→process→produce→commit batch",
    ["service"],
    buckets=LATENCY_BUCKETS,
)
BATCH_RECORDS = Histogram(
    "shotline_batch_records", "Records per polled batch", ["service"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
)
COMMITS = Counter("shotline_offset_commits_total", "Offset commits", ["service", "outcome"])
CONSUMER_LAG = Gauge(
    "shotline_consumer_lag_messages", "Records behind the log end, per topic", ["service", "group", "topic"]
)
LAST_BATCH = Gauge(
    "shotline_last_batch_timestamp_seconds", "Unix time the worker last finished a batch or idle poll", ["service"]
)
TASKS_IN_FLIGHT = Gauge(
    "shotline_worker_tasks_in_flight", "Handler tasks running while the loop keeps polling", ["service"]
)
PAUSED_PARTITIONS = Gauge(
    "shotline_worker_paused_partitions", "Partitions paused (work in flight, or a retry not yet due)", ["service"]
)
RECORD_RETRIES = Counter(
    "shotline_record_retries_scheduled_total", "Records moved to a retry topic after a per-record fault",
    ["service", "topic", "reason"],
)
