"""A local S3-compatible server: versitygw (Versity S3 Gateway, Apache-2.0) over a directory.

One Go binary, built from the Go module proxy by ``scripts/install_s3_server.sh`` into
``~/.cache/shotline/bin``, that serves a directory (``posix`` backend: buckets are
sub-directories, objects are files) over the S3 API with one root access key. It starts in
well under a second and idles at a few MB, which makes it the blob-store test server (tests
and local trials); production points ``SHOTLINE_BLOB_URL`` / ``SHOTLINE_S3_ENDPOINT_URL`` at
real object storage.

Binds loopback only. ``stop`` sends SIGTERM (the gateway exits cleanly), then SIGKILL.

CLI: ``python -m shotline.stack.s3 start|stop [--run-dir D] [--port P]`` (prints the endpoint).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

TOOLS = Path(os.environ.get("SHOTLINE_TOOLS") or os.environ.get("SHOTLINE_CACHE_DIR")
             or Path.home() / ".cache" / "shotline")
DEFAULT_PORT = 19700
INSTALL_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "install_s3_server.sh"


def binary() -> Path:
    exe = os.environ.get("SHOTLINE_VERSITYGW")
    if exe:
        return Path(exe)
    return TOOLS / "bin" / "versitygw"


def ensure_installed() -> Path:
    """The versitygw binary, building it (cached) when it is not there yet."""
    exe = binary()
    if not exe.is_file():
        if not INSTALL_SCRIPT.is_file():
            raise RuntimeError(f"{exe} is missing: run scripts/install_s3_server.sh (make setup does)")
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True)
    if not exe.is_file():
        raise RuntimeError(f"{exe} is still missing after {INSTALL_SCRIPT}")
    return exe


class VersityS3Server:
    """versitygw on 127.0.0.1:<port>, serving ``<run_dir>/data``; pid in ``<run_dir>/versitygw.pid``."""

    def __init__(self, run_dir: Path, port: int = DEFAULT_PORT, access_key: str = "shotline",
                 secret_key: str = "shotline-secret", region: str = "us-east-1"):
        self.run_dir = Path(run_dir).resolve()
        self.port = port
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.data_dir = self.run_dir / "data"
        self.pid_file = self.run_dir / "versitygw.pid"
        self.log_file = self.run_dir / "versitygw.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [str(ensure_installed()), "--access", self.access_key, "--secret", self.secret_key,
                "--region", self.region, "--port", f"127.0.0.1:{self.port}", "--quiet",
                "posix", str(self.data_dir)]

    def env(self) -> dict[str, str]:
        """Settings that point a Shotline process at this server (bucket: ``bucket``)."""
        return {"SHOTLINE_S3_ENDPOINT_URL": self.endpoint_url, "SHOTLINE_S3_ACCESS_KEY": self.access_key,
                "SHOTLINE_S3_SECRET_KEY": self.secret_key, "SHOTLINE_S3_REGION": self.region}

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    def start(self, timeout: float = 30.0) -> VersityS3Server:
        """Start (a running one is reused) and wait until it answers HTTP."""
        if self.pid() is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "ab") as log:
                self._proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True)
            self.pid_file.write_text(str(self._proc.pid))
        self.wait_ready(timeout)
        return self

    def healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
            urllib.request.urlopen(self.endpoint_url + "/", timeout=2)  # noqa: S310 - loopback
        except urllib.error.HTTPError:
            return True  # 403 to an unsigned request: the S3 API is up
        except OSError:
            return False
        return True

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"versitygw exited with {self._proc.returncode}: {self._log_tail()}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise TimeoutError(f"versitygw not answering on {self.endpoint_url} after {timeout}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.05)
        if self._alive(pid):
            os.killpg(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        self._proc = None
        return True

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None  # reaps our own child
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def __enter__(self) -> VersityS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shotline.stack.s3", description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["install", "start", "stop"])
    ap.add_argument("--run-dir", type=Path, default=Path(".run") / "s3")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = ap.parse_args(argv)
    if args.action == "install":
        print(ensure_installed())
        return 0
    server = VersityS3Server(args.run_dir, args.port)
    if args.action == "start":
        server.start()
        print(" ".join(f"{k}={v}" for k, v in server.env().items()))
        return 0
    print("stopped" if server.stop() else "not running")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
