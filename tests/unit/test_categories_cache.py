"""The GetVideoCategories read-model cache: TTL, eviction, bypass while inactive, race-safe fills,
and the batch call's validation and order — no network (a fake registry)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from services.query.categories_cache import CategoriesCache
from services.query.servicer import QueryServicer
from services.query.validation import MAX_BATCH_VIDEOS
from shotline.errors import BadInput
from shotline.settings import Settings
from shotline.v1 import common_pb2, query_pb2


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def counting(values: dict[str, str]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def load(vids: list[str]) -> list[str | None]:
        calls.extend(vids)
        return [values.get(v) for v in vids]

    return load, calls


def test_inactive_cache_always_reads_through() -> None:
    store = {"a": "1"}
    load, calls = counting(store)
    c = CategoriesCache(load, ttl_seconds=60)
    assert c.get("a") == "1" and c.get("a") == "1"
    assert calls == ["a", "a"] and len(c) == 0


def test_hits_until_ttl_then_reload() -> None:
    store = {"a": "1"}
    load, calls = counting(store)
    clock = Clock()
    c = CategoriesCache(load, ttl_seconds=10, clock=clock)
    c.active = True
    assert c.get("a") == "1"
    store["a"] = "2"  # changed with no event (classifier scores): served stale within the TTL only
    clock.t += 9.9
    assert c.get("a") == "1"  # (queued for a reload that nobody runs here)
    clock.t += 0.2
    assert c.get("a") == "2"
    assert calls == ["a", "a"]


def test_a_video_asked_for_late_in_its_ttl_is_reloaded_in_the_background() -> None:
    store = {"a": "1", "b": "1"}
    load, calls = counting(store)
    clock = Clock()
    c = CategoriesCache(load, ttl_seconds=10, clock=clock)
    c.active = True
    c.get("a"), c.get("b")
    store.update(a="2", b="2")
    clock.t += 4.9  # before half the TTL: nothing is due
    assert c.get("a") == "1" and c.refresh_due() == 0
    clock.t += 3.2  # 8.1 s: past every entry's refresh point (at most 80% of the TTL)
    assert c.get("a") == "1" and c.get("a") == "1"  # served from the cache meanwhile, queued once
    assert c.refresh_due() == 1 and calls == ["a", "b", "a"]  # b was not asked for: left to expire
    assert c.get("a") == "2"  # the reload, with a fresh TTL
    clock.t += 9.9  # 18 s: a's reload is within its TTL, b's fill is not
    assert c.get("a") == "2" and c.get("b") == "2"
    assert calls == ["a", "b", "a", "b"]  # a never missed; b missed once


def test_entries_filled_together_come_due_at_different_times() -> None:
    load, _ = counting({str(i): "x" for i in range(200)})
    c = CategoriesCache(load, ttl_seconds=100, clock=Clock())
    c.active = True
    for i in range(200):
        c.get(str(i))
    due = sorted(e[1] - 100.0 for e in c._entries.values())  # refresh point minus the fill time
    assert 50.0 <= due[0] and due[-1] <= 80.0
    assert due[-1] - due[0] > 20.0  # spread over most of the 50-80% window, not one moment


def queued_for_reload(load, clock: Clock) -> CategoriesCache:  # type: ignore[no-untyped-def]
    """An active cache holding "v", asked for again past its refresh point: "v" is queued."""
    c = CategoriesCache(load, ttl_seconds=10, clock=clock)
    c.active = True
    c.get("v")
    clock.t += 8.5
    c.get("v")
    return c


def test_a_reload_that_raced_an_invalidation_is_not_stored() -> None:
    store = {"v": "old"}
    c: CategoriesCache
    racing = False

    def load(vids: list[str]) -> list[str]:
        value = [store[v] for v in vids]
        if racing:
            store["v"] = "new"
            c.invalidate("v")  # the scorer's event lands while the reload reads Redis
        return value

    c = queued_for_reload(load, Clock())
    store["v"], racing = "mid", True
    assert c.refresh_due() == 1
    assert len(c) == 0  # evicted by the event, and the reload it raced not kept
    racing = False
    assert c.get("v") == "new"


def test_a_failed_reload_keeps_serving_until_the_ttl() -> None:
    clock = Clock()
    fail = False

    def load(vids: list[str]) -> list[str]:
        if fail:
            raise ConnectionError("redis down")
        return ["x" for _ in vids]

    c = queued_for_reload(load, clock)
    fail = True
    assert c.refresh_due() == 1 and c.reload_failed
    assert c.get("v") == "x"  # still within the TTL
    clock.t += 2
    with pytest.raises(ConnectionError):
        c.get("v")  # expired: the call reads Redis and sees its error


def test_a_clear_drops_queued_reloads() -> None:
    load, calls = counting({"v": "x"})
    c = queued_for_reload(load, Clock())
    c.clear("deploy")
    assert c.refresh_due() == 0 and calls == ["v"]


def test_invalidate_and_clear_evict_and_negatives_are_cached() -> None:
    store: dict[str, str] = {}
    load, calls = counting(store)
    c = CategoriesCache(load, ttl_seconds=60, clock=Clock())
    c.active = True
    assert c.get("v") is None and c.get("v") is None  # unclassified, remembered
    assert calls == ["v"]
    store["v"] = "doc"
    c.invalidate("v")
    assert c.get("v") == "doc"
    store["v"] = "doc2"
    c.clear("deploy")
    assert c.get("v") == "doc2"
    assert calls == ["v", "v", "v"]


def test_a_load_that_raced_an_invalidation_is_not_stored() -> None:
    store = {"v": "old"}
    c: CategoriesCache

    def load(vids: list[str]) -> list[str]:
        (vid,) = vids
        value = store[vid]
        store[vid] = "new"
        c.invalidate(vid)  # the event lands while this load is in flight
        return [value]

    c = CategoriesCache(load, ttl_seconds=60, clock=Clock())
    c.active = True
    assert c.get("v") == "old"
    assert len(c) == 0  # not stored: the next call reads Redis again


def test_deactivation_mid_load_is_not_stored() -> None:
    c: CategoriesCache

    def load(vids: list[str]) -> list[str]:
        c.active = False
        c.clear("reset")
        return ["x"]

    c = CategoriesCache(load, ttl_seconds=60, clock=Clock())
    c.active = True
    c.get("v")
    assert len(c) == 0


def test_size_bound_drops_the_oldest_fill() -> None:
    load, _ = counting({k: k for k in "abc"})
    c = CategoriesCache(load, ttl_seconds=60, max_entries=2, clock=Clock())
    c.active = True
    for k in "abc":
        c.get(k)
    assert len(c) == 2 and "a" not in c._entries


class FakeRegistry:
    def __init__(self, docs: dict[str, dict]) -> None:  # type: ignore[type-arg]
        self.docs = docs

    def video_read_models(self, vids):  # type: ignore[no-untyped-def]  # what the query service calls
        return [self.video_read_model(v) for v in vids]

    def video_read_model(self, vid: str):  # type: ignore[no-untyped-def]
        return self.docs.get(vid), {}


def servicer(docs: dict[str, dict]) -> QueryServicer:  # type: ignore[type-arg]
    return QueryServicer(Settings(), SimpleNamespace(dims={"joint": 8}), common_pb2.ModelRef(), None,
                         FakeRegistry(docs), None, categories_cache_ttl_seconds=10)


def doc(name: str) -> dict:  # type: ignore[type-arg]
    return {"categories": [{"category_id": name, "name": name, "score": 0.9, "threshold": 0.5, "source": "text"}],
            "taxonomy_version": "t1", "model_versions": {}, "classified_at_ms": 1}


def test_batch_keeps_request_order_and_lists_unknown_videos() -> None:
    s = servicer({"b": doc("B"), "a": doc("A")})
    s.categories_cache.active = True  # type: ignore[union-attr]
    res = s.BatchGetVideoCategories(query_pb2.BatchGetVideoCategoriesRequest(video_ids=["b", "nope", "a", "b"]), None)
    assert [v.video_id for v in res.videos] == ["b", "a", "b"]
    assert [v.categories[0].name for v in res.videos] == ["B", "A", "B"]
    assert list(res.not_found) == ["nope"]


@pytest.mark.parametrize("ids", [[], ["a", ""], ["v"] * (MAX_BATCH_VIDEOS + 1)])
def test_batch_validation(ids: list[str]) -> None:
    from services.query.validation import check_video_ids

    with pytest.raises(BadInput):
        check_video_ids(ids)


def test_serialized_answer_is_the_message() -> None:
    s = servicer({"a": doc("A")})
    msg, raw = s._categories("a")
    assert query_pb2.VideoCategories.FromString(raw) == msg and msg.categories[0].category_id == "A"


def test_second_call_is_served_from_the_cache() -> None:
    reads: list[str] = []

    class Counting(FakeRegistry):
        def video_read_model(self, vid: str):  # type: ignore[no-untyped-def]
            reads.append(vid)
            return super().video_read_model(vid)

    s = QueryServicer(Settings(), SimpleNamespace(dims={"joint": 8}), common_pb2.ModelRef(), None,
                      Counting({"a": doc("A")}), None, categories_cache_ttl_seconds=10)
    s.categories_cache.active = True  # type: ignore[union-attr]  # what the invalidation consumer sets
    req = query_pb2.GetVideoCategoriesRequest(video_id="a")
    assert s.GetVideoCategories(req, None) == s.GetVideoCategories(req, None)
    assert reads == ["a"]


class FakeConsumer:
    """Enough of KafkaConsumer for the invalidator: one partition, scripted polls."""

    def __init__(self, polls: list) -> None:  # type: ignore[type-arg]
        self.polls = polls
        self.positioned = False
        self.closed = False

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def assign(self, parts) -> None:  # type: ignore[no-untyped-def]
        pass

    def seek_to_end(self, *parts) -> None:  # type: ignore[no-untyped-def]
        pass

    def position(self, tp, timeout_ms=None) -> int:  # type: ignore[no-untyped-def]
        self.positioned = True
        return 0

    def end_offsets(self, parts, timeout_ms=None) -> dict:  # type: ignore[no-untyped-def,type-arg]
        return {}

    def poll(self, timeout_ms=0, max_records=0):  # type: ignore[no-untyped-def]
        import time as _t

        _t.sleep(0.01)
        step = self.polls.pop(0) if self.polls else {}
        if isinstance(step, Exception):
            raise step
        return step

    def close(self) -> None:
        self.closed = True


def test_invalidator_evicts_on_events_and_turns_the_cache_off_on_failure() -> None:
    import threading

    from kafka import TopicPartition

    from services.query.categories_cache import Invalidator

    store = {"v": "old"}
    load, _ = counting(store)
    cache = CategoriesCache(load, ttl_seconds=3600)
    gate = threading.Event()
    first_poll_done = threading.Event()
    rec = SimpleNamespace(key=b"v", value=b"")

    class Scripted(FakeConsumer):
        def poll(self, timeout_ms=0, max_records=0):  # type: ignore[no-untyped-def]
            if not gate.is_set():
                first_poll_done.set()
                gate.wait(5)
                return {}
            return super().poll(timeout_ms, max_records)

    consumers = [Scripted([{TopicPartition("p.videos.classified", 0): [rec]}, RuntimeError("broker gone")]),
                 FakeConsumer([])]
    made: list[FakeConsumer] = []

    def factory() -> FakeConsumer:
        c = consumers.pop(0) if consumers else FakeConsumer([])
        made.append(c)
        return c

    inv = Invalidator(cache, "unused", {"p.videos.classified": lambda k, v: cache.invalidate(k.decode())},
                      backoff_seconds=0.05, consumer_factory=factory)
    assert cache.active is False
    inv.start()
    try:
        assert first_poll_done.wait(5) and cache.active and made[0].positioned
        assert cache.get("v") == "old"
        store["v"] = "new"
        assert cache.get("v") == "old"  # cached
        gate.set()  # the event, then the failure
        import time as _t

        deadline = _t.monotonic() + 5
        while _t.monotonic() < deadline and not (made[0].closed and len(made) > 1 and cache.active):
            _t.sleep(0.005)
        assert made[0].closed and len(made) >= 2 and made[1].positioned  # reconnected, positions first
        assert cache.get("v") == "new"
        assert len(cache) == 1
    finally:
        inv.stop()
    assert cache.active is False and len(cache) == 0


def test_the_refresher_thread_reloads_what_is_due() -> None:
    import time

    store = {"v": "1"}
    load, calls = counting(store)
    clock = Clock()
    c = CategoriesCache(load, ttl_seconds=10, clock=clock).start_refresher()
    c.active = True
    c.get("v")
    store["v"] = "2"
    clock.t += 8.5
    assert c.get("v") == "1"
    deadline = time.monotonic() + 5
    while c.get("v") != "2" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert c.get("v") == "2" and calls == ["v", "v"]

