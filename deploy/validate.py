"""Render the kustomize overlays and validate every object against its schema, offline.

- Built-in kinds: the Kubernetes JSON schemas bundled in the PyPI package `kubernetes-validate`,
  strict variant (unknown fields are errors).
- KEDA and Prometheus Operator kinds: their real CRDs, fetched as Go modules by
  scripts/install_tools.sh; each openAPIV3Schema is made strict the way the API server prunes
  (an object with `properties` and no `x-kubernetes-preserve-unknown-fields` allows nothing else).
- Strimzi and Milvus kinds: subset schemas vendored in deploy/schemas (see their description).
- Security policy over each whole render (issue 16; `security_problems`): a namespace-wide
  default-deny NetworkPolicy for both directions, every workload's pods selected by a policy of
  their own (ingress, and egress for the services), Kafka listeners restricted to their clients
  (`networkPolicyPeers`), `automountServiceAccountToken: false` on every ServiceAccount and pod
  template, no Secret value that is a placeholder or a short credential, and every Secret/ConfigMap
  a pod refers to present in the render. The overlays' API tokens are generated at install by
  deploy/k8s/generate-secrets.sh; rendering runs it first for an overlay that lacks them.

    python -m deploy.validate            # render and validate every overlay
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
OVERLAYS = sorted(p.name for p in (DEPLOY / "k8s" / "overlays").iterdir() if p.is_dir())
KUBERNETES_VERSION = "1.33.0"  # oldest version we support: native gRPC probes, policy/v1, …
TOOLS = Path(os.environ.get("SHOTLINE_TOOLS", Path.home() / ".cache" / "shotline"))


def ensure_tools() -> None:
    """Build/fetch kustomize and the CRDs once (cached); promtool is left to `make setup`."""
    if (TOOLS / "bin" / "kustomize").exists() and any((TOOLS / "crds").glob("*.yaml")):
        return
    env = {**os.environ, "SHOTLINE_TOOLS": str(TOOLS), "SHOTLINE_SKIP_PROMTOOL": "1"}
    subprocess.run(["bash", str(ROOT / "scripts" / "install_tools.sh")], check=True, env=env)


def kustomize() -> list[str]:
    ensure_tools()
    return [str(TOOLS / "bin" / "kustomize"), "build"]


def ensure_secrets(overlay: str) -> None:
    """Generate the install-time credentials an overlay's secretGenerator reads, if missing
    (the same step an install runs first; existing files are kept)."""
    path = DEPLOY / "k8s" / "overlays" / overlay
    config = yaml.safe_load((path / "kustomization.yaml").read_text())
    files = [f.split("=", 1)[-1] for g in config.get("secretGenerator", []) for f in g.get("envs", []) + g.get("files", [])]
    if any(not (path / f).exists() for f in files):
        subprocess.run(["bash", str(DEPLOY / "k8s" / "generate-secrets.sh"), overlay], check=True,
                       capture_output=True, timeout=60)
    for parent in config.get("resources", []):  # gpu = prod + a component: prod's credentials
        if parent.startswith("../") and (path / parent / "kustomization.yaml").exists() \
                and (path / parent).resolve().parent == path.parent:
            ensure_secrets((path / parent).resolve().name)


def render(overlay: str) -> list[dict[str, Any]]:
    """The objects an overlay renders to (the same `kubectl apply -k` would send)."""
    ensure_secrets(overlay)
    path = DEPLOY / "k8s" / "overlays" / overlay
    proc = subprocess.run([*kustomize(), str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"kustomize build {overlay} failed: {proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def _strict(schema: Any) -> Any:
    """Reject unknown fields wherever the API server would prune them."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → strict JSON schema, from the fetched CRDs and the vendored subsets."""
    ensure_tools()
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((TOOLS / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    for path in sorted((DEPLOY / "schemas").glob("*.json")):
        vendored = yaml.safe_load(path.read_text())  # JSON is YAML
        key = (f"{vendored['x-group']}/{vendored['x-version']}", vendored["x-kind"])
        schemas[key] = vendored["openAPIV3Schema"]
    return schemas


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(root)"


def validate_object(obj: dict[str, Any]) -> list[str]:
    """Problems with one object (empty = valid)."""
    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    schema = crd_schemas().get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if schema is not None:
        validator = jsonschema.Draft7Validator(schema)
        return [f"{name}: {_where(e)}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except SchemaNotFoundError as e:
        return [f"{name}: no schema: {e.message}"]
    except kubernetes_validate.ValidationError as e:
        return [f"{name}: {_where(e)}: {e.message}"]
    return []


# ---- security policy over a whole render --------------------------------------------------
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}
PLACEHOLDERS = re.compile(r"^(change[-_ ]?me|replace[-_ ]?me|placeholder|secret|password|passw0rd|token|todo|"
                          r"fixme|xxx+|example|test|default|admin|<[^>]*>|\$\{[^}]*\}|dummy|none|null)$", re.I)
CREDENTIAL_KEY = re.compile(r"(TOKEN|PASSWORD|SECRET|API_?KEY|PRIVATE_?KEY)", re.I)
MIN_CREDENTIAL_CHARS = 32


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template (metadata + spec) of a workload, None for other kinds."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj
    if kind == "CronJob":
        return obj.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template")
    if kind in WORKLOADS:
        return obj.get("spec", {}).get("template")
    return None


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels + matchExpressions); {} selects all."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _secret_values(obj: dict[str, Any]) -> dict[str, str]:
    out = dict(obj.get("stringData") or {})
    for k, v in (obj.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(v).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            out[k] = "<binary>" if v else ""
    return out


def _container_port(spec: dict[str, Any], target: int | str | None) -> int | str | None:
    """A Service's targetPort as the container's port number (named ports resolved)."""
    if isinstance(target, str) and not target.isdigit():
        for c in spec.get("containers", []):
            for p in c.get("ports", []):
                if p.get("name") == target:
                    return int(p["containerPort"])
        return target
    return int(target) if target is not None else None


def _admits(policy: dict[str, Any], port: int | str | None) -> bool:
    """Whether a policy's ingress rules admit some peer on this port."""
    if "Ingress" not in policy["spec"].get("policyTypes", []):
        return False
    for rule in policy["spec"].get("ingress") or []:
        ports = rule.get("ports")
        if not ports or any(p.get("port") in (port, None) for p in ports):
            return True
    return False


def security_problems(objs: list[dict[str, Any]]) -> list[str]:
    """What the whole render breaks of the security policy (empty = fine)."""
    problems: list[str] = []
    policies = [o for o in objs if o.get("kind") == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"].get("podSelector") in ({}, None)
            and {"Ingress", "Egress"} <= set(p["spec"].get("policyTypes", []))
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    if not deny:
        problems.append("NetworkPolicy: no default-deny (podSelector {}, policyTypes Ingress+Egress, no rules)")
    own = [p for p in policies if p["spec"].get("podSelector")]  # policies for some pods, not all
    names = {(o.get("kind"), o.get("metadata", {}).get("name")) for o in objs}
    services = [o for o in objs if o.get("kind") == "Service"]
    for obj in objs:
        template = pod_template(obj)
        if obj.get("kind") == "ServiceAccount" and obj.get("automountServiceAccountToken") is not False:
            problems.append(f"{_name(obj)}: automountServiceAccountToken must be false")
        if obj.get("kind") == "Secret":
            for key, value in _secret_values(obj).items():
                if PLACEHOLDERS.match(value.strip()) or (CREDENTIAL_KEY.search(key) and len(value) < MIN_CREDENTIAL_CHARS):
                    problems.append(f"{_name(obj)}: {key} is a placeholder or too short for a credential "
                                    f"(generate it at install: deploy/k8s/generate-secrets.sh)")
        if obj.get("kind") == "Kafka":
            for listener in obj["spec"]["kafka"].get("listeners", []):
                if not listener.get("networkPolicyPeers"):
                    problems.append(f"{_name(obj)}: listener {listener.get('name')} has no networkPolicyPeers "
                                    "(Strimzi would admit every pod)")
        if template is None:
            continue
        spec = template.get("spec", {})
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{_name(obj)}: pod template must set automountServiceAccountToken: false")
        labels = (template.get("metadata") or {}).get("labels") or {}
        mine = [p for p in own if selects(p["spec"]["podSelector"], labels)]
        if not any("Ingress" in p["spec"].get("policyTypes", []) for p in mine):
            problems.append(f"{_name(obj)}: no NetworkPolicy of its own admits its ingress")
        if labels.get("app.kubernetes.io/component") == "app" \
                and not any("Egress" in p["spec"].get("policyTypes", []) and p["spec"].get("egress") for p in mine):
            problems.append(f"{_name(obj)}: no NetworkPolicy of its own allows its egress")
        for service in services:
            if not service["spec"].get("selector") or not selects({"matchLabels": service["spec"]["selector"]}, labels):
                continue
            for port in service["spec"].get("ports", []):
                number = _container_port(spec, port.get("targetPort", port.get("port")))
                if not any(_admits(p, number) for p in mine):
                    problems.append(f"{_name(obj)}: no NetworkPolicy admits {_name(service)} port "
                                    f"{port.get('name') or port.get('port')} ({number})")
        for c in [*spec.get("containers", []), *spec.get("initContainers", [])]:
            refs = [("Secret", (e.get("secretRef") or {}).get("name")) for e in c.get("envFrom", [])] + \
                   [("ConfigMap", (e.get("configMapRef") or {}).get("name")) for e in c.get("envFrom", [])]
            for kind, ref in refs:
                if ref and (kind, ref) not in names:
                    problems.append(f"{_name(obj)}: envFrom {kind} {ref} is not in the render")
    return problems


def validate_overlay(overlay: str) -> list[str]:
    objs = render(overlay)
    return [problem for obj in objs for problem in validate_object(obj)] + security_problems(objs)


def main() -> int:
    failed = False
    for overlay in OVERLAYS:
        problems = validate_overlay(overlay)
        print(f"{overlay}: {len(render(overlay))} objects, {len(problems)} problems")
        for p in problems:
            print(f"  {p}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
