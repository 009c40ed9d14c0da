"""Render the kustomize overlays and validate every object against its schema, offline.

- Built-in kinds: the Kubernetes JSON schemas bundled in the PyPI package `kubernetes-validate`,
  strict variant (unknown fields are errors).
- KEDA and Prometheus Operator kinds: their real CRDs, fetched as Go modules by
  scripts/install_tools.sh; each openAPIV3Schema is made strict the way the API server prunes
  (an object with `properties` and no `x-kubernetes-preserve-unknown-fields` allows nothing else).
- Strimzi and Milvus kinds: subset schemas vendored in deploy/schemas (see their description).

    python -m deploy.validate            # render and validate every overlay
"""

from __future__ import annotations

import os
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


def render(overlay: str) -> list[dict[str, Any]]:
    """The objects an overlay renders to (the same `kubectl apply -k` would send)."""
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


def validate_overlay(overlay: str) -> list[str]:
    return [problem for obj in render(overlay) for problem in validate_object(obj)]


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
