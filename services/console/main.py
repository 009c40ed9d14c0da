"""Console entrypoint: the annotator web app over the public QueryService (HTTP, uvicorn).

The web app, its JSON and media are on SHOTLINE_CONSOLE_PORT; /healthz, /readyz and /metrics
are there too and, like every service, on SHOTLINE_METRICS_PORT (the shared health server).
Ready = uvicorn is serving and the query service's channel is connected.
"""

from __future__ import annotations

import threading

import uvicorn

from services.console.api import QueryApi
from services.console.app import build_app
from services.console.config import ConsoleSettings
from services.console.media import Media
from shotline import logs
from shotline.auth import Authenticator
from shotline.blobstore import open_blob_store
from shotline.health import HealthServer, HealthState

SERVICE = "console"


def main() -> None:
    s = ConsoleSettings()
    logs.configure(s.log_level, s.log_json, SERVICE)
    log = logs.get(SERVICE)
    api = QueryApi(s.query_address, s.api_token.get_secret_value() if s.api_token else None,
                   s.console_rpc_timeout_seconds, settings=s)
    media = Media(open_blob_store(s), s.console_preview_dir, s.console_preview_cache_bytes, s.console_ffmpeg)
    token = s.console_token.get_secret_value() if s.console_token else None
    # With a token file, people sign in with their own API tokens (their role applies, their name on labels).
    users = Authenticator.from_settings(s.api_tokens_file, None, {}) if s.api_tokens_file else None
    app, console = build_app(api, media, token, users)
    # uvicorn handles SIGTERM/SIGINT: stops accepting, lets in-flight requests finish (bounded), exits.
    server = uvicorn.Server(uvicorn.Config(app, host=s.console_host, port=s.console_port, log_level="warning",
                                           access_log=False,
                                           timeout_graceful_shutdown=int(s.console_shutdown_grace_seconds)))
    state = HealthState()
    http = HealthServer(s.metrics_host, s.metrics_port, state).start()
    stop = threading.Event()

    def watch_ready() -> None:
        while not stop.wait(1.0):
            ok = server.started and not server.should_exit and api.ready()
            state.ready = console.ready = ok
            state.detail = (f"serving http://{s.console_host}:{s.console_port}/ over {s.query_address}" if ok
                            else f"waiting for the HTTP server and the query service at {s.query_address}")

    threading.Thread(target=watch_ready, name="ready", daemon=True).start()
    log.info("console starting", url=f"http://{s.console_host}:{s.console_port}/", query=s.query_address,
             metrics_port=http.port)
    try:
        server.run()
    finally:
        stop.set()
        state.ready = False
        http.stop()
        log.info("stopped")
