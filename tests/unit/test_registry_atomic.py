"""Read-model state that two writers touch at once, on a real Redis: version numbers, the
deploy-vs-pin race, and the trainer's single-replica lease."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis

from shotline.lease import Lease
from shotline.registry import Registry

from .test_index_shots import redis_url  # noqa: F401  (a real redis-server)


def _registry(url: str) -> Registry:
    r = redis.Redis.from_url(url)
    r.flushdb()
    return Registry(r)


def test_version_numbers_are_unique_under_concurrency_and_continue_old_labels(redis_url: str) -> None:  # noqa: F811
    reg = _registry(redis_url)
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda _: reg.next_version("cars"), range(200)))
    assert sorted(got) == list(range(1, 201))
    # A label stored before the counter existed: its next number is above every stored version.
    reg.r.hset("shotline:label:legacy:versions", mapping={"1": "{}", "7": "{}"})
    assert reg.next_version("legacy") == 8
    assert reg.next_version("legacy") == 9


def test_an_automatic_deploy_never_overwrites_a_pin(redis_url: str) -> None:  # noqa: F811
    reg = _registry(redis_url)
    assert reg.deploy_unless_pinned("cars", 1) is True
    assert reg.deployed("cars") == 1 and not reg.pinned("cars")
    reg.set_deployed("cars", 1, pinned=True)          # an expert pins v1 through the API
    assert reg.deploy_unless_pinned("cars", 2) is False
    assert reg.deployed("cars") == 1 and reg.pinned("cars")
    reg.set_deployed("cars", 2, pinned=False)         # unpinned: automatic deploys resume
    assert reg.deploy_unless_pinned("cars", 3) is True
    assert reg.deployed("cars") == 3

    # Racing: a pin lands while many automatic deploys run; afterwards the pin holds.
    stop = threading.Event()

    def trainer() -> None:
        v = 10
        while not stop.is_set():
            reg.deploy_unless_pinned("race", v)
            v += 1

    t = threading.Thread(target=trainer)
    t.start()
    time.sleep(0.05)
    reg.set_deployed("race", 5, pinned=True)
    time.sleep(0.05)
    stop.set()
    t.join()
    assert reg.deployed("race") == 5 and reg.pinned("race")


def test_a_second_trainer_waits_for_the_lease_and_takes_over(redis_url: str) -> None:  # noqa: F811
    reg = _registry(redis_url)
    first, second = Lease(reg, "trainer", ttl_seconds=1.0), Lease(reg, "trainer", ttl_seconds=1.0)
    stopping = threading.Event()
    assert first.acquire(stopping, on_lost=lambda: None)
    took = threading.Event()
    waiter = threading.Thread(target=lambda: second.acquire(stopping, on_lost=lambda: None) and took.set())
    waiter.start()
    time.sleep(2.5)                      # > ttl: the holder keeps renewing, the second keeps waiting
    assert not took.is_set() and reg.lease_holder("trainer") == first.holder
    first.release()
    assert took.wait(5) and reg.lease_holder("trainer") == second.holder
    waiter.join()

    # The holder whose lease is taken (it paused past the ttl) is told to stop.
    lost = threading.Event()
    third = Lease(reg, "other", ttl_seconds=1.0)
    assert third.acquire(stopping, on_lost=lost.set)
    reg.r.set("shotline:lease:other", "someone-else")
    assert lost.wait(5)
    third.release()
    assert reg.lease_holder("other") == "someone-else"   # release never deletes another's lease
    second.release()

    # A waiter stops waiting when the service is asked to stop.
    blocked = Lease(reg, "other", ttl_seconds=1.0)
    stopping.set()
    assert blocked.acquire(stopping, on_lost=lambda: None) is False


def test_two_deployments_share_one_redis_under_their_own_key_prefixes(redis_url: str) -> None:  # noqa: F811
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    staging, prod = Registry(r, "staging"), Registry(r, "prod")
    staging.set_video_categories("v1", {"categories": [], "taxonomy_version": "t"})
    assert staging.video_categories("v1") is not None and prod.video_categories("v1") is None
    assert {k.decode().split(":", 1)[0] for k in r.keys("*")} == {"staging"}
