"""A local standalone Milvus 2.3.5 server (PyPI ``milvus``), for testing against a real server.

PyPI ``milvus==2.3.5`` ships the real ``milvus run standalone`` binary (embedded etcd, local
storage, rocksmq) behind a Python launcher, ``milvus-server``. It lives in a virtualenv of
its own (default ``~/.cache/shotline/milvus-server-venv``) so it cannot disturb the project's
pinned pymilvus; the project talks to it only over gRPC.

Everything it listens on is moved to a block of consecutive ports starting at the proxy
port (see ``PORT_OFFSETS``), including embedded etcd's client/peer ports, which the
launcher cannot move (they are set through an etcd config file named by
``ETCD_CONFIG_PATH``). Milvus 2.3's gRPC servers bind every interface; only their
advertised addresses can be pinned to loopback.

Stop with SIGINT to the launcher: it terminates the server process. SIGTERM would kill
the launcher alone and orphan the server, so ``stop`` never sends it, and falls back to
SIGKILL of the whole process group (a session of its own) if anything is left.

CLI: ``python -m shotline.stack.milvus_server install|start|stop [--run-dir D] [--port P]``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shotline.errors import TransientError
from shotline.stack.milvus import PidFileServer, _pid_alive, port_answers

VERSION = "2.3.5"
CACHE = Path(os.environ.get("SHOTLINE_CACHE_DIR", Path.home() / ".cache" / "shotline"))
DEFAULT_VENV = CACHE / "milvus-server-venv"
DEFAULT_PORT = 19630
# Each listener at proxy port + offset. index_coord is configured but idle in 2.3 (merged
# into data coord); it keeps its slot so the block never overlaps a neighbour's.
PORT_OFFSETS = {
    "proxy_port": 0, "proxy_internal_port": 1, "etcd_port": 2, "etcd_peer_port": 3,
    "root_coord_port": 4, "query_coord_port": 5, "query_node_port": 6, "index_coord_port": 7,
    "index_node_port": 8, "data_coord_port": 9, "data_node_port": 10, "metrics_port": 11,
}
PORT_BLOCK = len(PORT_OFFSETS)
_LOOPBACK_ROLES = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")
# The launcher hard-codes its health/metrics port to "first free from 9091"; set the start.
_LAUNCH = "import sys, milvus; milvus.default_server.webservice_port = int(sys.argv.pop(1)); milvus.main()"


# -- installation (idempotent, cached) -------------------------------------------------------


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive file lock: concurrent installs/extractions wait for each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _installed(venv: Path) -> bool:
    return (venv / "bin" / "python").exists() and any(
        venv.glob(f"lib/python3*/site-packages/milvus-{VERSION}.dist-info"))


def binaries_dir(venv: Path = DEFAULT_VENV) -> Path:
    """Where the server binaries are unpacked once (the wheel ships them lzma-compressed)."""
    return venv / "milvus-home" / "bin"


def ensure_installed(venv: Path = DEFAULT_VENV, python: str | None = None) -> Path:
    """Install ``milvus==2.3.5`` into ``venv`` and unpack its binaries, unless already done.

    Returns the venv's python. Costs ~5 s with a warm pip cache plus ~15 s to unpack ~250 MB
    of binaries, once; afterwards a check of two paths.
    """
    venv = Path(venv).absolute()
    with _locked(venv.parent / f".{venv.name}.lock"):
        if not _installed(venv):
            python = python or shutil.which("python3.11") or sys.executable
            subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                            f"milvus=={VERSION}"], check=True)
        bin_dir = binaries_dir(venv)
        if not (bin_dir / "milvus.lzma.md5").exists():
            # The launcher's own unpacker; it skips files whose .md5 stamp matches.
            subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import sys, milvus; milvus._initialize_data_files(sys.argv[1])",
                            str(bin_dir.parent)], check=True)
    return venv / "bin" / "python"


# -- ports -----------------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return not port_answers(port, timeout=0.2)  # also catches listeners on other interfaces


def free_port_block(start: int = 20000, stop: int = 60000, step: int = 97) -> int:
    """A proxy port whose whole block of ``PORT_BLOCK`` ports is free right now."""
    for base in range(start + os.getpid() % step * PORT_BLOCK, stop - PORT_BLOCK, step * PORT_BLOCK):
        if all(_port_free(base + i) for i in range(PORT_BLOCK)):
            return base
    raise TransientError(f"no free block of {PORT_BLOCK} ports in {start}..{stop}")


# -- the server ------------------------------------------------------------------------------


class MilvusServer23(PidFileServer):
    """Start, health-check and stop one local Milvus 2.3.5 standalone server.

    State (etcd, segments, logs, pid file) lives under ``run_dir``; restarting on the same
    ``run_dir`` keeps the collections.
    """

    def __init__(self, run_dir: Path, port: int = DEFAULT_PORT, venv: Path = DEFAULT_VENV,
                 log_level: str = "warn"):
        self.run_dir = Path(run_dir).absolute()
        self.port = port
        self.venv = Path(venv).absolute()
        self.log_level = log_level
        self.data_dir = self.run_dir / "milvus-server"
        self.pid_file = self.run_dir / "milvus-server.pid"
        self.log_file = self.data_dir / "logs" / "launcher.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ports(self) -> dict[str, int]:
        return {name: self.port + off for name, off in PORT_OFFSETS.items()}

    def _etcd_config(self) -> Path:
        p = self.ports
        client, peer = f"http://127.0.0.1:{p['etcd_port']}", f"http://127.0.0.1:{p['etcd_peer_port']}"
        path = self.data_dir / "configs" / "embed-etcd.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"name: default\nlisten-client-urls: {client}\nadvertise-client-urls: {client}\n"
            f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
            f"initial-cluster: default={peer}\nlisten-metrics-urls: ''\n"
        )
        return path

    def argv(self) -> tuple[list[str], dict[str, str]]:
        """Command line and extra environment of the launcher."""
        p = self.ports
        argv = [str(self.venv / "bin" / "python"), "-c", _LAUNCH, str(p["metrics_port"]),
                "--data", str(self.data_dir)]
        for name, port in p.items():
            if name not in ("metrics_port", "etcd_peer_port"):
                argv += [f"--{name.replace('_', '-')}", str(port)]
        for role in _LOOPBACK_ROLES:
            argv += ["--extra-config", f"{role}.ip=127.0.0.1"]
        argv += ["--extra-config", f"log.level={self.log_level}", "--etcd-log-level", self.log_level]
        # Milvus maps ETCD_CONFIG_PATH to etcd.config.path (the embedded etcd's own config).
        return argv, {"ETCD_CONFIG_PATH": str(self._etcd_config())}

    def start(self) -> bool:
        """Start the server unless it (or anything) already answers on the proxy port.

        Installs milvus 2.3.5 into its venv first if needed. Returns True if it started one.
        """
        if port_answers(self.port):
            return False
        pid = self._pid()
        if pid is not None and _pid_alive(pid):
            return False  # ours, still starting up
        busy = [f"{n}={p}" for n, p in self.ports.items() if not _port_free(p)]
        if busy:
            raise TransientError(f"milvus server ports in use: {', '.join(busy)}")
        ensure_installed(self.venv)
        # The launcher unpacks binaries into <data>/bin on every start unless their md5
        # stamps are there: point it at the copy unpacked once at install time.
        bin_link = self.data_dir / "bin"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not bin_link.exists():
            bin_link.symlink_to(binaries_dir(self.venv), target_is_directory=True)
        argv, env = self.argv()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            # Own session: a Ctrl-C aimed at the caller does not reach it, and stop() can
            # clean up the whole process group.
            self._proc = subprocess.Popen(
                argv, cwd=self.data_dir, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        return True

    def healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.ports['metrics_port']}/healthz"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return b"OK" in resp.read()
        except OSError:
            return False

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until /healthz says OK and a pymilvus call succeeds; TransientError if not."""
        from pymilvus import MilvusClient

        deadline = time.monotonic() + timeout
        last: Exception | str | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise TransientError(f"milvus server exited with code {self._proc.returncode}; "
                                     f"see {self.data_dir / 'logs'}")
            if self.healthy():
                try:
                    client = MilvusClient(uri=self.uri, timeout=5)
                    try:
                        client.list_collections(timeout=5)
                        return
                    finally:
                        client.close()
                except Exception as exc:  # proxy not serving yet
                    last = exc
            else:
                last = "healthz not OK"
            time.sleep(0.25)
        raise TransientError(f"milvus server on port {self.port} not ready after {timeout:.0f}s: {last}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server this pid file names; returns once no process of it is left."""
        pid = self._pid()
        if pid is not None and _pid_alive(pid) and self._is_launcher(pid):
            try:
                os.kill(pid, signal.SIGINT)  # the launcher terminates the server, then exits
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and (_pid_alive(pid) or _group_alive(pid)):
                time.sleep(0.05)
            if _group_alive(pid):
                os.killpg(pid, signal.SIGKILL)  # session of its own: pgid == launcher pid
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and _group_alive(pid):
                    time.sleep(0.05)
        if self._proc is not None:
            self._proc.wait(timeout=5)
            self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def _is_launcher(self, pid: int) -> bool:
        """Guards against a stale pid file whose pid now belongs to another program."""
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return True  # cannot tell (no /proc): trust the pid file
        return bool(cmd) and cmd[0].startswith(str(self.venv).encode()) and _LAUNCH.encode() in cmd


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shotline.stack.milvus_server", description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["install", "start", "stop"])
    ap.add_argument("--run-dir", type=Path, default=Path(".run"))
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    args = ap.parse_args(argv)
    if args.action == "install":
        print(ensure_installed(args.venv))
        return 0
    srv = MilvusServer23(args.run_dir, args.port, args.venv)
    if args.action == "start":
        srv.start()
        srv.wait_ready()
        print(srv.uri)
    else:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
