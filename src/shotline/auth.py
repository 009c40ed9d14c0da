"""Who is calling, and may they: bearer tokens with roles, read from a token file.

The file (``SHOTLINE_API_TOKENS_FILE``, a mounted Secret in Kubernetes) has one line per token::

    # identity   role        hash of the token
    ads-eu       reader      sha256:9f86d08...
    alice        annotator   sha256:...
    query        service     sha256:...

Tokens are 256-bit random strings (`new_token`), so a plain SHA-256 is the right hash at rest: a
slow password hash buys nothing against a brute force of 2^256 and would cost every call. A
presented token is hashed and compared with every entry by `hmac.compare_digest` — no early exit,
no dict lookup keyed by attacker input.

Roles grant permissions; each service declares the permission each of its methods needs
(`QUERY_PERMISSIONS` beside the servicer, the encoder's beside its API). A method missing from
that table is refused (fail closed). Health and reflection stay open.

`SHOTLINE_API_TOKEN` alone (no file) keeps the single shared token of a local stack: its holder is
the identity ``default`` with the ``admin`` role, and also the credential a service presents to
another. With a file, a service presents ``SHOTLINE_API_TOKEN`` as its own (``service``) credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from shotline.errors import ShotlineError

# What each role may do. `admin` is everything a person can do; `service` is what one Shotline
# service needs from another (the query API's encoder calls, the console's reads on its own).
ROLES: dict[str, frozenset[str]] = {
    "reader": frozenset({"read"}),
    "annotator": frozenset({"read", "label"}),
    "uploader": frozenset({"upload"}),
    "admin": frozenset({"read", "label", "upload", "admin", "encode"}),
    "service": frozenset({"read", "encode"}),
}
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
MAX_TOKEN_CHARS = 512


class TokenFileError(ShotlineError):
    """The token file is missing or has a line that is not `identity role sha256:<hex>`."""


@dataclass(frozen=True)
class Identity:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        return permission in ROLES[self.role]


@dataclass(frozen=True)
class Decision:
    identity: Identity | None
    code: str  # "ok", "unauthenticated", "permission_denied"
    message: str = ""


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def parse_token_file(text: str, source: str = "token file") -> list[tuple[str, str, str]]:
    entries = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3 or parts[1] not in ROLES or not parts[2].startswith("sha256:") \
                or len(parts[2]) != 7 + 64 or any(c not in "0123456789abcdef" for c in parts[2][7:]):
            raise TokenFileError(f"{source} line {n}: expected `identity role sha256:<64 hex>`, "
                                 f"role one of {', '.join(ROLES)}")
        entries.append((parts[0], parts[1], parts[2]))
    if not entries:
        raise TokenFileError(f"{source} lists no tokens")
    return entries


class Authenticator:
    """Bearer token → identity, and identity × method → allowed."""

    def __init__(self, entries: list[tuple[str, str, str]], permissions: dict[str, str]):
        self._entries = [(hash_.encode(), Identity(name, role)) for name, role, hash_ in entries]
        self._permissions = permissions  # method name (no service prefix) -> permission

    @classmethod
    def from_settings(cls, token_file: Path | None, shared_token: str | None,
                      permissions: dict[str, str]) -> Authenticator | None:
        """None when the service runs without auth (neither a file nor a shared token)."""
        if token_file is not None:
            try:
                text = Path(token_file).read_text()
            except OSError as e:
                raise TokenFileError(f"cannot read the token file {token_file}: {e.strerror}") from e
            return cls(parse_token_file(text, str(token_file)), permissions)
        if shared_token:
            return cls([("default", "admin", hash_token(shared_token))], permissions)
        return None

    def identify(self, metadata: object) -> Identity | None:
        value = ""
        for k, v in metadata or ():  # type: ignore[attr-defined]
            if k == "authorization":
                value = v if isinstance(v, str) else ""
                break
        if not value.startswith("Bearer ") or len(value) > MAX_TOKEN_CHARS:
            return None
        presented = hash_token(value[7:]).encode()
        found = None
        for stored, identity in self._entries:  # every entry, always: the time does not depend on which
            if hmac.compare_digest(presented, stored):
                found = identity
        return found

    def decide(self, full_method: str, metadata: object) -> Decision:
        if full_method.startswith(OPEN_PREFIXES):
            return Decision(None, "ok")
        identity = self.identify(metadata)
        if identity is None:
            return Decision(None, "unauthenticated", "missing or invalid bearer token")
        method = full_method.rsplit("/", 1)[-1]
        permission = self._permissions.get(method)
        if permission is None or not identity.may(permission):
            need = f"the {permission!r} permission" if permission else "a permission no role has"
            return Decision(identity, "permission_denied",
                            f"{identity.name} ({identity.role}) may not call {method}: it needs {need}")
        return Decision(identity, "ok")
