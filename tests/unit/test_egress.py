"""Egress policy: addresses refused after DNS resolution, redirects re-checked, host allow-list,
the connection pinned to the vetted address, the total deadline. Loopback servers only."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from shotline import egress
from shotline.egress import EgressDenied, EgressPolicy
from shotline.errors import BadInput, RetryableInput
from shotline.settings import Settings
from shotline.video import SourceConfig, open_source


# ---- addresses --------------------------------------------------------------------------
@pytest.mark.parametrize("addr", [
    "127.0.0.1", "127.8.9.10", "::1",                      # loopback
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd12::1",    # private / unique-local
    "169.254.169.254", "fe80::1", "fd00:ec2::254",         # link-local, metadata
    "100.100.100.200", "100.64.0.1",                       # Alibaba metadata, carrier-grade NAT
    "0.0.0.0", "::", "224.0.0.1", "ff02::1", "240.0.0.1",  # unspecified, multicast, reserved
    "::ffff:127.0.0.1", "::ffff:169.254.169.254",          # IPv4-mapped
    "2002:7f00:1::", "64:ff9b::a00:1",                      # 6to4 of 127.0.0.1, NAT64 of 10.0.0.1
])
def test_internal_addresses_are_refused(addr: str) -> None:
    with pytest.raises(EgressDenied):
        EgressPolicy().check_address(addr)


@pytest.mark.parametrize("addr", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(addr: str) -> None:
    EgressPolicy().check_address(addr)


def test_allow_private_admits_loopback_and_private_but_never_metadata() -> None:
    p = EgressPolicy(allow_private=True)
    for ok in ("127.0.0.1", "10.0.0.5", "192.168.0.9", "::1"):
        p.check_address(ok)
    for bad in ("169.254.169.254", "fe80::1", "100.100.100.200", "0.0.0.0"):
        with pytest.raises(EgressDenied):
            p.check_address(bad)


def test_allowed_networks_admit_exact_cidrs_only() -> None:
    p = EgressPolicy(allowed_networks=("127.0.0.1/32", "10.20.0.0/16"))
    p.check_address("127.0.0.1")
    p.check_address("10.20.3.4")
    for bad in ("127.0.0.2", "10.21.0.1", "192.168.0.1"):
        with pytest.raises(EgressDenied):
            p.check_address(bad)


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "017700000001", "localhost", "0"])
def test_other_spellings_of_loopback_are_refused_after_resolution(host: str) -> None:
    with pytest.raises(EgressDenied):
        EgressPolicy().resolve(host, 80)


def test_a_name_with_any_internal_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 80))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    with pytest.raises(EgressDenied) as err:
        EgressPolicy().resolve("mixed.example", 80)
    assert err.value.reason == "private_address"


# ---- names and schemes -----------------------------------------------------------------
def test_host_allow_list() -> None:
    p = EgressPolicy(allowed_hosts=("media.example.com", ".cdn.example.net", "*.img.example.org"))
    for ok in ("media.example.com", "MEDIA.example.com.", "a.cdn.example.net", "x.y.img.example.org"):
        p.check_host(ok)
    for bad in ("example.com", "evilmedia.example.com", "cdn.example.net.evil.io", "xcdn.example.net"):
        with pytest.raises(EgressDenied) as err:
            p.check_host(bad)
        assert err.value.reason == "host_not_allowed"


def test_scheme_allow_list() -> None:
    with pytest.raises(EgressDenied):
        EgressPolicy(schemes=("https",)).check_url("http://example.com/a.mp4")
    with pytest.raises(EgressDenied):
        EgressPolicy().check_url("gopher://example.com/")


def test_settings_build_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOTLINE_ALLOWED_HOSTS", "media.example.com, .cdn.example.net")
    monkeypatch.setenv("SHOTLINE_EGRESS_ALLOWED_NETWORKS", "10.20.0.0/16")
    monkeypatch.setenv("SHOTLINE_EGRESS_MAX_REDIRECTS", "0")
    monkeypatch.setenv("SHOTLINE_URI_SCHEMES", "blob,https")
    cfg = SourceConfig.from_settings(Settings())
    assert cfg.egress.allowed_hosts == ("media.example.com", ".cdn.example.net")
    assert cfg.egress.allowed_networks == ("10.20.0.0/16",) and cfg.egress.max_redirects == 0
    assert cfg.schemes == ("blob", "https") and cfg.egress.schemes == ("https",)
    assert not cfg.egress.allow_private
    with pytest.raises(BadInput) as err:
        open_source("/etc/passwd", cfg)  # bare paths went with "file"
    assert err.value.reason == "unsupported_scheme"
    monkeypatch.setenv("SHOTLINE_EGRESS_ALLOWED_NETWORKS", "not-a-cidr")
    with pytest.raises(ValueError):
        Settings()


def test_the_run_dir_is_refused_even_under_an_allowed_root(tmp_path: Path) -> None:
    run = tmp_path / ".run"
    (run / "redis").mkdir(parents=True)
    (run / "redis" / "appendonly.aof").write_bytes(b"*1\r\n")
    (tmp_path / "ok.mp4").write_bytes(b"x")
    cfg = SourceConfig.from_settings(Settings(allowed_roots=[tmp_path], run_dir=run))
    with open_source(str(tmp_path / "ok.mp4"), cfg) as p:
        assert p.name == "ok.mp4"
    with pytest.raises(BadInput) as err, open_source(str(run / "redis" / "appendonly.aof"), cfg):
        pass
    assert err.value.reason == "uri_not_allowed"


# ---- fetches through the pinned session -------------------------------------------------
class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request's Host header; /redirect/<url> answers 302, /slowhead drips headers."""

    hits: list[tuple[str, str]]

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.hits.append((self.path, self.headers.get("Host", "")))  # type: ignore[attr-defined]
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", unquote(self.path[len("/redirect/"):]))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slowhead":
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(200):
                    self.wfile.write(b"X-Drip: 1\r\n")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
        else:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"video")


def _serve(host: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer((host, 0), _Recorder)
    server.daemon_threads = True
    server.hits = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


@pytest.fixture()
def servers() -> Iterator[tuple[http.server.ThreadingHTTPServer, str, http.server.ThreadingHTTPServer, str]]:
    a, a_url = _serve("127.0.0.1")  # admitted by the tests' policy below
    b, b_url = _serve("127.0.0.2")  # loopback too, but not admitted: a redirect target
    yield a, a_url, b, b_url
    for s in (a, b):
        s.shutdown()
        s.server_close()


ONLY_A = EgressPolicy(allowed_networks=("127.0.0.1/32",))


def _fetch(uri: str, policy: EgressPolicy, **kw) -> bytes:  # noqa: ANN003
    with open_source(uri, SourceConfig(egress=policy, **kw)) as p:
        return p.read_bytes()


def test_default_policy_refuses_loopback_before_connecting(servers) -> None:  # noqa: ANN001
    a, a_url, _b, _ = servers
    with pytest.raises(BadInput) as err:
        _fetch(f"{a_url}/v.mp4", EgressPolicy())
    assert err.value.reason == "egress_denied"
    assert err.value.message == egress.GENERIC_REFUSAL and "127.0.0.1" not in str(err.value)
    assert a.hits == []


def test_admitted_network_fetches(servers) -> None:  # noqa: ANN001
    a, a_url, _b, _ = servers
    assert _fetch(f"{a_url}/v.mp4", ONLY_A) == b"video"
    assert [p for p, _ in a.hits] == ["/v.mp4"]


@pytest.mark.parametrize("target", ["{b}/v.mp4", "http://169.254.169.254/latest/meta-data/",
                                    "http://10.0.0.1/v.mp4", "http://[::1]:1/v.mp4", "file:///etc/passwd"])
def test_redirect_to_an_internal_address_is_refused(servers, target: str) -> None:  # noqa: ANN001
    a, a_url, b, b_url = servers
    with pytest.raises(BadInput) as err:
        _fetch(f"{a_url}/redirect/{target.format(b=b_url)}", ONLY_A)
    assert err.value.reason == "egress_denied"
    assert len(a.hits) == 1
    assert b.hits == []  # never reached


def test_redirects_within_policy_are_followed_and_capped(servers) -> None:  # noqa: ANN001
    a, a_url, _b, _ = servers
    assert _fetch(f"{a_url}/redirect/{a_url}/v.mp4", ONLY_A) == b"video"
    with pytest.raises(BadInput) as err:
        _fetch(f"{a_url}/loop", ONLY_A)
    assert err.value.reason == "egress_denied"
    assert len(a.hits) == 2 + ONLY_A.max_redirects + 1
    with pytest.raises(BadInput):  # no redirects at all
        _fetch(f"{a_url}/redirect/{a_url}/v.mp4", EgressPolicy(allowed_networks=("127.0.0.1/32",), max_redirects=0))


def test_connection_is_pinned_to_the_vetted_address(servers, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """A name is resolved once per connection and the socket goes to that address (no second
    lookup a rebinding DNS server could answer differently); Host still names the host."""
    a, a_url, _b, _ = servers
    port = a.server_address[1]
    real = socket.getaddrinfo
    calls: list[str] = []
    answers = iter(["127.0.0.1", "10.9.9.9", "10.9.9.9"])  # a rebinding server's answers

    def fake(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "media.test":
            calls.append(host)
            return real(next(answers), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert _fetch(f"http://media.test:{port}/v.mp4", ONLY_A) == b"video"
    assert calls == ["media.test"] and a.hits == [("/v.mp4", f"media.test:{port}")]
    with pytest.raises(BadInput) as err:  # the next connection's answer is internal: refused
        _fetch(f"http://media.test:{port}/w.mp4", ONLY_A)
    assert err.value.reason == "egress_denied" and len(a.hits) == 1


def test_host_allow_list_refuses_before_resolving(servers, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    a, a_url, _b, _ = servers
    looked_up: list[str] = []
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: looked_up.append(host) or real(host, *a, **k))
    with pytest.raises(BadInput) as err:
        _fetch(f"{a_url}/v.mp4", EgressPolicy(allowed_hosts=("media.example.com",), allow_private=True))
    assert err.value.reason == "egress_denied" and looked_up == [] and a.hits == []


def test_total_deadline_cuts_a_server_that_drips_its_headers(servers) -> None:  # noqa: ANN001
    _a, a_url, _b, _ = servers
    started = time.monotonic()
    with pytest.raises(RetryableInput) as err:
        _fetch(f"{a_url}/slowhead", ONLY_A, timeout_s=5, deadline_s=1.0)
    assert err.value.reason == "fetch_timeout"
    assert time.monotonic() - started < 4  # the per-read timeout alone would wait 40 s
