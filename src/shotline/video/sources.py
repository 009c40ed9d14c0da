"""Resolve a video URI to a local file path.

``open_source(uri, allowed_roots=...)`` is a context manager yielding a local ``Path``; files
it downloaded are deleted on exit. Schemes map to fetchers in ``FETCHERS`` so another backend
(e.g. ``s3``) is one ``register_fetcher("s3", fetch_s3)`` away.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from shotline.errors import BadInput, TransientError


@dataclass(frozen=True)
class SourceConfig:
    allowed_roots: Sequence[str | os.PathLike[str]] = ()
    max_download_bytes: int = 2 * 1024**3
    timeout_s: float = 30.0
    chunk_bytes: int = 1 << 20


Fetcher = Callable[[str, SourceConfig], AbstractContextManager[Path]]
FETCHERS: dict[str, Fetcher] = {}


def register_fetcher(scheme: str, fetcher: Fetcher) -> None:
    FETCHERS[scheme.lower()] = fetcher


@contextmanager
def _local(uri: str, config: SourceConfig) -> Iterator[Path]:
    parsed = urlparse(uri)
    raw = unquote(parsed.path) if parsed.scheme == "file" else uri
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
        raise BadInput("uri_not_allowed", f"remote file host not supported: {uri}")
    if ".." in Path(raw).parts:
        raise BadInput("uri_not_allowed", f"'..' not allowed in paths: {uri}")
    if not config.allowed_roots:
        raise BadInput("uri_not_allowed", "no allowed roots configured for local files")
    resolved = Path(raw).resolve()  # follows symlinks: a link pointing outside is caught below
    roots = [Path(r).resolve() for r in config.allowed_roots]
    if not any(resolved.is_relative_to(root) for root in roots):
        raise BadInput("uri_not_allowed", f"{uri} is outside the allowed roots")
    yield resolved


@contextmanager
def _http(uri: str, config: SourceConfig) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix="shotline-", suffix=Path(urlparse(uri).path).suffix[:8])
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            _download(uri, out, config)
        yield path
    finally:
        path.unlink(missing_ok=True)


def _download(uri: str, out, config: SourceConfig) -> None:  # noqa: ANN001 - binary file
    try:
        with requests.get(uri, stream=True, timeout=config.timeout_s) as resp:
            if resp.status_code in (408, 429) or resp.status_code >= 500:
                raise TransientError(f"HTTP {resp.status_code} fetching {uri}")
            if resp.status_code >= 400:
                raise BadInput("http_error", f"HTTP {resp.status_code} fetching {uri}")
            declared = int(resp.headers.get("Content-Length") or 0)
            if declared > config.max_download_bytes:
                raise BadInput("too_large", f"{declared} bytes > limit {config.max_download_bytes}")
            total = 0
            for chunk in resp.iter_content(config.chunk_bytes):
                total += len(chunk)
                if total > config.max_download_bytes:  # servers may omit or lie about length
                    raise BadInput("too_large", f"download over {config.max_download_bytes} B")
                out.write(chunk)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"fetching {uri}: {exc}") from exc
    except requests.RequestException as exc:
        raise BadInput("bad_uri", f"cannot fetch {uri}: {exc}") from exc


register_fetcher("", _local)
register_fetcher("file", _local)
register_fetcher("http", _http)
register_fetcher("https", _http)


def open_source(uri: str, config: SourceConfig | None = None) -> AbstractContextManager[Path]:
    """Context manager yielding a local path for ``uri`` (bare path, file://, http(s)://)."""
    config = config or SourceConfig()
    scheme = urlparse(uri).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    fetcher = FETCHERS.get(scheme)
    if fetcher is None:
        raise BadInput("unsupported_scheme", f"no fetcher for scheme {scheme!r}")
    return fetcher(uri, config)
