"""Egress policy: which hosts a service may fetch a video from, checked after DNS resolution.

Every outbound fetch of a caller-chosen URL (the segmenter's upload URIs, the encoder's
``EncodeClip(uri)``) goes through ``fetch_session(policy)``: a ``requests`` session whose
connections resolve the host **once**, vet every address, and connect to that vetted address
(TLS still verifies and sends SNI for the host name). So a name that resolves to a private
address, a DNS-rebinding answer and a redirect to ``http://169.254.169.254/`` are all refused
before a socket is opened — no byte reaches the target. Redirects are followed by hand
(``follow``), each hop re-checked; proxies from the environment are ignored.

Refused by default (``EgressPolicy()``): loopback, RFC 1918 / unique-local, link-local,
carrier-grade NAT, multicast, reserved and unspecified addresses, IPv4 embedded in IPv6
(mapped, 6to4, Teredo, NAT64) when the embedded address is refused, and cloud metadata
addresses. ``allow_private`` (the local stack, tests) admits loopback and private ranges but
never metadata or link-local; ``allowed_networks`` admits exact CIDRs; ``allowed_hosts``
restricts fetches to listed names (``example.com`` exactly, ``.example.com`` its subdomains).

A refusal raises ``EgressDenied``; callers turn it into one generic, topology-free message
(``GENERIC_REFUSAL``) and log the details.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from shotline import logs

log = logs.get("shotline.egress")

GENERIC_REFUSAL = "video source not reachable or not allowed"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services: refused even with allow_private (only an explicit network admits them).
METADATA = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16",        # AWS, GCP, Azure, OpenStack, DigitalOcean (all link-local)
    "100.100.100.200/32",    # Alibaba Cloud
    "fd00:ec2::254/128",     # AWS IMDS over IPv6
    "fe80::/10",             # IPv6 link-local
))
NAT64 = ipaddress.ip_network("64:ff9b::/96")
CGNAT = ipaddress.ip_network("100.64.0.0/10")


class EgressDenied(Exception):  # noqa: N818 - reads better at the raise site
    """A fetch refused by the egress policy. ``reason`` is a bounded label; the message is for logs."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class EgressPolicy:
    allow_private: bool = False                 # loopback + private ranges (never metadata)
    allowed_hosts: tuple[str, ...] = ()         # non-empty: only these names (".x.com" = subdomains)
    allowed_networks: tuple[str, ...] = ()      # CIDRs always admitted (e.g. an internal media host)
    schemes: tuple[str, ...] = ("http", "https")
    max_redirects: int = 3                      # 0: a redirect answer is refused
    _networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", tuple(h.strip().lower().rstrip(".") for h in self.allowed_hosts
                                                        if h.strip()))
        object.__setattr__(self, "_networks", tuple(ipaddress.ip_network(n.strip(), strict=False)
                                                    for n in self.allowed_networks if n.strip()))
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")

    # ---- checks ----------------------------------------------------------------------
    def check_url(self, url: str) -> None:
        """Scheme and host name, before any resolution."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in self.schemes:
            raise EgressDenied("scheme_not_allowed", f"scheme {parts.scheme!r} of {url}")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise EgressDenied("no_host", f"no host in {url}")
        self.check_host(host)

    def check_host(self, host: str) -> None:
        if not self.allowed_hosts:
            return
        host = host.lower().rstrip(".")
        for entry in self.allowed_hosts:
            if entry.startswith("*."):
                entry = entry[1:]
            if host == entry or (entry.startswith(".") and host.endswith(entry)):
                return
        raise EgressDenied("host_not_allowed", f"host {host} is not in the allowed hosts")

    def check_address(self, addr: str | IPAddress) -> None:
        """Raise ``EgressDenied`` unless a resolved address may be connected to."""
        ip = ipaddress.ip_address(addr.split("%", 1)[0] if isinstance(addr, str) else addr)
        for candidate in _embedded(ip):
            self._check_one(candidate, ip)

    def _check_one(self, ip: IPAddress, original: IPAddress) -> None:
        if any(ip in n for n in self._networks if n.version == ip.version):
            return
        if any(ip in n for n in METADATA if n.version == ip.version):
            raise EgressDenied("metadata_address", f"{original} is a link-local / metadata address")
        if ip.is_multicast or ip.is_unspecified:
            raise EgressDenied("reserved_address", f"{original} is not a unicast address")
        if ip.is_loopback:
            if self.allow_private:
                return
            raise EgressDenied("loopback_address", f"{original} is a loopback address")
        if ip.is_reserved:
            raise EgressDenied("reserved_address", f"{original} is a reserved address")
        if self.allow_private and (ip.is_private or (ip.version == 4 and ip in CGNAT)):
            return
        if not ip.is_global:
            raise EgressDenied("private_address", f"{original} is not a public address")

    def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple]:
        """getaddrinfo once, every answer vetted: a name with any refused address is refused
        (a mixed answer is how rebinding attacks start). Returns getaddrinfo tuples."""
        self.check_host(host)
        try:
            infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        except UnicodeError as e:
            raise socket.gaierror(str(e)) from e
        if not infos:
            raise socket.gaierror(f"no addresses for {host}")
        for info in infos:
            self.check_address(info[4][0])
        return infos


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """The address itself plus any IPv4 address it carries (6to4, Teredo, NAT64); an IPv4-mapped
    address is judged as the IPv4 address it is."""
    out: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return [ip.ipv4_mapped]  # the socket reaches exactly this IPv4 address
        if ip.sixtofour is not None:
            out.append(ip.sixtofour)
        if ip.teredo is not None:
            out.extend(ip.teredo)
        if ip in NAT64:
            out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def policy_from_settings(settings: object) -> EgressPolicy:
    """The policy a service's ``Settings`` describe (``SHOTLINE_EGRESS_*``, ``SHOTLINE_ALLOWED_HOSTS``)."""
    return EgressPolicy(
        allow_private=bool(getattr(settings, "egress_allow_private", False)),
        allowed_hosts=tuple(getattr(settings, "allowed_hosts", ()) or ()),
        allowed_networks=tuple(getattr(settings, "egress_allowed_networks", ()) or ()),
        max_redirects=int(getattr(settings, "egress_max_redirects", 3)),
    )


# ---- the total deadline: a watchdog that shuts the sockets of one download ------------------
_current = threading.local()


class Deadline:
    """``with Deadline(seconds) as d:`` — every socket the pinned connections open in this thread
    meanwhile is shut down when the time is up, whatever it is waiting for (slow headers, a
    drip-fed body, a TLS handshake). ``d.expired`` tells the caller why its read failed."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._prev = getattr(_current, "deadline", None)
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _current.deadline = self._prev

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            socks = list(self._socks)
        for s in socks:
            _shut(s)

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            if not self.expired:
                self._socks.append(sock)
                return
        _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# ---- pinned connections ----------------------------------------------------------------
class _Pinned:
    """Mixin over urllib3's connections: resolve + vet + connect to the vetted address."""

    egress: EgressPolicy

    def _new_conn(self) -> socket.socket:  # type: ignore[override]
        host = self._dns_host  # type: ignore[attr-defined]
        try:
            infos = self.egress.resolve(host, self.port)  # type: ignore[attr-defined]
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e  # type: ignore[attr-defined, arg-type]
        err: OSError | None = None
        for family, socktype, proto, _name, addr in infos:
            sock = socket.socket(family, socktype, proto)
            try:
                for opt in self.socket_options or ():  # type: ignore[attr-defined]
                    sock.setsockopt(*opt)
                if self.timeout is not _DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                    sock.settimeout(self.timeout)  # type: ignore[attr-defined]
                deadline = getattr(_current, "deadline", None)
                if deadline is not None:
                    deadline.register(sock)
                sock.connect(addr)
                return sock
            except TimeoutError as e:
                sock.close()
                raise ConnectTimeoutError(self, f"connection to {self.host} timed out") from e  # type: ignore[attr-defined]
            except OSError as e:
                sock.close()
                err = e
        raise NewConnectionError(self, f"failed to establish a new connection: {err}")  # type: ignore[arg-type]


def _pool_classes(policy: EgressPolicy) -> dict[str, type]:
    conn = type("PinnedHTTPConnection", (_Pinned, HTTPConnection), {"egress": policy})
    sconn = type("PinnedHTTPSConnection", (_Pinned, HTTPSConnection), {"egress": policy})
    return {
        "http": type("PinnedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": conn}),
        "https": type("PinnedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": sconn}),
    }


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, policy: EgressPolicy):
        self._classes = _pool_classes(policy)
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._classes

    def proxy_manager_for(self, *args, **kwargs):  # type: ignore[no-untyped-def]  # pragma: no cover
        raise EgressDenied("proxy_refused", "proxies bypass the egress policy")


def fetch_session(policy: EgressPolicy) -> requests.Session:
    """A session whose every connection obeys ``policy``; environment proxies are ignored."""
    s = requests.Session()
    s.trust_env = False
    s.proxies = {}
    adapter = _PinnedAdapter(policy)
    for prefix in list(s.adapters):
        s.mount(prefix, adapter)
    return s


def follow(session: requests.Session, url: str, policy: EgressPolicy, *,
           timeout: float | tuple[float, float], headers: dict[str, str] | None = None) -> requests.Response:
    """GET ``url`` (streamed), following at most ``policy.max_redirects`` redirects, each
    target re-checked (scheme, host list; its addresses when it connects)."""
    for hop in range(policy.max_redirects + 1):
        policy.check_url(url)
        resp = session.get(url, stream=True, timeout=timeout, allow_redirects=False, headers=headers)
        if not resp.is_redirect:
            return resp
        location = resp.headers.get("Location", "")
        resp.close()
        if hop == policy.max_redirects:
            break
        url = urljoin(url, location)
    raise EgressDenied("too_many_redirects", f"more than {policy.max_redirects} redirects")


def denied_log(uri: str, err: EgressDenied, **extra: object) -> None:
    log.warning("egress refused", uri=uri[:300], reason=err.reason, detail=err.detail, **extra)


def parse_list(value: object) -> Sequence[str] | object:
    """Settings helper: ``a,b`` → ``["a", "b"]``."""
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        return list(value)
    return value
