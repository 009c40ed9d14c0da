"""A single-active-replica lease in Redis, for services that must not run twice at once.

The trainer versions and deploys classifiers: two replicas would race on versions and feeds.
A second replica therefore waits (alive, not ready) until the lease is free, and a holder that
fails to renew in time — a long pause, a partition from Redis — stops its worker instead of
carrying on beside the replica that took over. Kubernetes restarts it and it waits again.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import Gauge

from shotline import logs
from shotline.errors import TransientError
from shotline.registry import Registry

log = logs.get("lease")

T = TypeVar("T")

HELD = Gauge("shotline_lease_held", "1 while this replica holds its service's lease", ["lease"])


class Lease:
    def __init__(self, registry: Registry, name: str, ttl_seconds: float = 15.0):
        self.registry = registry
        self.name = name
        self.ttl_ms = int(ttl_seconds * 1000)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _try(self, fn: Callable[[], T]) -> T | None:
        """``fn()``, or None (logged) while Redis is unreachable."""
        try:
            return fn()
        except TransientError as e:
            log.warning("lease: redis unavailable", lease=self.name, error=str(e))
            return None

    def acquire(self, stopping: threading.Event, on_lost: Callable[[], None]) -> bool:
        """Block until held (True) or `stopping` is set (False); then renew every ttl/3 in the
        background and call `on_lost` if a renewal fails for a whole ttl."""
        waiting_logged = False
        while not stopping.is_set():
            if self._try(lambda: self.registry.acquire_lease(self.name, self.holder, self.ttl_ms)):
                break
            if not waiting_logged:
                log.info("waiting for the lease: another replica is active", lease=self.name,
                         holder=self._try(lambda: self.registry.lease_holder(self.name)) or "")
                waiting_logged = True
            stopping.wait(self.ttl_ms / 3000)
        else:
            return False
        HELD.labels(self.name).set(1)
        log.info("lease acquired", lease=self.name, holder=self.holder)
        self._thread = threading.Thread(target=self._renew, args=(on_lost,), name=f"lease-{self.name}", daemon=True)
        self._thread.start()
        return True

    def _renew(self, on_lost: Callable[[], None]) -> None:
        interval = self.ttl_ms / 3000
        failures = 0
        while not self._done.wait(interval):
            ok = self._try(lambda: self.registry.renew_lease(self.name, self.holder, self.ttl_ms))
            if ok:
                failures = 0
                continue
            failures += 1
            if ok is False or failures >= 3:  # taken by another replica, or unrenewable for a ttl
                HELD.labels(self.name).set(0)
                log.error("lease lost: stopping", lease=self.name, holder=self.holder)
                on_lost()
                return

    def release(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(5)
            self._try(lambda: self.registry.release_lease(self.name, self.holder))
            HELD.labels(self.name).set(0)
