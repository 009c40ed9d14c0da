"""Structured logging (structlog): key=value lines for people, JSON lines in clusters.

Logs always go to stderr — also before ``configure`` runs (structlog's own default prints to
stdout, which would corrupt a CLI's machine-readable output). ``data_stdout()`` goes further
for commands whose stdout is data (``--json``, ``segment``, ``tail``): while it is open, file
descriptor 1 itself points at stderr, so nothing a library prints (Python or C) can reach the
data stream, and the data goes to the stream it yields.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import structlog


class _StderrLoggerFactory:
    def __call__(self, *args: object) -> structlog.PrintLogger:
        return structlog.PrintLogger(file=_StderrProxy())


class _StderrProxy:
    def write(self, s: str) -> int:
        return sys.stderr.write(s)

    def flush(self) -> None:
        sys.stderr.flush()


def _stderr_default() -> None:
    if not structlog.is_configured():
        structlog.configure(logger_factory=_StderrLoggerFactory())


_stderr_default()


def configure(level: str = "INFO", json: bool = False, service: str = "shotline") -> None:
    level = level.upper()
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level), format="%(message)s")
    logging.getLogger().setLevel(getattr(logging, level))
    for noisy in ("kafka", "urllib3", "grpc", "botocore", "boto3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))
    # pymilvus logs every failed RPC with a full traceback (hundreds of lines per Milvus outage);
    # each failure also reaches our code as an exception, which the worker logs once.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        # sys.stderr looked up at each write, so a redirected stderr (tests, data_stdout) is honoured.
        logger_factory=_StderrLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get(name: str = "shotline") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


@contextmanager
def data_stdout() -> Iterator[TextIO]:
    """Yield a text stream on the real stdout while fd 1 (and ``sys.stdout``) point at stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 at all: nothing to protect
        yield sys.stdout
        return
    out = os.fdopen(os.dup(saved), "w", encoding="utf-8", buffering=1)
    real_stdout = sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield out
    finally:
        out.flush()
        sys.stderr.flush()
        sys.stdout = real_stdout
        os.dup2(saved, 1)
        os.close(saved)
        out.close()
