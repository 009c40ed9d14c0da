"""A minimal service on the shared worker runtime, for testing delivery guarantees.

Consumes `<prefix>.echo.in` (JSON {"id", "sleep", "crash"}), records every delivery in Redis
(`<prefix>:deliveries` list), applies an idempotent effect (`SET NX <prefix>:effect:<id>`),
and produces `<prefix>.echo.out`. `crash: true` SIGKILLs the process after processing and
before the commit — once per id — to prove redelivery. `retryable: N` fails with a per-record
fault on the first N deliveries (-1: always), like a URL that times out.
"""

from __future__ import annotations

import json
import os
import signal
import time

import redis
from kafka.consumer.fetcher import ConsumerRecord

from shotline.errors import BadInput, RetryableInput
from shotline.settings import Settings
from shotline.worker import Output, run_service


class EchoHandler:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.r = redis.Redis.from_url(settings.redis_url.get_secret_value())
        self.p = settings.topic_prefix

    def handle(self, record: ConsumerRecord) -> list[Output]:
        try:
            body = json.loads(record.value)
            item = str(body["id"])
        except (ValueError, KeyError, TypeError) as e:
            raise BadInput("malformed_event", f"not an echo event: {e}") from e
        fails = int(body.get("retryable", 0))
        if fails:
            tried = self.r.incr(f"{self.p}:tries:{item}")
            if fails < 0 or tried <= fails:
                raise RetryableInput("fetch_unreachable", f"{item}: try {tried} failed")
        self.r.rpush(f"{self.p}:started", item)
        print(f"started {item} p{record.partition} o{record.offset} {record.topic}", flush=True)
        time.sleep(float(body.get("sleep", 0)))
        self.r.rpush(f"{self.p}:deliveries", item)
        self.r.set(f"{self.p}:effect:{item}", os.getpid(), nx=True)
        if body.get("crash") and self.r.set(f"{self.p}:crashed:{item}", 1, nx=True):
            # Processed, not yet produced/committed: die the hard way.
            os.kill(os.getpid(), signal.SIGKILL)
        return [Output(self.settings.topic("echo.out"), item, record.value)]


if __name__ == "__main__":
    settings = Settings()
    run_service(settings, "echo", ["echo.in"], EchoHandler(settings))
