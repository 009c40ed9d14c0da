"""Run the query service as N serving processes on one port (``SHOTLINE_GRPC_PROCESSES``).

gRPC Python serves every call of a process under one GIL, so a replica's hot path is bounded by
one core however many threads it has (README "Hot path": the single-process p99 misses 10 ms at
2,000 QPS). gRPC's own answer for multi-core Python servers is one process per core on a shared
port (grpc examples/python/multiprocessing, ``grpc.so_reuseport``): the kernel spreads incoming
connections over the processes. Each child is a whole query service (servicer, read-model cache
and its invalidation consumer, producer); child 0 also serves /metrics, /healthz, /readyz and
runs the recall probe.

This parent only supervises. It gives the children one fresh ``PROMETHEUS_MULTIPROC_DIR``, set
before any of them imports prometheus_client, so child 0's /metrics sums every process's counters
and histograms; it forwards SIGTERM/SIGINT; and when a child dies on its own it stops the others
and exits non-zero, so the pod restarts instead of running on with part of its capacity gone.

Cores: when the cpuset the parent was given has exactly one core per process (a Guaranteed pod
with cpu: N under the kubelet's static CPU manager, or ``taskset``), child i runs on core i alone.
A process's threads take turns on its GIL; left free to move, they hand it across cores, which
measured ~1.5x the CPU per call (README "Hot path"). A larger cpuset is a shared pool, where
pinning would pile replicas onto the same cores: there the children are left to the scheduler.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from services.query.settings import QuerySettings

PROCESS_INDEX_ENV = "SHOTLINE_QUERY_PROCESS_INDEX"  # set by this parent on each child: 0 .. N-1


def process_index() -> int:
    """This process's index among the serving processes (0 when it runs alone)."""
    return int(os.environ.get(PROCESS_INDEX_ENV, "0"))


def main() -> None:
    settings = QuerySettings()
    if settings.grpc_processes == 1 or PROCESS_INDEX_ENV in os.environ:
        from services.query.main import main as serve  # imported here: after the metrics mode is fixed

        serve(settings)
        return
    sys.exit(supervise(settings.grpc_processes, settings.grpc_grace_seconds))


def own_cores(n: int, cpuset: set[int]) -> list[set[int] | None]:
    """The core each of n children is pinned to: one each when the cpuset has exactly n, else none."""
    if len(cpuset) != n:
        return [None] * n
    return [{c} for c in sorted(cpuset)]


def supervise(n: int, grace_seconds: float) -> int:
    metrics_dir = tempfile.mkdtemp(prefix="shotline-query-metrics-")
    cores = own_cores(n, os.sched_getaffinity(0))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    children = [subprocess.Popen([sys.executable, "-m", "services.query"],
                                 env={**os.environ, PROCESS_INDEX_ENV: str(i), "PROMETHEUS_MULTIPROC_DIR": metrics_dir},
                                 preexec_fn=pinned_to(cores[i]))
                for i in range(n)]
    failed = None
    try:
        while not stop.wait(0.5):
            failed = next((c for c in children if c.poll() is not None), None)
            if failed is not None:
                print(f"query: serving process {children.index(failed)} (pid {failed.pid}) exited with "
                      f"{failed.returncode}; stopping the others", file=sys.stderr, flush=True)
                break
    finally:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        for c in children:
            try:
                c.wait(grace_seconds + 5)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if failed is not None:
        return failed.returncode if failed.returncode > 0 else 1
    return 0 if all(c.returncode == 0 for c in children) else 1


def pinned_to(cores: set[int] | None):  # type: ignore[no-untyped-def]
    """A ``preexec_fn`` that confines a child to ``cores`` (None: no pinning). It runs in the child
    before exec, so every thread the program starts inherits them."""
    return None if cores is None else (lambda: os.sched_setaffinity(0, cores))
