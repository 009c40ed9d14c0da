"""The Kafka consume → process → produce → flush → commit loop (at-least-once).

Delivery order, after quix-streams' checkpointing: a polled batch is processed, every output
is produced, the producer is flushed and each send is confirmed, and only then are the
batch's offsets committed. A crash anywhere before the commit means the batch is redelivered;
handlers make redelivery harmless with deterministic ids and upserts.

Failure policy:
- `BadInput` (poison): the original bytes and headers go to `<topic>.dlq` with the error, a
  `ProcessingError` event goes to the errors topic, and the offset is committed — the
  partition keeps flowing.
- `TransientError`: bounded retries with exponential backoff (tenacity); when they run out
  the exception propagates and the process exits without committing (the supervisor or
  Kubernetes restarts it and the batch is redelivered).
- Any other exception: retried `handler_error_retries` times, then treated as poison with
  reason "handler_error" — a bug must not block a partition, and the DLQ keeps the bytes.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from google.protobuf.message import Message
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shotline import logs, metrics, topics
from shotline.errors import BadInput, TransientError
from shotline.events import new_meta
from shotline.health import HealthServer, HealthState
from shotline.settings import Settings
from shotline.v1 import events_pb2

log = logs.get("shotline.worker")


@dataclass(frozen=True)
class Output:
    """One record to produce. `topic` is the full topic name."""

    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def event(cls, topic: str, key: str, msg: Message) -> Output:
        return cls(topic, key, msg.SerializeToString())


@runtime_checkable
class Handler(Protocol):
    def handle(self, record: ConsumerRecord) -> list[Output]: ...


@runtime_checkable
class BatchHandler(Handler, Protocol):
    """A handler that can process a whole poll at once (dynamic batching)."""

    def handle_batch(self, records: Sequence[ConsumerRecord]) -> list[Output]: ...


@runtime_checkable
class Ticking(Protocol):
    """A handler with time-driven work (debounced retrains, flush-by-age)."""

    def tick(self) -> list[Output]: ...


@dataclass
class _Batch:
    outputs: list[Output] = field(default_factory=list)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (topic, outcome)


class Worker:
    def __init__(
        self,
        settings: Settings,
        service: str,
        topic_suffixes: Iterable[str],
        handler: Handler,
        *,
        group_id: str | None = None,
        health: HealthState | None = None,
    ):
        self.settings = settings
        self.service = service
        self.topics = [settings.topic(t) for t in topic_suffixes]
        self.handler = handler
        self.group_id = group_id or settings.group(service)
        self.health = health or HealthState()
        self._stop = threading.Event()
        self._last_loop = time.monotonic()
        self._last_lag = 0.0
        self.consumer: KafkaConsumer | None = None
        self.producer: KafkaProducer | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT set a flag; the loop finishes its batch, commits and closes."""

        def _stop(signum: int, _frame: object) -> None:
            log.info("stop requested", signal=signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    def stop(self) -> None:
        self._stop.set()

    def connect(self) -> None:
        s = self.settings
        self.producer = KafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            client_id=f"{self.service}-producer",
            acks="all",
            linger_ms=5,
            retries=5,
            max_request_size=16 * 1024 * 1024,
        )
        self._wait_for_topics()
        self.consumer = KafkaConsumer(
            *self.topics,
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.batch_max_records,
            max_poll_interval_ms=600_000,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            # A topic created after we subscribed is picked up within seconds, not 5 minutes.
            metadata_max_age_ms=10_000,
        )
        self.health.live_check = self._alive
        self.health.ready = True
        self.health.detail = f"consuming {','.join(self.topics)} as {self.group_id}"
        log.info("worker connected", topics=self.topics, group=self.group_id)

    def _wait_for_topics(self, timeout: float = 300.0) -> None:
        """Subscribe only once every topic exists: a consumer that joins its group before its
        topics are created can sit without partitions (kafka-python), so wait, visibly."""
        probe = KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers, client_id=f"{self.service}-probe")
        try:
            deadline = time.monotonic() + timeout
            while True:
                missing = set(self.topics) - probe.topics()
                if not missing:
                    return
                if time.monotonic() > deadline or self._stop.is_set():
                    raise TransientError(f"topics missing after {timeout:.0f}s: {sorted(missing)}")
                self.health.detail = f"waiting for topics {sorted(missing)}"
                log.info("waiting for topics", missing=sorted(missing))
                self._stop.wait(2.0)
        finally:
            probe.close()

    def _alive(self) -> bool:
        # A batch may legitimately take minutes (a long video); beyond max_poll_interval the
        # broker has already evicted us, so the probe fails too.
        return time.monotonic() - self._last_loop < 600

    def close(self) -> None:
        self.health.ready = False
        if self.consumer is not None:
            self.consumer.close(autocommit=False)
        if self.producer is not None:
            self.producer.flush(timeout=self.settings.produce_timeout_seconds)
            self.producer.close(timeout=self.settings.produce_timeout_seconds)
        log.info("worker closed")

    def run(self) -> None:
        """Run until stop() (SIGTERM). Raises after transient retries are exhausted."""
        metrics.SERVICE_INFO.info({"service": self.service})
        if self.consumer is None:
            self.connect()
        try:
            while not self._stop.is_set():
                self.run_once()
        finally:
            self.close()

    # ---- one iteration ---------------------------------------------------------------
    def run_once(self) -> int:
        assert self.consumer is not None and self.producer is not None
        polled = self.consumer.poll(timeout_ms=self.settings.poll_timeout_ms)
        records = [r for tp in sorted(polled, key=lambda t: (t.topic, t.partition)) for r in polled[tp]]
        started = time.perf_counter()
        batch = _Batch()
        if records:
            metrics.BATCH_RECORDS.labels(self.service).observe(len(records))
            self._process(records, batch)
        if isinstance(self.handler, Ticking):
            batch.outputs.extend(self._with_transient_retries(self.handler.tick))
        if batch.outputs:
            self._produce(batch.outputs)
        if records:
            self._commit(records)
            for topic, outcome in batch.outcomes:
                metrics.MESSAGES_CONSUMED.labels(self.service, topic, outcome).inc()
            metrics.BATCH_DURATION.labels(self.service).observe(time.perf_counter() - started)
        self._last_loop = time.monotonic()
        metrics.LAST_BATCH.labels(self.service).set(time.time())
        self._refresh_lag()
        return len(records)

    def _process(self, records: list[ConsumerRecord], batch: _Batch) -> None:
        if isinstance(self.handler, BatchHandler) and len(records) > 1:
            try:
                outs = self._with_transient_retries(lambda: self.handler.handle_batch(records))
            except TransientError:
                raise
            except Exception as e:  # isolate the poison record(s) by going one at a time
                log.warning("batch failed, retrying records one by one", error=str(e))
            else:
                batch.outputs.extend(outs)
                batch.outcomes.extend((r.topic, "ok") for r in records)
                return
        for record in records:
            self._process_one(record, batch)

    def _process_one(self, record: ConsumerRecord, batch: _Batch) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                outs = self._with_transient_retries(lambda: self.handler.handle(record))
            except TransientError:
                raise
            except BadInput as e:
                self._dead_letter(record, e.reason, e.message, attempts, batch)
                return
            except Exception as e:  # noqa: BLE001 - see module docstring
                if attempts <= self.settings.handler_error_retries:
                    log.warning("handler error, retrying", topic=record.topic, offset=record.offset, error=repr(e))
                    continue
                log.error("handler error, dead-lettering", topic=record.topic, offset=record.offset,
                          error=repr(e), trace=traceback.format_exc(limit=5))
                self._dead_letter(record, "handler_error", repr(e), attempts, batch)
                return
            batch.outputs.extend(outs)
            batch.outcomes.append((record.topic, "ok"))
            return

    def _with_transient_retries(self, fn):  # type: ignore[no-untyped-def]
        s = self.settings
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(s.transient_retries + 1),
            wait=wait_exponential(multiplier=s.retry_backoff_seconds, max=30),
            before_sleep=lambda rs: (
                metrics.TRANSIENT_RETRIES.labels(self.service).inc(),
                log.warning("transient fault, backing off", attempt=rs.attempt_number,
                            error=str(rs.outcome.exception()) if rs.outcome else ""),
            ),
            reraise=True,
        )
        return retrying(fn)

    def _dead_letter(self, record: ConsumerRecord, reason: str, message: str, attempts: int, batch: _Batch) -> None:
        log.warning("dead-lettering record", topic=record.topic, partition=record.partition,
                    offset=record.offset, reason=reason, error=message[:500])
        headers = tuple(record.headers or ()) + (
            ("dlq.topic", record.topic.encode()),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
            ("dlq.reason", reason.encode()),
            ("dlq.error", message[:4000].encode("utf-8", "replace")),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.service", self.service.encode()),
        )
        key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else (record.key or "")
        batch.outputs.append(Output(topics.dlq(record.topic), key, record.value or b"", headers))
        err = events_pb2.ProcessingError(
            meta=new_meta(key, self.service),
            service=self.service,
            reason=reason,
            message=message[:4000],
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
        )
        batch.outputs.append(Output.event(self.settings.topic(topics.ERRORS), key, err))
        batch.outcomes.append((record.topic, "dead_lettered"))
        metrics.DEAD_LETTERS.labels(self.service, record.topic, reason).inc()

    def _produce(self, outputs: list[Output]) -> None:
        assert self.producer is not None
        futures = [
            (o.topic, self.producer.send(o.topic, key=o.key.encode(), value=o.value, headers=list(o.headers)))
            for o in outputs
        ]
        self.producer.flush(timeout=self.settings.produce_timeout_seconds)
        for topic, fut in futures:
            # Raises if the broker did not confirm: the batch is then not committed.
            fut.get(timeout=self.settings.produce_timeout_seconds)
            metrics.MESSAGES_PRODUCED.labels(self.service, topic).inc()

    def _commit(self, records: list[ConsumerRecord]) -> None:
        assert self.consumer is not None
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            if tp not in offsets or offsets[tp].offset < r.offset + 1:
                offsets[tp] = OffsetAndMetadata(r.offset + 1, "", -1)
        try:
            self.consumer.commit(offsets)
        except Exception:
            metrics.COMMITS.labels(self.service, "failed").inc()
            raise
        metrics.COMMITS.labels(self.service, "ok").inc()

    def _refresh_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag < self.settings.lag_refresh_seconds:
            return
        self._last_lag = now
        assert self.consumer is not None
        try:
            assigned = list(self.consumer.assignment())
            if not assigned:
                return
            ends = self.consumer.end_offsets(assigned)
            per_topic: dict[str, int] = {}
            for tp in assigned:
                pos = self.consumer.position(tp)
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(0, ends.get(tp, pos) - pos)
            for topic, lag in per_topic.items():
                metrics.CONSUMER_LAG.labels(self.service, self.group_id, topic).set(lag)
        except Exception as e:  # lag is best-effort observability, never fatal
            log.debug("lag refresh failed", error=str(e))


def run_service(settings: Settings, service: str, topic_suffixes: Iterable[str], handler: Handler) -> None:
    """The standard service main: logging, /metrics + health, signals, the loop."""
    logs.configure(settings.log_level, settings.log_json, service)
    health = HealthState()
    server = HealthServer(settings.metrics_host, settings.metrics_port, health).start()
    log.info("health server listening", port=server.port)
    worker = Worker(settings, service, topic_suffixes, handler, health=health)
    worker.install_signal_handlers()
    try:
        worker.run()
    finally:
        server.stop()
