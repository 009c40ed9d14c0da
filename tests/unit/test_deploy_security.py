"""Issue 16, Kubernetes: network policies, service-account tokens and install-time credentials.

Each overlay's render passes `deploy.validate.security_problems`, and the check itself is shown
to fail on each thing it guards: a missing policy, an automounted token, a placeholder secret, a
Kafka listener open to every pod. The expected traffic is written out here by hand, from what
each service's main.py connects to, not derived from the manifests.
"""

from __future__ import annotations

import copy
import subprocess
from functools import cache
from typing import Any

import pytest

from deploy import validate

SERVICES = ("segmenter", "encoder", "indexer", "trainer", "query", "console", "scorer")
# service → what it connects to (by hand, from services/<name>/main.py)
EGRESS = {
    "segmenter": {"kafka", "media"}, "encoder": {"kafka", "media"},
    "indexer": {"kafka", "milvus", "redis"}, "scorer": {"kafka", "milvus", "redis", "encoder"},
    "trainer": {"kafka", "milvus", "redis", "encoder"}, "query": {"kafka", "milvus", "redis", "encoder"},
    "console": {"query"},
}
TARGETS = {  # a pod of each target, by its labels, and the port
    "kafka": ({"strimzi.io/cluster": "shotline", "strimzi.io/kind": "Kafka", "strimzi.io/name": "shotline-kafka"}, 9092),
    "milvus": ({"app.kubernetes.io/instance": "shotline", "app.kubernetes.io/name": "milvus"}, 19530),
    "redis": ({"app.kubernetes.io/name": "shotline-redis"}, 6379),
    "encoder": ({"app.kubernetes.io/name": "shotline-encoder"}, 50052),
    "query": ({"app.kubernetes.io/name": "shotline-query"}, 50051),
}


@cache
def rendered(overlay: str) -> tuple[dict, ...]:
    return tuple(validate.render(overlay))


def objs(overlay: str = "dev") -> list[dict[str, Any]]:
    return copy.deepcopy(list(rendered(overlay)))


def labels_of(service: str, overlay: str = "dev") -> dict[str, str]:
    dep = next(o for o in rendered(overlay) if o["kind"] == "Deployment" and o["metadata"]["name"] == f"shotline-{service}")
    return dep["spec"]["template"]["metadata"]["labels"]


def _ports_ok(rule: dict, port: int) -> bool:
    return not rule.get("ports") or any(p.get("port") == port for p in rule["ports"])


def egress_allowed(overlay: str, src: dict[str, str], dst: dict[str, str], port: int) -> bool:
    """Same-namespace pod-to-pod, by NetworkPolicy semantics: src's egress AND dst's ingress."""
    pols = [o for o in rendered(overlay) if o["kind"] == "NetworkPolicy"]

    def allowed(direction: str, me: dict[str, str], peer: dict[str, str]) -> bool:
        key = "egress" if direction == "Egress" else "ingress"
        side = "to" if key == "egress" else "from"
        mine = [p for p in pols if direction in p["spec"]["policyTypes"] and validate.selects(p["spec"]["podSelector"], me)]
        return any(_ports_ok(r, port) and any("podSelector" in peer_sel and "namespaceSelector" not in peer_sel
                                               and validate.selects(peer_sel["podSelector"], peer)
                                               for peer_sel in r.get(side, []))
                   for p in mine for r in p["spec"].get(key) or [])

    return allowed("Egress", src, dst) and (allowed("Ingress", dst, src) or "strimzi.io/cluster" in dst)


@pytest.mark.parametrize("overlay", validate.OVERLAYS)
def test_every_overlay_passes_the_security_policy(overlay: str) -> None:
    assert validate.security_problems(list(rendered(overlay))) == []


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reaches_exactly_what_it_uses(service: str) -> None:
    src = labels_of(service)
    for target, (dst, port) in TARGETS.items():
        assert egress_allowed("dev", src, dst, port) == (target in EGRESS[service]), (service, target)
    # and nothing else: no service may reach Redis' port on the query pod, say
    assert not egress_allowed("dev", src, labels_of("query"), 6379)


def test_stores_admit_only_their_clients() -> None:
    for target in ("redis", "milvus", "kafka", "encoder"):
        dst, port = TARGETS[target]
        clients = {s for s in SERVICES if target in EGRESS[s]}
        stranger = {"app.kubernetes.io/name": "some-other-pod"}
        assert not egress_allowed("dev", stranger, dst, port), target
        for s in SERVICES:
            assert egress_allowed("dev", labels_of(s), dst, port) == (s in clients), (s, target)
    kafka = next(o for o in rendered("dev") if o["kind"] == "Kafka")
    peers = kafka["spec"]["kafka"]["listeners"][0]["networkPolicyPeers"]
    assert set(peers[0]["podSelector"]["matchExpressions"][0]["values"]) == {
        f"shotline-{s}" for s in SERVICES if "kafka" in EGRESS[s]}


def test_media_egress_never_reaches_private_or_metadata_ranges() -> None:
    pol = next(o for o in rendered("dev") if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "shotline-media-egress")
    v4 = pol["spec"]["egress"][0]["to"][0]["ipBlock"]
    assert v4["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8"} <= set(v4["except"])
    assert {p["port"] for p in pol["spec"]["egress"][0]["ports"]} == {80, 443}


def test_api_token_is_generated_per_overlay_and_referenced() -> None:
    tokens = {}
    for overlay in ("dev", "prod"):
        secret = next(o for o in rendered(overlay) if o["kind"] == "Secret" and o["metadata"]["name"].startswith("shotline-api-tokens"))
        tokens[overlay] = validate._secret_values(secret)["SHOTLINE_API_TOKEN"]
        assert len(tokens[overlay]) >= 32 and not validate.PLACEHOLDERS.match(tokens[overlay])
        for dep in (o for o in rendered(overlay) if o["kind"] == "Deployment"):
            name = dep["metadata"]["name"].removeprefix("shotline-")
            refs = {e["secretRef"]["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["envFrom"] if "secretRef" in e}
            assert (secret["metadata"]["name"] in refs) == (name in {"query", "encoder", "console", "scorer", "trainer"}), name
    assert tokens["dev"] != tokens["prod"]
    # the token file (hashes only) is mounted where SHOTLINE_API_TOKENS_FILE points, by the three
    # services that check callers; the admin's plaintext token is in no Secret
    secrets_dir = validate.DEPLOY / "k8s" / "overlays" / "dev" / "secrets"
    admin = (secrets_dir / "admin-token").read_text().strip()
    file_secret = next(o for o in rendered("dev") if o["kind"] == "Secret" and o["metadata"]["name"].startswith("shotline-token-file"))
    lines = validate._secret_values(file_secret)["tokens"].splitlines()
    assert {tuple(line.split()[:2]) for line in lines if not line.startswith("#")} == {
        ("shotline-services", "service"), ("admin", "admin")}
    assert all(admin not in str(o) for o in rendered("dev"))
    for dep in (o for o in rendered("dev") if o["kind"] == "Deployment"):
        spec = dep["spec"]["template"]["spec"]
        mounted = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        env = {e["name"]: e.get("value") for e in spec["containers"][0].get("env", [])}
        checks_callers = dep["metadata"]["name"] in {"shotline-query", "shotline-encoder", "shotline-console"}
        assert (file_secret["metadata"]["name"] in mounted) == checks_callers, dep["metadata"]["name"]
        assert (env.get("SHOTLINE_API_TOKENS_FILE") == "/etc/shotline/tokens/tokens") == checks_callers
    for o in rendered("dev"):  # no change-me anywhere in what is applied
        assert "change-me" not in str(o).lower()


def test_generator_keeps_existing_tokens_unless_rotated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    file = validate.DEPLOY / "k8s" / "overlays" / "dev" / "secrets" / "api-tokens.env"
    before = file.read_text()
    script = str(validate.DEPLOY / "k8s" / "generate-secrets.sh")
    subprocess.run(["bash", script, "dev"], check=True, capture_output=True)
    assert file.read_text() == before
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    out = subprocess.run(["git", "check-ignore", str(file)], capture_output=True, text=True, cwd=validate.ROOT)
    assert out.returncode == 0, "the generated credentials must be git-ignored"


def _drop(objects: list[dict], kind: str, name: str) -> list[dict]:
    out = [o for o in objects if not (o["kind"] == kind and o["metadata"]["name"] == name)]
    assert len(out) == len(objects) - 1
    return out


def _get(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name))


@pytest.mark.parametrize(("what", "mutate", "expect"), [
    ("no default-deny", lambda o: _drop(o, "NetworkPolicy", "default-deny"), "no default-deny"),
    ("query's API port not admitted", lambda o: _drop(o, "NetworkPolicy", "shotline-query-ingress"),
     "Deployment/shotline-query: no NetworkPolicy admits Service/shotline-query port grpc"),
    ("redis admits nobody", lambda o: _drop(o, "NetworkPolicy", "redis-ingress"), "StatefulSet/shotline-redis"),
    ("console has no egress policy", lambda o: _drop(o, "NetworkPolicy", "shotline-console"),
     "Deployment/shotline-console: no NetworkPolicy of its own allows its egress"),
    ("token automounted on a pod", lambda o: [_get(o, "Deployment", "shotline-encoder")["spec"]["template"]["spec"]
                                             .update(automountServiceAccountToken=True), o][1],
     "Deployment/shotline-encoder: pod template must set automountServiceAccountToken: false"),
    ("automount unset on a StatefulSet", lambda o: [_get(o, "StatefulSet", "shotline-redis")["spec"]["template"]["spec"]
                                                   .pop("automountServiceAccountToken"), o][1], "StatefulSet/shotline-redis"),
    ("automount on a ServiceAccount", lambda o: [_get(o, "ServiceAccount", "shotline-query")
                                                .pop("automountServiceAccountToken"), o][1], "ServiceAccount/shotline-query"),
    ("change-me secret", lambda o: [_get(o, "Secret", "shotline-api-tokens").update(
        data=None, stringData={"SHOTLINE_API_TOKEN": "change-me"}), o][1], "SHOTLINE_API_TOKEN is a placeholder"),
    ("short token", lambda o: [_get(o, "Secret", "shotline-secrets")["stringData"].update(
        MILVUS_TOKEN="root:Milvus"), o][1], "MILVUS_TOKEN is a placeholder or too short"),
    ("empty password", lambda o: [_get(o, "Secret", "shotline-secrets")["stringData"].update(REDIS_PASSWORD=""), o][1],
     "REDIS_PASSWORD"),
    ("secret not in the render", lambda o: [x for x in o if not x["metadata"]["name"].startswith("shotline-api-tokens")],
     "envFrom Secret shotline-api-tokens"),
    ("kafka listener open to every pod", lambda o: [_get(o, "Kafka", "shotline")["spec"]["kafka"]["listeners"][0]
                                                   .pop("networkPolicyPeers"), o][1], "has no networkPolicyPeers"),
])
def test_security_check_fails_on(what: str, mutate, expect: str) -> None:  # type: ignore[no-untyped-def]
    problems = validate.security_problems(mutate(objs()))
    assert any(expect in p for p in problems), (what, problems)
