"""Redis for the local stack: Debian's redis-server, append-only for durable labels."""

from __future__ import annotations

import shutil
from pathlib import Path


def prepare(run_dir: Path, port: int) -> list[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is needed: apt-get install redis-server (make setup does this)")
    data = run_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    return [exe, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
            "--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--daemonize", "no"]
