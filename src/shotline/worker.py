"""The Kafka consume → process → produce → confirm → commit loop (at-least-once).

Delivery order, after quix-streams' checkpointing: a polled batch is processed, every output
is produced, the producer is flushed and each send is confirmed, and only then are the
batch's offsets committed. A crash anywhere before the commit means the batch is redelivered;
handlers make redelivery harmless with deterministic ids and upserts.

Long work never gets the member evicted: handlers run on task threads while this thread keeps
polling (the Kafka consumer is not thread-safe, so only this thread touches it). A partition
with work in flight is paused, so its order is kept and nothing is fetched twice; other
partitions keep flowing on free task slots (`worker_concurrency`); with every slot busy, all
partitions are paused and polling only keeps the membership alive.

Failure policy, by the type of the exception:
- `BadInput` (poison): the original bytes and headers go to `<topic>.dlq` with the error, a
  `ProcessingError` event goes to the errors topic, and the offset is committed.
- `RetryableInput` (this record's own fault, may clear: its URL timed out): the record moves
  to `<topic>.retry` with attempt and not-before headers and the offset is committed, so the
  partition keeps flowing. The same group reads `.retry`; a record not yet due pauses only the
  retry partition until it is. After the last attempt: the DLQ, reason `retries_exhausted`.
  Groups sharing a source topic share its twin: a retry carries the service it is for, and
  other groups commit past it.
- `TransientError` (shared infrastructure down): bounded retries with exponential backoff
  (interruptible by SIGTERM); when they run out the process exits without committing (the
  supervisor or Kubernetes restarts it and the batch is redelivered).
- Any other exception: retried `handler_error_retries` times, then poison, reason
  "handler_error" — a bug must not block a partition, and the DLQ keeps the bytes.
"""

from __future__ import annotations

import faulthandler
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from google.protobuf.message import Message
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, IllegalStateError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shotline import logs, metrics, topics
from shotline.errors import BadInput, RetryableInput, TransientError
from shotline.events import new_meta
from shotline.health import HealthServer, HealthState
from shotline.settings import Settings
from shotline.v1 import events_pb2

if TYPE_CHECKING:
    from shotline.lease import Lease

log = logs.get("shotline.worker")

# Headers a retried record carries (its original headers are kept beside them).
H_ATTEMPT = "retry.attempt"            # the attempt the record is due for (2, 3, ...)
H_NOT_BEFORE = "retry.not_before_ms"   # epoch ms before which it must not run
H_REASON = "retry.reason"
H_ERROR = "retry.error"
H_ORIGIN = "retry.origin"              # topic:partition:offset where it was first consumed
# The service that scheduled the retry: several groups read one source topic (encoder and
# transcriber both read shots.segmented) and so one `.retry` twin; each runs only its own.
H_FOR = "retry.for"
_OWN_HEADERS = ("retry.", "dlq.")
KEEPALIVE_POLL_MS = 500
CLIENT_CALL_MS = 2_000  # bound on position()/end_offsets(): never block the loop on a lookup


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


@dataclass
class TickResult:
    """Time-driven outputs and what to mark done once they are confirmed by the broker:
    `on_delivered` runs only after every output is acknowledged (at-least-once)."""

    outputs: list[Output] = field(default_factory=list)
    on_delivered: Callable[[], None] | None = None


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

    def tick(self) -> TickResult: ...


class Stopping(TransientError):
    """SIGTERM arrived during a backoff: give up the batch uncommitted, now."""


@dataclass
class _Batch:
    outputs: list[Output] = field(default_factory=list)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (topic, outcome)


@dataclass
class _Task:
    """Records of some partitions (or a tick) being processed on a task thread."""

    records: list[ConsumerRecord]
    partitions: set[TopicPartition]
    started: float
    tick: bool = False
    batch: _Batch = field(default_factory=_Batch)
    on_delivered: Callable[[], None] | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, worker: Worker):
        self.worker = worker

    def on_partitions_revoked(self, revoked):  # type: ignore[no-untyped-def]
        log.info("partitions revoked", partitions=len(revoked))

    def on_partitions_assigned(self, assigned):  # type: ignore[no-untyped-def]
        # Pause state does not survive a rebalance: re-pause what is still in flight or delayed.
        log.info("partitions assigned", partitions=len(assigned))
        try:
            self.worker._apply_pauses()
        except Exception as e:  # kafka-python swallows listener errors: say so
            log.error("re-pausing after a rebalance failed", error=repr(e))
            raise


def _header(record: ConsumerRecord, name: str) -> str | None:
    for k, v in record.headers or ():
        if k == name:
            return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    return None


def _attempt(record: ConsumerRecord) -> int:
    """The attempt a record is due for. Any producer can set headers: a value that is not a
    positive integer counts as the first attempt (never an exception on the loop)."""
    value = _header(record, H_ATTEMPT)
    try:
        return max(1, int(value)) if value is not None else 1
    except ValueError:
        return 1


def _not_before_ms(record: ConsumerRecord, max_delay_s: float) -> float | None:
    """The epoch ms a retried record is due at, or None when it is due now. Unreadable,
    NaN or infinite values are due now, and no record waits longer than the longest retry
    delay from now (a forged far-future header must not park its partition)."""
    value = _header(record, H_NOT_BEFORE)
    if value is None:
        return None
    try:
        due = float(value)
    except ValueError:
        return None
    if not math.isfinite(due):
        return None
    return min(due, time.time() * 1000 + max_delay_s * 1000)


def _origin(record: ConsumerRecord) -> tuple[str, str] | None:
    """(partition, offset) where a retried record was first consumed, if its header is sound."""
    value = _header(record, H_ORIGIN)
    if not value:
        return None
    parts = value.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isascii() or not parts[2].isascii() \
            or not parts[1].isdigit() or not parts[2].isdigit() \
            or int(parts[1]) >= 2**31 or int(parts[2]) >= 2**63:  # the ProcessingError's int32 / int64
        return None
    return parts[1], parts[2]


def _as_source(record: ConsumerRecord) -> ConsumerRecord:
    """The record as the handler sees it: a retried record under its source topic's name."""
    src = topics.source(record.topic)
    return record if src == record.topic else record._replace(topic=src)


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
        self.sources = [settings.topic(t) for t in topic_suffixes]
        self.topics = self.sources + [topics.retry(t) for t in self.sources]
        self.handler = handler
        self.group_id = group_id or settings.group(service)
        self.health = health or HealthState()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._dump = threading.Event()
        self._last_loop = time.monotonic()
        self._last_lag = 0.0
        self._tasks: list[_Task] = []
        self._delayed: dict[TopicPartition, float] = {}  # retry partition → epoch s it is due
        self._last_tick = 0.0
        self._last_poll = time.monotonic()
        self.consumer: KafkaConsumer | None = None
        self.producer: KafkaProducer | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT set a flag; the loop finishes in-flight work (within the grace
        period), commits and closes."""

        def _stop(signum: int, _frame: object) -> None:
            log.info("stop requested", signal=signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGUSR2, lambda *_: self._dump.set())  # log the loop's state

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

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
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.batch_max_records,
            # Long work runs off this thread, so polls keep coming; this bounds a stuck loop.
            max_poll_interval_ms=s.max_poll_interval_ms,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            # A topic created after we subscribed is picked up within seconds, not 5 minutes.
            metadata_max_age_ms=10_000,
        )
        # Load the topics' partition metadata before joining: kafka-python otherwise joins with
        # an empty cache, gets nothing assigned, and must rebalance again at once — a second
        # rebalance that can wait minutes on a member that left mid-join.
        for t in self.topics:
            self.consumer.partitions_for_topic(t)
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        self.health.live_check = self._alive
        self.health.ready = True
        self.health.detail = f"consuming {','.join(self.topics)} as {self.group_id}"
        log.info("worker connected", topics=self.topics, group=self.group_id,
                 concurrency=s.worker_concurrency)

    def _wait_for_topics(self, timeout: float = 300.0) -> None:
        """Subscribe only once every topic exists and each of its partitions has a leader: a
        consumer whose first group generation sees a topic without partitions gets nothing
        assigned, and kafka-python's rejoin after the metadata catches up can stall (seen
        with freshly created topics), so wait here, visibly."""
        probe = KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers, client_id=f"{self.service}-probe")
        try:
            deadline = time.monotonic() + timeout
            while True:
                missing = sorted(set(self.topics) - probe.topics())
                if not missing:
                    missing = [t for t in self.topics if not self._partitions_led(probe, t)]
                if not missing:
                    return
                if time.monotonic() > deadline or self._stop.is_set():
                    raise TransientError(f"topics missing after {timeout:.0f}s: {missing}")
                self.health.detail = f"waiting for topics {missing}"
                log.info("waiting for topics", missing=missing)
                self._stop.wait(1.0)
        finally:
            probe.close()

    @staticmethod
    def _partitions_led(probe: KafkaConsumer, topic: str) -> bool:
        """Every partition of `topic` is known and answers a ListOffsets (so it has a leader)."""
        parts = probe.partitions_for_topic(topic) or set()
        if not parts:
            return False
        try:
            ends = probe.end_offsets([TopicPartition(topic, p) for p in parts], timeout_ms=CLIENT_CALL_MS)
        except Exception:  # noqa: BLE001 - not ready yet; asked again in a second
            return False
        return len(ends) == len(parts)

    def _alive(self) -> bool:
        """The loop keeps polling during long work, so a stale loop means a stuck worker; a
        task may run for hours (a long video) without failing the probe, up to a hard cap."""
        now = time.monotonic()
        if now - self._last_loop > self.settings.liveness_loop_seconds:
            return False
        return all(now - t.started < self.settings.max_task_seconds for t in self._tasks)

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
            self._drain()
        finally:
            self.close()

    def _drain(self) -> None:
        """After SIGTERM: let in-flight work finish within the grace period, deliver and commit
        it; what is still running then is left uncommitted (redelivered after the restart)."""
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        while self._tasks and time.monotonic() < deadline:
            self._wake.clear()
            self._finish_done_tasks()
            if self._tasks:
                self._wake.wait(0.5)
                self._keep_alive_poll()
        if self._tasks:
            log.warning("stopping with work in flight; it will be redelivered", tasks=len(self._tasks))

    # ---- one iteration ---------------------------------------------------------------
    def run_once(self) -> int:
        """Finish what is done, resume what is due, hand new records (or a tick) to a free
        slot; while every slot is busy, wait for one, polling now and then to stay in the group."""
        assert self.consumer is not None and self.producer is not None
        self._wake.clear()
        if self._dump.is_set():
            self._dump.clear()
            self._log_state()
        self._finish_done_tasks()
        self._resume_due()
        n = 0
        if self._tick_due():
            self._last_tick = time.monotonic()
            self._start([], tick=True)
        elif len(self._tasks) < self.settings.worker_concurrency:
            self._apply_pauses()
            polled = self._poll(self.settings.poll_timeout_ms)
            self._last_poll = time.monotonic()
            records = self._admit(polled)
            if records:
                n = len(records)
                metrics.BATCH_RECORDS.labels(self.service).observe(n)
                groups = self._split(records)
                free = self.settings.worker_concurrency - len(self._tasks)
                for group in groups[:free]:
                    self._start(group)
                for group in groups[free:]:  # no slot left: read these again on a later poll
                    self.consumer.seek(TopicPartition(group[0].topic, group[0].partition), group[0].offset)
                n -= sum(len(g) for g in groups[free:])
        if len(self._tasks) >= self.settings.worker_concurrency:
            self._wake.wait(0.5)
            if time.monotonic() - self._last_poll >= 1.0 and not any(t.done.is_set() for t in self._tasks):
                self._keep_alive_poll()
        self._finish_done_tasks()
        self._last_loop = time.monotonic()
        metrics.LAST_BATCH.labels(self.service).set(time.time())
        metrics.TASKS_IN_FLIGHT.labels(self.service).set(len(self._tasks))
        self._refresh_lag()
        return n

    def _log_state(self) -> None:
        assert self.consumer is not None
        assigned = sorted(self.consumer.assignment())
        log.info("worker state", tasks=[(sorted(f"{tp.topic}[{tp.partition}]" for tp in t.partitions),
                                         round(time.monotonic() - t.started, 1)) for t in self._tasks],
                 paused=sorted(f"{tp.topic}[{tp.partition}]" for tp in self.consumer.paused()),
                 delayed={f"{tp.topic}[{tp.partition}]": round(d - time.time(), 1) for tp, d in self._delayed.items()},
                 positions={f"{tp.topic}[{tp.partition}]": self.consumer.position(tp, timeout_ms=CLIENT_CALL_MS)
                            for tp in assigned})

    def _tick_due(self) -> bool:
        # Ticks never overlap record work, so a ticking handler needs no locks of its own.
        return (isinstance(self.handler, Ticking) and not self._tasks
                and time.monotonic() - self._last_tick >= self.settings.tick_interval_seconds)

    def _poll(self, timeout_ms: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        """consumer.poll, working around kafka-python 3.0.12's KAFKA-7548 port: records it parks
        for a paused partition are restored only when its in-line slot is None, but a drained
        slot stays a (falsy) object, so a paused-then-resumed partition is never fetched again
        (seen in the chaos suite: a restarted segmenter left records unread, no task in flight)."""
        assert self.consumer is not None
        fetcher = getattr(self.consumer, "_fetcher", None)
        slot = getattr(fetcher, "_next_partition_records", None)
        if slot is not None and not slot:
            fetcher._next_partition_records = None  # type: ignore[union-attr]
        return self.consumer.poll(timeout_ms=timeout_ms)

    def _keep_alive_poll(self) -> None:
        """Every slot busy: pause everything and poll, which keeps the group membership."""
        assert self.consumer is not None
        self._apply_pauses(everything=True)
        # Not 0 ms: kafka-python resets the poll timer only once a pending rejoin completes,
        # which takes round trips; a zero-timeout poll would never finish one while busy.
        stray = self._poll(KEEPALIVE_POLL_MS)
        self._last_poll = time.monotonic()
        for tp, recs in stray.items():  # paused partitions return nothing; be safe anyway
            if recs:
                self.consumer.seek(tp, recs[0].offset)

    def _apply_pauses(self, everything: bool = False) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        try:
            assigned = consumer.assignment()
        except IllegalStateError:
            return
        busy = {tp for t in self._tasks for tp in t.partitions} | set(self._delayed)
        want = set(assigned) if everything else busy & set(assigned)
        now_paused = consumer.paused()
        to_pause = [tp for tp in want if tp not in now_paused]
        to_resume = [tp for tp in now_paused if tp not in want and tp in assigned]
        if to_pause:
            consumer.pause(*to_pause)
        if to_resume:
            consumer.resume(*to_resume)
        metrics.PAUSED_PARTITIONS.labels(self.service).set(len(want))

    def _resume_due(self) -> None:
        now = time.time()
        for tp in [tp for tp, due in self._delayed.items() if due <= now]:
            del self._delayed[tp]

    def _admit(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> list[ConsumerRecord]:
        """Records that may run now. A retried record not yet due sends its partition back to
        that offset and pauses it until then; the records behind it wait with it."""
        assert self.consumer is not None
        out: list[ConsumerRecord] = []
        now_ms = time.time() * 1000
        max_delay = max(self.settings.record_retry_delays_seconds, default=0)
        for tp in sorted(polled, key=lambda t: (t.topic, t.partition)):
            for r in polled[tp]:
                mine = _header(r, H_FOR) in (None, self.service)
                not_before = _not_before_ms(r, max_delay) if mine else None  # theirs: skipped at once
                if not_before is not None and not_before > now_ms:
                    self.consumer.seek(tp, r.offset)
                    self._delayed[tp] = not_before / 1000
                    log.debug("retry not yet due", topic=tp.topic, partition=tp.partition,
                              in_s=round(not_before / 1000 - time.time(), 1))
                    break
                out.append(r)
        return out

    def _split(self, records: list[ConsumerRecord]) -> list[list[ConsumerRecord]]:
        """Task groups: one per partition (so a long record holds only its own partition),
        or the whole poll for a batching handler that gains from one big batch."""
        if isinstance(self.handler, BatchHandler) and self.settings.worker_concurrency == 1:
            return [records]
        groups: dict[TopicPartition, list[ConsumerRecord]] = {}
        for r in records:
            groups.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        return list(groups.values())

    def _start(self, records: list[ConsumerRecord], tick: bool = False) -> None:
        task = _Task(records, {TopicPartition(r.topic, r.partition) for r in records}, time.monotonic(), tick)
        self._tasks.append(task)
        self._apply_pauses()
        threading.Thread(target=self._run_task, args=(task,), name=f"{self.service}-task", daemon=True).start()

    def _run_task(self, task: _Task) -> None:
        try:
            self._work(task)
        except BaseException as e:  # noqa: BLE001 - re-raised on the loop thread
            task.error = e
        finally:
            task.done.set()
            self._wake.set()

    def _work(self, task: _Task) -> None:
        if task.tick:
            assert isinstance(self.handler, Ticking)
            result = self._with_transient_retries(self.handler.tick)
            task.batch.outputs.extend(result.outputs)
            task.on_delivered = result.on_delivered
        else:
            self._process(task.records, task.batch)

    def _finish_done_tasks(self) -> None:
        for task in [t for t in self._tasks if t.done.is_set()]:
            self._tasks.remove(task)
            if isinstance(task.error, Stopping):
                log.info("backoff interrupted by stop; batch left uncommitted")
                continue
            if task.error is not None:
                # Infrastructure is down (retries exhausted): exit uncommitted.
                raise task.error
            self._deliver(task)
        self._apply_pauses()

    def _deliver(self, task: _Task) -> None:
        if task.batch.outputs:
            self._produce(task.batch.outputs)
        if task.on_delivered is not None:
            self._with_transient_retries(task.on_delivered)
        if task.records:
            self._commit(task.records)
            for topic, outcome in task.batch.outcomes:
                metrics.MESSAGES_CONSUMED.labels(self.service, topic, outcome).inc()
            metrics.BATCH_DURATION.labels(self.service).observe(time.monotonic() - task.started)

    # ---- processing (task threads) ---------------------------------------------------
    def _process(self, records: list[ConsumerRecord], batch: _Batch) -> None:
        theirs = [r for r in records if _header(r, H_FOR) not in (None, self.service)]
        if theirs:  # another group's retry: committed here, never run twice
            batch.outcomes.extend((topics.source(r.topic), "other_service") for r in theirs)
            records = [r for r in records if _header(r, H_FOR) in (None, self.service)]
            if not records:
                return
        if isinstance(self.handler, BatchHandler) and len(records) > 1:
            views = [_as_source(r) for r in records]
            try:
                outs = self._with_transient_retries(lambda: self.handler.handle_batch(views))
            except TransientError:
                raise
            except Exception as e:  # isolate the poison record(s) by going one at a time
                log.warning("batch failed, retrying records one by one", error=str(e))
            else:
                batch.outputs.extend(outs)
                batch.outcomes.extend((topics.source(r.topic), "ok") for r in records)
                return
        for record in records:
            self._process_one(record, batch)

    def _process_one(self, record: ConsumerRecord, batch: _Batch) -> None:
        attempts = _attempt(record)
        handler_errors = 0
        view = _as_source(record)
        while True:
            try:
                outs = self._with_transient_retries(lambda: self.handler.handle(view))
            except TransientError:
                raise
            except BadInput as e:
                self._dead_letter(record, e.reason, e.message, attempts, batch)
                return
            except RetryableInput as e:
                self._retry_later(record, e, attempts, batch)
                return
            except Exception as e:  # noqa: BLE001 - see module docstring
                handler_errors += 1
                if handler_errors <= self.settings.handler_error_retries:
                    log.warning("handler error, retrying", topic=record.topic, offset=record.offset, error=repr(e))
                    continue
                log.error("handler error, dead-lettering", topic=record.topic, offset=record.offset,
                          error=repr(e), trace=traceback.format_exc(limit=5))
                self._dead_letter(record, "handler_error", repr(e), attempts, batch)
                return
            batch.outputs.extend(outs)
            batch.outcomes.append((view.topic, "ok"))
            return

    def _with_transient_retries(self, fn):  # type: ignore[no-untyped-def]
        s = self.settings
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(s.transient_retries + 1),
            wait=wait_exponential(multiplier=s.retry_backoff_seconds, max=30),
            sleep=self._interruptible_sleep,
            before_sleep=lambda rs: (
                metrics.TRANSIENT_RETRIES.labels(self.service).inc(),
                log.warning("transient fault, backing off", attempt=rs.attempt_number,
                            error=str(rs.outcome.exception()) if rs.outcome else ""),
            ),
            reraise=True,
        )
        return retrying(fn)

    def _interruptible_sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Stopping("stop requested during a transient-fault backoff")

    def _retry_later(self, record: ConsumerRecord, e: RetryableInput, attempts: int, batch: _Batch) -> None:
        delays = self.settings.record_retry_delays_seconds
        src = topics.source(record.topic)
        if attempts > len(delays):
            self._dead_letter(record, "retries_exhausted", f"{e.reason}: {e.message}", attempts, batch)
            return
        delay = delays[attempts - 1]
        log.warning("record fault, retrying later", topic=src, offset=record.offset, attempt=attempts,
                    in_s=delay, reason=e.reason, error=e.message[:300])
        first = _origin(record)
        origin = _header(record, H_ORIGIN) if first else f"{record.topic}:{record.partition}:{record.offset}"
        headers = tuple((k, v) for k, v in (record.headers or ()) if not k.startswith(_OWN_HEADERS)) + (
            (H_ATTEMPT, str(attempts + 1).encode()),
            (H_NOT_BEFORE, str(int((time.time() + delay) * 1000)).encode()),
            (H_REASON, e.reason.encode()),
            (H_ERROR, e.message[:2000].encode("utf-8", "replace")),
            (H_ORIGIN, origin.encode()),
            (H_FOR, self.service.encode()),
        )
        batch.outputs.append(Output(topics.retry(src), self._key(record), record.value or b"", headers))
        batch.outcomes.append((src, "retry_scheduled"))
        metrics.RECORD_RETRIES.labels(self.service, src, e.reason).inc()

    @staticmethod
    def _key(record: ConsumerRecord) -> str:
        return record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else (record.key or "")

    def _dead_letter(self, record: ConsumerRecord, reason: str, message: str, attempts: int, batch: _Batch) -> None:
        src = topics.source(record.topic)
        origin = _origin(record)
        if origin:  # report where the record first arrived, not the retry twin
            part, off = origin
        else:
            part, off = str(record.partition), str(record.offset)
        log.warning("dead-lettering record", topic=src, partition=part, offset=off, reason=reason,
                    attempts=attempts, error=message[:500])
        headers = tuple((k, v) for k, v in (record.headers or ()) if not k.startswith(_OWN_HEADERS)) + (
            ("dlq.topic", src.encode()),
            ("dlq.partition", part.encode()),
            ("dlq.offset", off.encode()),
            ("dlq.reason", reason.encode()),
            ("dlq.error", message[:4000].encode("utf-8", "replace")),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.service", self.service.encode()),
        )
        key = self._key(record)
        batch.outputs.append(Output(topics.dlq(src), key, record.value or b"", headers))
        err = events_pb2.ProcessingError(
            meta=new_meta(key, self.service),
            service=self.service,
            reason=reason,
            message=message[:4000],
            source_topic=src,
            source_partition=int(part),
            source_offset=int(off),
        )
        batch.outputs.append(Output.event(self.settings.topic(topics.ERRORS), key, err))
        batch.outcomes.append((src, "dead_lettered"))
        metrics.DEAD_LETTERS.labels(self.service, src, reason).inc()

    # ---- delivery (loop thread) ------------------------------------------------------
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
        assigned = self.consumer.assignment()
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            if tp not in offsets or offsets[tp].offset < r.offset + 1:
                offsets[tp] = OffsetAndMetadata(r.offset + 1, "", -1)
        lost = [tp for tp in offsets if tp not in assigned]
        for tp in lost:  # revoked mid-task: its new owner redelivers; our outputs are idempotent
            del offsets[tp]
        if not offsets:
            metrics.COMMITS.labels(self.service, "skipped").inc()
            return
        try:
            self.consumer.commit(offsets)
        except CommitFailedError as e:
            # A rebalance took the partitions: the new owner redelivers from the last commit.
            log.warning("commit failed after a rebalance; records will be redelivered", error=str(e))
            metrics.COMMITS.labels(self.service, "failed").inc()
            return
        except Exception:
            metrics.COMMITS.labels(self.service, "failed").inc()
            raise
        # A rebalance that handed a partition back resets its position to the last commit:
        # move past what we just committed, so it is not fetched and processed again.
        for tp, om in offsets.items():
            try:
                pos = self.consumer.position(tp, timeout_ms=CLIENT_CALL_MS)
                if pos is not None and pos < om.offset:
                    self.consumer.seek(tp, om.offset)
            except (IllegalStateError, AssertionError, KafkaTimeoutError):
                pass
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
            ends = self.consumer.end_offsets(assigned, timeout_ms=CLIENT_CALL_MS)
            per_topic: dict[str, int] = {}
            for tp in assigned:
                pos = self.consumer.position(tp, timeout_ms=CLIENT_CALL_MS)
                if pos is None:
                    continue
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(0, ends.get(tp, pos) - pos)
            for topic, lag in per_topic.items():
                metrics.CONSUMER_LAG.labels(self.service, self.group_id, topic).set(lag)
        except Exception as e:  # lag is best-effort observability, never fatal
            log.debug("lag refresh failed", error=str(e))


def run_service(settings: Settings, service: str, topic_suffixes: Iterable[str], handler: Handler,
                lease: Lease | None = None) -> None:
    """The standard service main: logging, /metrics + health, signals, the loop. With a `lease`
    the worker joins its group only once it holds it (alive but not ready while waiting), and
    stops if it loses it."""
    logs.configure(settings.log_level, settings.log_json, service)
    # `kill -USR1 <pid>` writes every thread's stack to stderr: what a stuck worker is doing.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    health = HealthState()
    server = HealthServer(settings.metrics_host, settings.metrics_port, health).start()
    log.info("health server listening", port=server.port)
    worker = Worker(settings, service, topic_suffixes, handler, health=health)
    worker.install_signal_handlers()
    try:
        if lease is not None:
            health.detail = f"waiting for the {lease.name} lease"
            if not lease.acquire(worker._stop, on_lost=worker.stop):
                return
        worker.run()
    finally:
        if lease is not None:
            lease.release()
        server.stop()
