"""Console settings (`SHOTLINE_CONSOLE_*` plus the shared ones: query address, API token, blob store)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from shotline.settings import Settings


class ConsoleSettings(Settings):
    service_name: str = "console"
    console_host: str = "127.0.0.1"
    console_port: int = Field(8080, ge=0, le=65535)
    # Optional shared secret for the browser: `/?token=…` sets a cookie; `Authorization: Bearer …` works too.
    # Unset: the console is open to whoever reaches it (loopback in the local stack).
    console_token: SecretStr | None = None
    console_rpc_timeout_seconds: float = Field(30.0, gt=0)
    # Clips decoded by the browser itself are served as byte ranges of the source; other containers
    # (MPEG-PS, AVI, …) get an H.264 preview of the shot's range, made once with ffmpeg and cached here.
    console_preview_dir: Path = Path("/tmp/shotline-console-previews")
    console_preview_cache_bytes: int = Field(512 * 1024**2, gt=0)
    console_ffmpeg: str = "ffmpeg"
    console_shutdown_grace_seconds: float = Field(10.0, gt=0)
