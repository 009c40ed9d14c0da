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

    def load(vid: str) -> str | None:
        calls.append(vid)
        return values.get(vid)

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
    assert c.get("a") == "1"
    clock.t += 0.2
    assert c.get("a") == "2"
    assert calls == ["a", "a"]


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

    def load(vid: str) -> str:
        value = store[vid]
        store[vid] = "new"
        c.invalidate(vid)  # the event lands while this load is in flight
        return value

    c = CategoriesCache(load, ttl_seconds=60, clock=Clock())
    c.active = True
    assert c.get("v") == "old"
    assert len(c) == 0  # not stored: the next call reads Redis again


def test_deactivation_mid_load_is_not_stored() -> None:
    c: CategoriesCache

    def load(vid: str) -> str:
        c.active = False
        c.clear("reset")
        return "x"

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
