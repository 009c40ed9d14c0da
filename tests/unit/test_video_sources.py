"""URI resolution: allowed roots, escapes, HTTP download with a size cap."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shotline.errors import BadInput
from shotline.video import SourceConfig, open_source


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
    with open_source(f"{http_root}/a.mp4") as p:
        assert p.read_bytes() == b"x" * 1000
        assert p.suffix == ".mp4"
    assert not p.exists()


def test_http_errors_and_size_cap(http_root: str) -> None:
    with pytest.raises(BadInput) as err, open_source(f"{http_root}/missing.mp4"):
        pass
    assert err.value.reason == "http_error"
    with pytest.raises(BadInput) as err, open_source(
        f"{http_root}/a.mp4", SourceConfig(max_download_bytes=500)
    ):
        pass
    assert err.value.reason == "too_large"
