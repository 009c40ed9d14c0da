"""Fixtures shared by the unit tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from shotline.stack.milvus import MilvusLiteServer


@pytest.fixture(scope="module")
def milvus_lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusLiteServer]:
    """A real milvus-lite server on a free port, one per test module."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = MilvusLiteServer(tmp_path_factory.mktemp("milvus"), port, db_name="unit.db")
    srv.start()
    try:
        srv.wait_ready(timeout=60)
        yield srv
    finally:
        srv.stop()
