"""The local milvus-lite server: idempotent start, health check, clean stop."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from shotline.stack.milvus import MilvusLiteServer, port_answers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_is_idempotent_and_stop_leaves_no_process(tmp_path: Path) -> None:
    server = MilvusLiteServer(tmp_path, _free_port(), db_name="t.db")
    assert not server.is_running()
    assert server.start() is True
    try:
        server.wait_ready(timeout=60)
        pid = int(server.pid_file.read_text())
        # A second start (this or another process) finds the port answering and does nothing.
        assert server.start() is False
        assert MilvusLiteServer(tmp_path, server.port, db_name="t.db").start() is False
        assert int(server.pid_file.read_text()) == pid
        assert server.is_running()
        assert server.db_path.exists()
    finally:
        server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not port_answers(server.port)
    assert not server.pid_file.exists()
    assert not server.is_running()
    server.stop()  # stopping a stopped server is a no-op


def test_stop_from_another_handle_uses_the_pid_file(tmp_path: Path) -> None:
    port = _free_port()
    MilvusLiteServer(tmp_path, port, db_name="t.db").start()
    other = MilvusLiteServer(tmp_path, port, db_name="t.db")
    other.wait_ready(timeout=60)
    pid = int(other.pid_file.read_text())
    other.stop()
    assert not port_answers(port)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_bad_db_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        MilvusLiteServer(tmp_path, 1, db_name="bad name.db")
    with pytest.raises(ValueError):
        MilvusLiteServer(tmp_path, 1, db_name="x" * 37)


def test_stop_works_when_the_server_ignores_sigint(tmp_path: Path) -> None:
    # What a server launched from a non-interactive shell's background job looks like.
    import signal
    import subprocess

    server = MilvusLiteServer(tmp_path, _free_port(), db_name="t.db")
    argv, env, cwd = server.argv()
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    server.pid_file.write_text(f"{proc.pid}\n")
    server.wait_ready(timeout=60)
    server.stop(timeout=10)
    assert proc.wait(timeout=1) is not None
    assert not port_answers(server.port)
