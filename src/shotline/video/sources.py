"""Resolve a video URI to a local file path.

``open_source(uri, config)`` is a context manager yielding a local ``Path``; files it downloaded
are deleted on exit. Schemes map to fetchers in ``FETCHERS`` (``register_fetcher``):
- bare paths and ``file://``: must lie under ``allowed_roots`` (symlinks resolved first);
- ``blob://<key>``: an upload in the blob store (``config.blobs``): the file itself for the
  local backend, a temporary download for S3;
- ``http(s)://``: downloaded with a size cap and a total deadline.

Failure classes, as the worker loop reads them:
- ``BadInput``: this record can never work (path outside the roots, HTTP 404, too large, no
  such blob) → dead-letter;
- ``RetryableInput``: this record's own remote source is down for now (refused, DNS, timeout,
  5xx, 408, 429, connection cut mid-body) → the retry topic, later;
- ``TransientError``: shared infrastructure (the blob store) is unreachable → back off, stop.

Egress (``shotline.egress``): http(s) fetches resolve each host once and connect only to vetted
addresses (no loopback, private, link-local or metadata address unless the policy admits it),
follow at most ``egress.max_redirects`` redirects, each re-checked, and stop at ``deadline_s``
whatever the server does. A refusal is ``BadInput("egress_denied")`` with one generic message
(details in the log). ``schemes`` limits which fetchers a service offers; ``denied_roots``
(the run directory's state: Redis AOF, Milvus db) wins over ``allowed_roots``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import requests
import urllib3.exceptions

from shotline import egress
from shotline.blobstore import BlobStore, parse_blob_uri
from shotline.egress import Deadline, EgressDenied, EgressPolicy
from shotline.errors import BadInput, RetryableInput


@dataclass(frozen=True)
class SourceConfig:
    allowed_roots: Sequence[str | os.PathLike[str]] = ()
    max_download_bytes: int = 2 * 1024**3
    timeout_s: float = 30.0          # connect and per-read timeout
    deadline_s: float = 1800.0       # whole download, so a slow-drip server cannot hold a worker
    chunk_bytes: int = 1 << 20
    blobs: BlobStore | None = None   # resolves blob:// URIs
    temp_dir: str | None = None      # where downloads go (default: the system temp dir)
    egress: EgressPolicy = EgressPolicy()  # refuses loopback/private/metadata hosts by default
    schemes: tuple[str, ...] | None = None  # fetchers offered ("" = bare paths); None: all registered
    denied_roots: Sequence[str | os.PathLike[str]] = ()  # refused even under an allowed root

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> SourceConfig:
        """The sources a service's ``Settings`` describe: roots (the run dir always denied),
        download cap / timeout / deadline, the egress policy and the scheme allow-list."""
        kw: dict[str, Any] = {
            "allowed_roots": [str(p) for p in getattr(settings, "allowed_roots", ())],
            "denied_roots": [str(getattr(settings, "run_dir", ".run"))],
            "max_download_bytes": settings.max_download_bytes,
            "timeout_s": getattr(settings, "download_timeout_seconds", cls.timeout_s),
            "deadline_s": getattr(settings, "download_deadline_seconds", cls.deadline_s),
            "egress": egress.policy_from_settings(settings),
        }
        schemes = overrides.pop("schemes", None) or getattr(settings, "uri_schemes", None)
        if schemes is not None:
            kw["schemes"] = scheme_set(schemes)
            # a redirect may not leave the allowed schemes either (https → http)
            kw["egress"] = dataclasses.replace(kw["egress"], schemes=tuple(
                x for x in ("http", "https") if x in kw["schemes"]))
        kw.update(overrides)
        return cls(**kw)


def scheme_set(names: Sequence[str]) -> tuple[str, ...]:
    """Setting values → fetcher keys: ``file`` also admits bare paths."""
    out = {n.lower() for n in names}
    if "file" in out:
        out.add("")
    return tuple(sorted(out))


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
    if not is_allowed(resolved, config.allowed_roots) or (
            config.denied_roots and is_allowed(resolved, config.denied_roots)):
        raise BadInput("uri_not_allowed", f"{uri} is outside the allowed roots")
    yield resolved


def is_allowed(path: str | os.PathLike[str], roots: Sequence[str | os.PathLike[str]]) -> bool:
    """Whether a local path (symlinks resolved) lies under one of ``roots``."""
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(r).resolve()) for r in roots)


@contextmanager
def _temp_file(suffix: str, config: SourceConfig) -> Iterator[tuple[Any, Path]]:
    if config.temp_dir:
        os.makedirs(config.temp_dir, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="shotline-", suffix=suffix[:8], dir=config.temp_dir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out, path
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@contextmanager
def _blob(uri: str, config: SourceConfig) -> Iterator[Path]:
    key = parse_blob_uri(uri)
    if config.blobs is None:
        raise BadInput("no_blob_store", f"{uri}: this service has no blob store configured")
    local = config.blobs.local_path(key)  # raises BadInput("missing_blob") when it is not there
    if local is not None:
        yield local
        return
    with _temp_file(Path(key).suffix, config) as (out, path):
        config.blobs.download_to(key, out)  # TransientError when the store is unreachable
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def _http(uri: str, config: SourceConfig) -> Iterator[Path]:
    with _temp_file(Path(urlparse(uri).path).suffix, config) as (out, path):
        _download(uri, out, config)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _status_error(uri: str, status: int) -> Exception | None:
    if status in (408, 504) or status == 522:
        return RetryableInput("fetch_timeout", f"HTTP {status} fetching {uri}")
    if status == 429:
        return RetryableInput("fetch_throttled", f"HTTP 429 fetching {uri}")
    if status >= 500:
        return RetryableInput("fetch_http_5xx", f"HTTP {status} fetching {uri}")
    if status >= 400:
        return BadInput("http_error", f"HTTP {status} fetching {uri}")
    return None


def _download(uri: str, out, config: SourceConfig) -> None:  # noqa: ANN001 - binary file
    # The deadline covers everything: DNS, connect, TLS, headers dripped a byte at a time, the
    # body. Its watchdog shuts the socket, so no read can outlive it (the per-read timeout alone
    # would let a server that sends one byte per timeout hold the thread for ever).
    with Deadline(config.deadline_s) as deadline, egress.fetch_session(config.egress) as session:
        try:
            _stream(uri, out, config, session, deadline)
        except EgressDenied as exc:
            egress.denied_log(uri, exc)
            raise BadInput("egress_denied", egress.GENERIC_REFUSAL) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            if deadline.expired:
                raise RetryableInput("fetch_timeout", f"{uri}: download took over {config.deadline_s:g} s") from exc
            raise _classify(uri, exc) from exc


def _classify(uri: str, exc: BaseException) -> Exception:
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return RetryableInput("fetch_timeout", f"fetching {uri}: {exc}")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError):
        return RetryableInput("fetch_interrupted", f"fetching {uri}: {exc}")
    if isinstance(exc, requests.ConnectionError | OSError):  # refused, reset, DNS failure
        return RetryableInput("fetch_unreachable", f"fetching {uri}: {exc}")
    return BadInput("bad_uri", f"cannot fetch {uri}: {exc}")


def _stream(uri: str, out, config: SourceConfig, session: requests.Session,  # noqa: ANN001 - binary file
            deadline: Deadline) -> None:
    def check_deadline() -> None:
        if deadline.expired:
            raise RetryableInput("fetch_timeout", f"{uri}: download took over {config.deadline_s:g} s")

    with egress.follow(session, uri, config.egress, timeout=config.timeout_s) as resp:
        err = _status_error(uri, resp.status_code)
        if err is not None:
            raise err
        if 300 <= resp.status_code < 400:
            raise BadInput("http_error", f"HTTP {resp.status_code} fetching {uri}")
        declared = int(resp.headers.get("Content-Length") or 0)
        if declared > config.max_download_bytes:
            raise BadInput("too_large", f"{declared} bytes > limit {config.max_download_bytes}")
        total = 0
        # read1 returns what has arrived (up to chunk_bytes) instead of waiting for a full chunk.
        while True:
            check_deadline()
            chunk = resp.raw.read1(config.chunk_bytes, decode_content=True)
            if not chunk:
                break
            total += len(chunk)
            if total > config.max_download_bytes:  # servers may omit or lie about length
                raise BadInput("too_large", f"download over {config.max_download_bytes} B")
            out.write(chunk)
        check_deadline()
        if declared and total < declared:
            raise RetryableInput("fetch_interrupted", f"{uri}: got {total} of {declared} bytes")


register_fetcher("", _local)
register_fetcher("file", _local)
register_fetcher("http", _http)
register_fetcher("https", _http)
register_fetcher("blob", _blob)


def open_source(uri: str, config: SourceConfig | None = None) -> AbstractContextManager[Path]:
    """Context manager yielding a local path for ``uri`` (bare path, file://, blob://, http(s)://)."""
    config = config or SourceConfig()
    scheme = urlparse(uri).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    fetcher = FETCHERS.get(scheme)
    if fetcher is None or (config.schemes is not None and scheme not in config.schemes):
        raise BadInput("unsupported_scheme", f"no fetcher for scheme {scheme!r}")
    return fetcher(uri, config)
