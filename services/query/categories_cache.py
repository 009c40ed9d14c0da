"""In-process cache of the per-video read model that `GetVideoCategories` serves (the ad-serving hot path).

What is cached: whatever ``load_many(video_ids)`` builds from `Registry.video_read_models` — the categories
document and the user classifiers' per-video scores, already turned into the response (message and
its serialized bytes), or None for a video that has not been classified (negative entries too).

How it stays correct:
- ``<prefix>.videos.classified``: the scorer (real time and backfill) writes the categories document,
  then publishes the event; a group-less consumer per replica, assigned every partition and starting
  at the end, evicts that video. Every replica sees every event (no consumer group).
- ``<prefix>.models.deployed``: a trainer deploy is published after its rescore wrote every video's
  score for that label, so it clears the whole cache.
- Per-video classifier scores are also written with no event of their own: the scorer stores a
  video's scores per indexed chunk but publishes videos.classified only with the last one (so the
  complete video's scores are covered, a partial video's are not), and the trainer's rescore after a
  pinned/rollback deploy comes after that deploy's event. For those the staleness bound is the entry
  TTL (`SHOTLINE_CATEGORY_CACHE_TTL_SECONDS`, 60 s by default), which is also the safety net for
  categories if an event were ever missed.
- The cache serves nothing until the consumer holds its end positions (a start, a reconnect, a
  partition-count change), and is cleared then; a consumer failure (poll error, the broker not
  answering the periodic end-offset probe) clears it and bypasses it — every call reads Redis —
  until the consumer is back.
- A load that raced an invalidation (it read Redis before the eviction landed) is not stored.

Refresh ahead: an entry asked for after a jittered 50–80% of its TTL is queued for a background
reload (batched, one Redis pipeline per batch) and served from the cache meanwhile, so a video
that keeps being asked for never expires on the request path. Without it every entry filled in
the same few seconds (a warm-up, the flood after a deploy's clear) expired together a TTL later
and those calls all read Redis at once: p99 35–265 ms in the runs that crossed that moment, vs
3–8 ms in the rest. The staleness bound is unchanged: nothing is served past its TTL.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import Counter, Gauge

from shotline import logs

log = logs.get("shotline.query.cache")

CACHE_CALLS = Counter("shotline_query_category_cache_total",
                      "GetVideoCategories read-model lookups by outcome (hit, miss, bypass: cache not usable)",
                      ["outcome"])
INVALIDATIONS = Counter("shotline_query_category_cache_invalidations_total",
                        "Category cache invalidations by reason (video: videos.classified, deploy: models.deployed, "
                        "reset: consumer (re)start or failure)", ["reason"])
CONSUMER_UP = Gauge("shotline_query_category_cache_consumer_up_ratio",
                    "1 while the cache's invalidation consumer holds its positions (the cache is in use), else 0; "
                    "with several serving processes, the lowest of them",
                    multiprocess_mode="livemin")
REFRESHES = Counter("shotline_query_category_cache_refreshes_total",
                    "Category cache entries reloaded in the background before their TTL ran out, by outcome "
                    "(stored, raced: an invalidation came first, failed: Redis error)", ["outcome"])
_HIT, _MISS, _BYPASS = CACHE_CALLS.labels("hit"), CACHE_CALLS.labels("miss"), CACHE_CALLS.labels("bypass")

MAX_TRACKED_INVALIDATIONS = 100_000
REFRESH_AFTER = (0.5, 0.8)  # share of the TTL after which a hit queues a reload (uniform: spreads a herd)
REFRESH_BATCH = 64  # videos per background reload: one pipeline, and the GIL let go between batches
# How long the refresher gathers due videos before it reloads them: a reload of one video costs
# ~130 µs of CPU, one of 64 in a batch ~35 µs each; reloading each as it came due cost ~230 µs a
# reload on the serving process (thread hand-offs), 100 ms gathers ~50 at 2,000 calls/s.
REFRESH_GATHER_SECONDS = 0.1


class CategoriesCache:
    """video id → built read model, with a TTL, event-driven eviction, race-safe fills and refresh ahead.

    ``load_many(ids)`` builds the read models of several videos (None for an unclassified one).
    Hits take no lock (a dict read under the GIL); misses, reloads, evictions and clears do.
    `start_refresher()` runs the background reloads on a daemon thread; `refresh_due()` is one
    round of them.
    """

    def __init__(self, load_many: Callable[[Sequence[str]], list[Any]], ttl_seconds: float = 60.0,
                 max_entries: int = 200_000, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None):
        self._load_many = load_many
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._rng = rng or random.Random()
        self._entries: dict[str, tuple[float, float, Any]] = {}  # id -> (expires, refresh after, value)
        self._due: deque[str] = deque()  # ids queued for a background reload
        self._queued: set[str] = set()
        self._wake = threading.Event()
        self.reload_failed = False  # the last background reload failed: the refresher backs off
        self._lock = threading.Lock()
        self._seq = 0  # bumped by every invalidation
        self._floor = 0  # loads that started before this may not store (a clear happened since)
        self._invalidated: dict[str, int] = {}  # video id -> seq of its last eviction
        self.active = False  # set by the invalidation consumer once it holds its positions

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, video_id: str) -> Any:
        now = self._clock()
        if not self.active:
            _BYPASS.inc()
            return self._load_many((video_id,))[0]
        e = self._entries.get(video_id)
        if e is not None and e[0] > now:
            _HIT.inc()
            if now >= e[1] and video_id not in self._queued:
                self._queued.add(video_id)
                self._due.append(video_id)
                self._wake.set()
            return e[2]
        _MISS.inc()
        start = self._seq
        value = self._load_many((video_id,))[0]
        self._store(start, now, [(video_id, value)])
        return value

    def _store(self, start: int, now: float, loaded: list[tuple[str, Any]]) -> int:
        """Keeps what was loaded since invalidation number ``start``, unless an eviction or a clear
        came in between; returns how many were kept."""
        kept = 0
        with self._lock:
            if not self.active or start < self._floor:
                return 0
            for video_id, value in loaded:
                if self._invalidated.get(video_id, -1) >= start:
                    continue
                if len(self._entries) >= self.max_entries and video_id not in self._entries:
                    self._entries.pop(next(iter(self._entries)))  # oldest fill first (dicts keep order)
                self._entries.pop(video_id, None)  # a reload moves to the end: the newest fill
                self._entries[video_id] = (now + self.ttl, now + self.ttl * self._rng.uniform(*REFRESH_AFTER), value)
                kept += 1
        return kept

    def refresh_due(self, limit: int = REFRESH_BATCH) -> int:
        """Reloads up to ``limit`` queued videos in one batch; returns how many it took off the queue."""
        ids = []
        while len(ids) < limit:
            try:
                ids.append(self._due.popleft())
            except IndexError:  # empty, or a clear() on the consumer's thread emptied it just now
                break
        if not ids:
            return 0
        start, now = self._seq, self._clock()
        try:
            values = self._load_many(ids)
        except Exception as e:  # noqa: BLE001 - Redis down: the entries expire and the calls see the error
            REFRESHES.labels("failed").inc(len(ids))
            log.warning("category cache reload failed", videos=len(ids), error=repr(e)[:200])
            self.reload_failed = True
            return len(ids)
        finally:
            self._queued.difference_update(ids)
        kept = self._store(start, now, list(zip(ids, values, strict=True)))
        REFRESHES.labels("stored").inc(kept)
        REFRESHES.labels("raced").inc(len(ids) - kept)
        return len(ids)

    def start_refresher(self) -> CategoriesCache:
        def run() -> None:
            while True:
                self._wake.wait()
                time.sleep(REFRESH_GATHER_SECONDS)
                self._wake.clear()
                try:
                    while self.refresh_due():
                        time.sleep(0)  # let the serving threads have the GIL between batches
                except Exception as e:  # noqa: BLE001 - a bug must not end the thread: entries would then only expire
                    log.error("category cache refresher failed", error=repr(e)[:300])
                    self.reload_failed = True
                if self.reload_failed:
                    self.reload_failed = False
                    time.sleep(1.0)

        threading.Thread(target=run, name="category-cache-refresher", daemon=True).start()
        return self

    def invalidate(self, video_id: str) -> None:
        with self._lock:
            self._seq += 1
            self._entries.pop(video_id, None)
            if len(self._invalidated) >= MAX_TRACKED_INVALIDATIONS:
                self._invalidated.clear()
                self._floor = self._seq  # forgetting who was evicted: refuse every load in flight
            self._invalidated[video_id] = self._seq
        INVALIDATIONS.labels("video").inc()

    def clear(self, reason: str) -> None:
        with self._lock:
            self._seq += 1
            self._floor = self._seq
            self._entries.clear()
            self._invalidated.clear()
            self._due.clear()
            self._queued.clear()
        INVALIDATIONS.labels(reason).inc()


class Invalidator:
    """The cache's group-less Kafka consumer: every partition of the invalidation topics, from the end.

    ``handlers`` maps a full topic name to ``fn(key, value)``. Runs on its own daemon thread;
    `stop()` ends it. A failure deactivates and clears the cache, then reconnects with backoff.
    """

    def __init__(self, cache: CategoriesCache, bootstrap_servers: str,
                 handlers: dict[str, Callable[[bytes | None, bytes], None]], *, client_id: str = "query-cache",
                 probe_seconds: float = 5.0, request_timeout_ms: int = 10_000, backoff_seconds: float = 1.0,
                 consumer_factory: Callable[..., Any] | None = None):
        self.cache = cache
        self.bootstrap = bootstrap_servers
        self.handlers = handlers
        self.client_id = client_id
        self.probe_seconds = probe_seconds
        self.request_timeout_ms = request_timeout_ms
        self.backoff = backoff_seconds
        self._factory = consumer_factory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="category-cache-invalidator", daemon=True)
        self.ready = threading.Event()  # set each time the cache goes active (tests, startup)

    def start(self) -> Invalidator:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _consumer(self) -> Any:
        if self._factory is not None:
            return self._factory()
        from kafka import KafkaConsumer

        return KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                             client_id=self.client_id, request_timeout_ms=self.request_timeout_ms,
                             reconnect_backoff_max_ms=2_000)

    def _deactivate(self, why: str) -> None:
        was = self.cache.active
        self.cache.active = False
        self.ready.clear()
        CONSUMER_UP.set(0)
        self.cache.clear("reset")
        if was:
            log.warning("category cache off until its invalidation consumer is back", reason=why)

    def _assignment(self, consumer: Any) -> list[Any]:
        from kafka import TopicPartition

        parts = []
        for topic in self.handlers:
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                raise RuntimeError(f"topic {topic} has no partitions yet")
            parts += [TopicPartition(topic, p) for p in sorted(ids)]
        return parts

    def _run(self) -> None:
        while not self._stop.is_set():
            consumer = None
            try:
                consumer = self._consumer()
                parts = self._assignment(consumer)
                consumer.assign(parts)
                consumer.seek_to_end(*parts)
                for tp in parts:
                    consumer.position(tp, timeout_ms=self.request_timeout_ms)  # end offsets resolved now
                # Anything written before these positions is in Redis already: start empty.
                self.cache.clear("reset")
                self.cache.active = True
                CONSUMER_UP.set(1)
                self.ready.set()
                log.info("category cache on", partitions=len(parts))
                next_probe = time.monotonic() + self.probe_seconds
                while not self._stop.is_set():
                    batch = consumer.poll(timeout_ms=200, max_records=2_000)
                    for tp, records in batch.items():
                        handle = self.handlers[tp.topic]
                        for rec in records:
                            try:
                                handle(rec.key, rec.value)
                            except Exception as e:  # noqa: BLE001 - an unreadable event: forget everything
                                log.warning("unreadable invalidation event", topic=tp.topic, error=repr(e)[:200])
                                self.cache.clear("reset")
                    if time.monotonic() >= next_probe:
                        # raises when the broker does not answer:
                        consumer.end_offsets(parts, timeout_ms=self.request_timeout_ms)
                        if len(self._assignment(consumer)) != len(parts):
                            raise RuntimeError("partition count changed")
                        next_probe = time.monotonic() + self.probe_seconds
            except Exception as e:  # noqa: BLE001 - any failure: stop caching, reconnect
                self._deactivate(repr(e)[:300])
                self._stop.wait(self.backoff)
            finally:
                if consumer is not None:
                    try:
                        consumer.close()
                    except Exception:  # noqa: BLE001, S110 - closing a broken consumer
                        pass
        self._deactivate("stopped")
