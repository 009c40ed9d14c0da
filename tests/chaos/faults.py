"""Per-record faults on loopback: an unreachable URL, a 5xx server and a slow-drip server.

`FaultServer` is one threaded `http.server` on 127.0.0.1 (an ephemeral port) with two kinds
of route, and it counts every request per path (how many attempts the stack made):
- `/5xx/<name>.mp4` always answers 503 Service Unavailable;
- `/drip/<name>.mp4` serves a registered real clip with its Content-Length, a few bytes at a
  time, so the whole download takes `seconds` (a drip longer than the max poll interval, or a
  stall longer than the download deadline) while no single read waits near the read timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Port 9 (discard) on loopback: nothing listens there, so a connect is refused at once.
UNREACHABLE_URL = "http://127.0.0.1:9/x.mp4"


def assert_refused(url: str = UNREACHABLE_URL) -> None:
    """The unreachable URL really is unreachable (connection refused), or the fault is not real."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    with socket.socket() as s:
        s.settimeout(2)
        try:
            s.connect((host, int(port)))
        except ConnectionRefusedError:
            return
    raise AssertionError(f"something listens on {host}:{port}; {url} is not an unreachable URL")


class FaultServer:
    def __init__(self, drip_seconds: float = 10.0, drip_chunk: int = 512):
        self.drip_seconds = drip_seconds
        self.drip_chunk = drip_chunk
        self.files: dict[str, tuple[Path, float]] = {}  # path → (file, seconds to serve it over)
        self.hits: Counter[str] = Counter()
        self.completed: Counter[str] = Counter()  # drip downloads served to the last byte
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                with outer._lock:
                    outer.hits[self.path] += 1
                if self.path.startswith("/5xx/"):
                    body = b"injected fault: service unavailable\n"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Retry-After", "1")
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path.startswith("/drip/") and self.path in outer.files:
                    file, seconds = outer.files[self.path]
                    data = file.read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp4")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    chunks = max(1, -(-len(data) // outer.drip_chunk))
                    pause = seconds / chunks
                    try:
                        for i in range(0, len(data), outer.drip_chunk):
                            self.wfile.write(data[i:i + outer.drip_chunk])
                            self.wfile.flush()
                            time.sleep(pause)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    with outer._lock:
                        outer.completed[self.path] += 1
                    return
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fault-server", daemon=True)

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def five_xx(self, name: str) -> str:
        return self.url(f"/5xx/{name}.mp4")

    def drip(self, name: str, file: Path, seconds: float | None = None) -> str:
        path = f"/drip/{name}.mp4"
        self.files[path] = (file, self.drip_seconds if seconds is None else seconds)
        return self.url(path)

    def hits_for(self, url: str) -> int:
        path = "/" + url.split("//", 1)[1].split("/", 1)[1]
        with self._lock:
            return self.hits[path]
