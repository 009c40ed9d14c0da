"""URI resolution: allowed roots, escapes, HTTP download with a size cap."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shotline.egress import EgressPolicy
from shotline.errors import BadInput
from shotline.video import SourceConfig, open_source

# These servers listen on loopback, which the default egress policy refuses (test_egress.py):
# the HTTP tests below opt in, as the local stack does.
LOOPBACK = EgressPolicy(allow_private=True)
LOCAL = SourceConfig(egress=LOOPBACK)


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"x" * 1000)
    (tmp_path / "secret.txt").write_text("outside")
    return tmp_path / "videos"


def test_bare_path_and_file_uri_inside_root(root: Path) -> None:
    cfg = SourceConfig(allowed_roots=[root])
    with open_source(str(root / "a.mp4"), cfg) as p:
        assert p == (root / "a.mp4").resolve()
    with open_source((root / "a.mp4").as_uri(), cfg) as p:
        assert p.read_bytes() == b"x" * 1000
    assert (root / "a.mp4").exists()  # local files are never deleted


@pytest.mark.parametrize(
    "make_uri",
    [
        lambda root: str(root.parent / "secret.txt"),
        lambda root: f"{root}/../secret.txt",
        lambda root: f"file://{root}/../secret.txt",
        lambda root: "file://otherhost/etc/passwd",
        lambda root: "/etc/passwd",
    ],
)
def test_paths_outside_roots_are_rejected(root: Path, make_uri) -> None:  # noqa: ANN001
    with pytest.raises(BadInput) as err, open_source(make_uri(root), SourceConfig([root])):
        pass
    assert err.value.reason == "uri_not_allowed"


def test_symlink_escape_is_rejected(root: Path) -> None:
    (root / "link.mp4").symlink_to(root.parent / "secret.txt")
    with pytest.raises(BadInput) as err, open_source(str(root / "link.mp4"), SourceConfig([root])):
        pass
    assert err.value.reason == "uri_not_allowed"


def test_no_roots_configured_means_no_local_files(root: Path) -> None:
    with pytest.raises(BadInput) as err, open_source(str(root / "a.mp4")):
        pass
    assert err.value.reason == "uri_not_allowed"


def test_unknown_scheme(root: Path) -> None:
    with pytest.raises(BadInput) as err:
        open_source("gopher://example/a.mp4")
    assert err.value.reason == "unsupported_scheme"


@pytest.fixture()
def http_root(root: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_download_to_temp_file_is_cleaned_up(http_root: str) -> None:
    with open_source(f"{http_root}/a.mp4", LOCAL) as p:
        assert p.read_bytes() == b"x" * 1000
        assert p.suffix == ".mp4"
    assert not p.exists()


def test_http_errors_and_size_cap(http_root: str) -> None:
    with pytest.raises(BadInput) as err, open_source(f"{http_root}/missing.mp4", LOCAL):
        pass
    assert err.value.reason == "http_error"
    with pytest.raises(BadInput) as err, open_source(
        f"{http_root}/a.mp4", SourceConfig(max_download_bytes=500, egress=LOOPBACK)
    ):
        pass
    assert err.value.reason == "too_large"


# ---- per-record transient faults: RetryableInput, never TransientError -------------------

import socket  # noqa: E402
import time  # noqa: E402

from shotline.errors import RetryableInput, TransientError  # noqa: E402


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connecting is refused
    return port


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Behaviour picked by path: /status/<code>, /drip (1 byte / 0.1 s), /hang, /cut."""

    def log_message(self, *args) -> None:  # noqa: ANN002 - keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the client gave up, as it should
        elif self.path == "/hang":
            time.sleep(3)
        elif self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"y" * 10)
            self.wfile.flush()
            self.close_connection = True


@pytest.fixture()
def scripted() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _fails_with(uri: str, config: SourceConfig = LOCAL) -> RetryableInput:
    with pytest.raises(RetryableInput) as err, open_source(uri, config):
        pass
    assert not isinstance(err.value, TransientError)
    return err.value


def test_connection_refused_is_retryable_input() -> None:
    assert _fails_with(f"http://127.0.0.1:{_free_port()}/a.mp4").reason == "fetch_unreachable"


@pytest.mark.parametrize(("code", "reason"), [(500, "fetch_http_5xx"), (503, "fetch_http_5xx"),
                                              (408, "fetch_timeout"), (429, "fetch_throttled")])
def test_retryable_statuses(scripted: str, code: int, reason: str) -> None:
    assert _fails_with(f"{scripted}/status/{code}").reason == reason


def test_client_errors_stay_bad_input(scripted: str) -> None:
    with pytest.raises(BadInput) as err, open_source(f"{scripted}/status/403", LOCAL):
        pass
    assert err.value.reason == "http_error"


def test_slow_drip_hits_the_total_deadline(scripted: str) -> None:
    started = time.monotonic()
    err = _fails_with(f"{scripted}/drip", SourceConfig(timeout_s=5, deadline_s=1.0, egress=LOOPBACK))
    elapsed = time.monotonic() - started
    assert err.reason == "fetch_timeout"
    assert elapsed < 4, f"a 1 s deadline took {elapsed:.1f} s"  # per-read timeout alone never fires


def test_server_that_never_answers_times_out(scripted: str) -> None:
    assert _fails_with(f"{scripted}/hang", SourceConfig(timeout_s=0.5, egress=LOOPBACK)).reason == "fetch_timeout"


def test_connection_cut_mid_body_is_retryable(scripted: str, tmp_path: Path) -> None:
    err = _fails_with(f"{scripted}/cut", SourceConfig(temp_dir=str(tmp_path), egress=LOOPBACK))
    assert err.reason == "fetch_interrupted"
    assert list(tmp_path.iterdir()) == []  # the partial download is gone
