"""One small HTTP server per process: /metrics (Prometheus), /healthz (alive), /readyz (ready).

Liveness is a callable so a wedged worker loop (no heartbeat) fails its probe and gets
restarted; readiness flips once dependencies are connected and goes down on shutdown.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector


class _InfoOnly:
    """This process's Info metrics (the service identity): multiprocess mode does not share them."""

    def collect(self) -> Iterator[Metric]:
        return (m for m in REGISTRY.collect() if m.type == "info")


def metrics_text() -> bytes:
    """The exposition of this process, or of every process sharing ``PROMETHEUS_MULTIPROC_DIR``
    (counters and histograms summed, gauges by their multiprocess mode) when that is set."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_InfoOnly())
    return generate_latest(registry)


class HealthState:
    def __init__(self) -> None:
        self.ready = False
        self.live_check: Callable[[], bool] = lambda: True
        self.detail = "starting"


class HealthServer:
    def __init__(self, host: str, port: int, state: HealthState):
        self.state = state
        state_ref = state

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, code, ctype = metrics_text(), 200, CONTENT_TYPE_LATEST
                elif path == "/healthz":
                    ok = state_ref.live_check()
                    body, code, ctype = (b"ok\n" if ok else b"stalled\n"), (200 if ok else 503), "text/plain"
                elif path == "/readyz":
                    ok = state_ref.ready
                    body = (state_ref.detail + "\n").encode()
                    code, ctype = (200 if ok else 503), "text/plain"
                else:
                    body, code, ctype = b"not found\n", 404, "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # keep probes out of the logs
                pass

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
