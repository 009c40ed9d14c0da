"""The real stack for integration tests: Apache Kafka, milvus-lite's server and Redis,
started once per session by the project's own stack code on ports of their own (so a
developer's `make up` stack is left alone), stopped at the end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shotline.stack import local

TEST_PORTS = dict(
    kafka_port=29092, kafka_controller_port=29093, milvus_port=29530, redis_port=26379,
    query_port=29051, encoder_port=29052, console_port=29080, metrics_port_base=29401,
)


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> local.StackSettings:
    run_dir = tmp_path_factory.mktemp("stack")
    return local.StackSettings(run_dir=run_dir, partitions=4, **TEST_PORTS)


@pytest.fixture(scope="session")
def stack(stack_settings: local.StackSettings) -> Iterator[local.Endpoints]:
    ep = local.up(stack_settings, with_services=False)
    yield ep
    local.down(stack_settings)


@pytest.fixture
def prefix() -> str:
    """A topic prefix of its own per test, so tests never see each other's records."""
    return "t" + uuid.uuid4().hex[:10]


def service_env(stack: local.Endpoints, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=stack.kafka, MILVUS_URI=stack.milvus, REDIS_URL=stack.redis,
        PYTHONUNBUFFERED="1", SHOTLINE_METRICS_PORT="0", SHOTLINE_POLL_TIMEOUT_MS="200",
    )
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    fh = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen([sys.executable, *args], env=env, stdout=fh, stderr=subprocess.STDOUT,
                            cwd=Path(__file__).resolve().parents[2])


def wait_for(pred, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
