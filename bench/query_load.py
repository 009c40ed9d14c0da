"""Closed-loop load generator for the query benchmark (ghz-style, runs in its own process).

``concurrency`` coroutines on one grpc.aio channel each keep one call in flight for
``seconds`` after a warm-up; every call's latency is recorded. Loopback targets only.
Prints one JSON object: calls, errors (by status code), p50/p90/p99/max ms and QPS.

Targets: ``search`` (QueryService.SearchText over rotating prompts), ``categories``
(QueryService.GetVideoCategories over random known video ids) and ``redis`` (the same
GET + HGETALL that GetVideoCategories does, straight to Redis: the baseline).

Run: ``python -m bench.query_load --target search --address 127.0.0.1:39151 --concurrency 16
--seconds 10 --prompts prompts.txt`` (PYTHONPATH=src:.).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from shotline.errors import BadInput, TransientError
from shotline.registry import DEFAULT_PREFIX, key  # the registry owns the key layout

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
Call = Callable[[int], Awaitable[object]]


def _check_loopback(host: str) -> None:
    if host not in LOOPBACK:
        raise BadInput("not_loopback", f"load is only sent to loopback, not {host!r}")


def _lines(path: str, what: str) -> list[str]:
    items = [x.strip() for x in Path(path).read_text().splitlines() if x.strip()]
    if not items:
        raise BadInput("empty_file", f"{what} file {path} has no lines")
    return items


async def _grpc_call(args: argparse.Namespace) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import grpc

    from shotline.v1 import query_pb2, query_pb2_grpc

    _check_loopback(args.address.rsplit(":", 1)[0].strip("[]"))
    inputs = _lines(args.prompts, "prompts") if args.target == "search" else _lines(args.video_ids, "video ids")
    # One channel per 16 clients: a single HTTP/2 connection serialises frames in one I/O thread.
    channels = [grpc.aio.insecure_channel(args.address) for _ in range(max(1, args.concurrency // 16))]
    try:
        for ch in channels:
            await asyncio.wait_for(ch.channel_ready(), 30)
    except TimeoutError:
        raise TransientError(f"QueryService at {args.address} did not answer within 30 s") from None
    stubs = [query_pb2_grpc.QueryServiceStub(ch) for ch in channels]
    timeout = args.timeout
    if args.target == "search":
        reqs = [query_pb2.SearchTextRequest(query=p, top_k=args.top_k) for p in inputs]

        async def call(i: int) -> object:
            return await stubs[i % len(stubs)].SearchText(reqs[random.randrange(len(reqs))], timeout=timeout)
    else:
        async def call(i: int) -> object:
            req = query_pb2.GetVideoCategoriesRequest(video_id=random.choice(inputs))
            return await stubs[i % len(stubs)].GetVideoCategories(req, timeout=timeout)

    async def close() -> None:
        for ch in channels:
            await ch.close()

    return call, close


async def _redis_call(args: argparse.Namespace) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import redis.asyncio as aredis

    _check_loopback(urlparse(args.redis_url).hostname or "")
    r = aredis.Redis.from_url(args.redis_url, max_connections=args.concurrency + 1)
    ids = _lines(args.video_ids, "video ids")

    async def call(i: int) -> object:
        vid = random.choice(ids)
        doc = await r.get(key(DEFAULT_PREFIX, "video", vid, "categories"))
        await r.hgetall(key(DEFAULT_PREFIX, "video", vid, "classifiers"))
        return json.loads(doc) if doc else None

    async def close() -> None:
        await r.aclose()

    return call, close


def _error_code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return code().name if callable(code) else type(exc).__name__


async def run(args: argparse.Namespace) -> dict[str, object]:
    call, close = await (_redis_call(args) if args.target == "redis" else _grpc_call(args))
    start = time.perf_counter()
    measure_from = start + args.warmup
    stop_at = measure_from + args.seconds
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    async def client(i: int) -> None:
        while (t0 := time.perf_counter()) < stop_at:
            try:
                await call(i)
                ok = True
            except Exception as exc:  # noqa: BLE001 - every failure is counted, not fatal
                errors[_error_code(exc)] += 1 if t0 >= measure_from else 0
                ok = False
            if ok and t0 >= measure_from:
                latencies.append(time.perf_counter() - t0)

    try:
        await asyncio.gather(*(client(i) for i in range(args.concurrency)))
    finally:
        await close()
    window = time.perf_counter() - measure_from
    ms = np.asarray(latencies) * 1e3
    pct = (lambda q: float(np.percentile(ms, q)) if len(ms) else float("nan"))
    return {"target": args.target, "concurrency": args.concurrency, "calls": len(ms),
            "errors": sum(errors.values()), "error_codes": dict(errors), "qps": len(ms) / window,
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": pct(100)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", choices=["search", "categories", "redis"], required=True)
    ap.add_argument("--address", default="127.0.0.1:50051", help="QueryService host:port")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-call deadline, s")
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--prompts", default="", help="file: one SearchText prompt a line")
    ap.add_argument("--video-ids", default="", help="file: one video id a line")
    args = ap.parse_args(argv)
    if not 1 <= args.concurrency <= 1024 or not 0 < args.seconds <= 3600 or args.warmup < 0:
        raise BadInput("bad_load_args", "need 1 <= concurrency <= 1024, 0 < seconds <= 3600, warmup >= 0")
    if args.target == "search" and not args.prompts:
        raise BadInput("bad_load_args", "--prompts is required for the search target")
    if args.target != "search" and not args.video_ids:
        raise BadInput("bad_load_args", "--video-ids is required for the categories and redis targets")
    return args


def main(argv: list[str] | None = None) -> None:
    try:
        result = asyncio.run(run(parse_args(argv)))
    except BadInput as e:
        print(json.dumps({"error": e.reason, "message": str(e)}))
        sys.exit(2)
    except TransientError as e:
        print(json.dumps({"error": "unavailable", "message": str(e)}))
        sys.exit(3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
