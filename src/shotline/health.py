"""One small HTTP server per process: /metrics (Prometheus), /healthz (alive), /readyz (ready).

Liveness is a callable so a wedged worker loop (no heartbeat) fails its probe and gets
restarted; readiness flips once dependencies are connected and goes down on shutdown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


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
                    body, code, ctype = generate_latest(REGISTRY), 200, CONTENT_TYPE_LATEST
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
