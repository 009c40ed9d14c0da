"""One local milvus-lite 2.5.1 server process, shared by every service over TCP on loopback.

A milvus-lite ``.db`` file can be opened by one process only, so the local stack runs the
engine's own C++ server binary once and every service talks to it with
``MilvusClient(uri="http://127.0.0.1:<port>")``, exactly as it would to a Milvus server.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from shotline.errors import TransientError

_DB_NAME = re.compile(r"^[a-zA-Z0-9.\-_]{1,36}$")  # milvus-lite's own rule for db file names


def milvus_lite_lib() -> Path:
    """The directory holding milvus-lite's ``milvus`` binary and its shared libraries.

    Found without importing ``milvus_lite``: its ``__init__`` needs ``pkg_resources``,
    which recent setuptools no longer ships.
    """
    spec = importlib.util.find_spec("milvus_lite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("milvus-lite==2.5.1 is not installed")
    lib = Path(list(spec.submodule_search_locations)[0]) / "lib"
    if not (lib / "milvus").exists():
        raise RuntimeError(f"milvus-lite server binary missing under {lib}")
    return lib


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reaps it if it is our exited child (no zombie)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie that is not our child still answers kill(0). But a multi-threaded server whose
    # main thread has returned also shows "Z" while its other threads still run and hold the
    # listening socket: it is dead only once no thread is left but the zombie leader.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state != "Z":
            return True
        return any(
            Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
            for tid in os.listdir(f"/proc/{pid}/task")
        )
    except (OSError, IndexError):  # gone while we read, or no /proc to tell by
        return Path(f"/proc/{pid}").exists() or not Path("/proc/self").exists()


def _ignores(pid: int, sig: signal.Signals) -> bool:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


class PidFileServer:
    """A server process we started, remembered by its pid file and its port."""

    pid_file: Path
    port: int

    def _pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self._pid()
        return (pid is not None and _pid_alive(pid)) or port_answers(self.port)


class MilvusLiteServer(PidFileServer):
    """Start, health-check and stop the local milvus-lite server (pid file under ``run_dir``)."""

    def __init__(self, run_dir: Path, port: int, db_name: str = "shotline.db", log_level: str = "ERROR"):
        if not _DB_NAME.match(db_name):
            raise ValueError(f"db_name {db_name!r} must match ^[a-zA-Z0-9.\\-_]+$ and be at most 36 chars")
        self.run_dir = Path(run_dir).absolute()
        self.port = port
        self.db_path = self.run_dir / "milvus" / db_name
        self.pid_file = self.run_dir / "milvus.pid"
        self.log_file = self.run_dir / "logs" / "milvus.log"
        self.log_level = log_level
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> tuple[list[str], dict[str, str], Path]:
        """Command line, extra environment and working directory of the server process."""
        lib = milvus_lite_lib()
        env = {"LD_LIBRARY_PATH": f"{lib}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":")}
        argv = [str(lib / "milvus"), str(self.db_path), f"127.0.0.1:{self.port}", self.log_level]
        return argv, env, self.db_path.parent

    def start(self) -> bool:
        """Start the server unless the port already answers. Returns True if it started one."""
        if port_answers(self.port):
            return False
        pid = self._pid()
        if pid is not None and _pid_alive(pid):
            return False  # ours, still starting up
        argv, env, cwd = self.argv()
        cwd.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            # Own session: a Ctrl-C aimed at the caller does not take the shared server down.
            self._proc = subprocess.Popen(
                argv, cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        return True

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until a pymilvus call succeeds; TransientError if it does not within ``timeout``."""
        from pymilvus import MilvusClient

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise TransientError(
                    f"milvus-lite exited with code {self._proc.returncode}; see {self.log_file}"
                )
            if port_answers(self.port):
                try:
                    client = MilvusClient(uri=self.uri, timeout=5)
                    try:
                        client.list_collections(timeout=5)
                        return
                    finally:
                        client.close()
                except Exception as exc:  # not serving yet
                    last = exc
            time.sleep(0.2)
        raise TransientError(f"milvus-lite on port {self.port} not ready after {timeout:.0f}s: {last}")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server this pid file names and wait until the process is gone.

        SIGINT first: milvus-lite shuts down cleanly on it (SIGTERM can orphan its worker).
        A server started from a non-interactive shell's background job ignores SIGINT; it
        gets SIGTERM instead. SIGKILL is the last resort.
        """
        pid = self._pid()
        if pid is not None and _pid_alive(pid) and self._is_milvus(pid):
            first = signal.SIGTERM if _ignores(pid, signal.SIGINT) else signal.SIGINT
            for sig, wait in ((first, timeout), (signal.SIGKILL, 5.0)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline and _pid_alive(pid):
                    time.sleep(0.05)
                if not _pid_alive(pid):
                    break
        if self._proc is not None:
            self._proc.wait(timeout=5)
            self._proc = None
        self.pid_file.unlink(missing_ok=True)

    @staticmethod
    def _is_milvus(pid: int) -> bool:
        """Guards against a stale pid file whose pid now belongs to another program."""
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            return True  # cannot tell (no /proc): trust the pid file
        return cmd.endswith(b"/milvus")
