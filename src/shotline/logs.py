"""Structured logging (structlog): key=value lines for people, JSON lines in clusters."""

from __future__ import annotations

import logging
import sys

import structlog


def configure(level: str = "INFO", json: bool = False, service: str = "shotline") -> None:
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level), format="%(message)s")
    for noisy in ("kafka", "urllib3", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get(name: str = "shotline") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
