"""Throughput timing shared by the benches."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

MIN_SECONDS = float(os.environ.get("BENCH_SECONDS", 4.0))  # per measurement


def per_second(run: Callable[[], Any], batch: int) -> float:
    """Items per second of ``run()`` (``batch`` items a call), after one warm-up call, over at
    least ``BENCH_SECONDS`` and three calls."""
    run()  # warm-up (allocations, kernel selection)
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < MIN_SECONDS or done < 3 * batch:
        run()
        done += batch
    return done / elapsed
