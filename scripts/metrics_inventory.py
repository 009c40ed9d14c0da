"""Generate the metrics inventory from code: import every module, read prometheus_client's REGISTRY.

Nothing here is hand-kept: a metric is in the inventory because a module declares it. Per service,
a fresh interpreter imports that service's package (and so everything it imports), which is what
the running process registers and serves on /metrics.

    python -m scripts.metrics_inventory            # write deploy/metrics-inventory.json and deploy/metrics.md
    python -m scripts.metrics_inventory --check    # exit 1 when the committed files are stale
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Every service folder with an entrypoint: a new service is inventoried without editing a list here.
SERVICES = tuple(sorted(p.name for p in (ROOT / "services").iterdir() if (p / "main.py").exists()))
INVENTORY_JSON = ROOT / "deploy" / "metrics-inventory.json"
INVENTORY_MD = ROOT / "deploy" / "metrics.md"

# Sample-name suffixes each metric type exposes (OpenMetrics / prometheus_client conventions).
_SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "gauge": ("",),
    "enum": ("",),
}


def import_package(package: str) -> list[ModuleType]:
    """Import a package and every submodule except `__main__` (which would start the service)."""
    root = importlib.import_module(package)
    modules = [root]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def _declaring_modules() -> dict[int, str]:
    """id(object) → the first Shotline module (by name) holding it as a global."""
    owners: dict[int, str] = {}
    ours = [m for n, m in list(sys.modules.items()) if n.split(".")[0] in ("shotline", "services") and m]
    for mod in sorted(ours, key=lambda m: m.__name__):
        for value in vars(mod).values():
            owners.setdefault(id(value), mod.__name__)
    return owners


def registry_metrics(modules: list[ModuleType]) -> list[dict[str, Any]]:
    """Every metric registered in the default REGISTRY, with its type, labels and sample names."""
    from prometheus_client import REGISTRY
    from prometheus_client.metrics import MetricWrapperBase

    del modules  # imported for their side effect: registration
    owners = _declaring_modules()
    out: list[dict[str, Any]] = []
    # The registry has no public "list collectors"; this mapping has been stable for years.
    for collector in list(REGISTRY._collector_to_names):  # noqa: SLF001
        if isinstance(collector, MetricWrapperBase):
            kind = collector._type  # noqa: SLF001
            name = collector._name  # noqa: SLF001
            series = sorted(name + s for s in _SERIES_SUFFIXES.get(kind, ("",)))
            exposed = name + {"counter": "_total", "info": "_info"}.get(kind, "")
            entry = {
                "name": exposed,
                "type": kind,
                "labels": list(collector._labelnames),  # noqa: SLF001
                "help": collector._documentation,  # noqa: SLF001
                "series": series,
                "module": owners.get(id(collector), "?"),
            }
            if kind == "histogram":
                entry["buckets"] = [b for b in collector._upper_bounds if b != float("inf")]  # noqa: SLF001
            out.append(entry)
        else:  # process/platform/gc collectors from prometheus_client itself
            for family in collector.collect():
                names = sorted({s.name for s in family.samples} or {family.name})
                out.append({"name": names[0], "type": family.type, "labels": [], "help": family.documentation,
                            "series": names, "module": "prometheus_client (runtime)"})
    return sorted(out, key=lambda m: m["name"])


def all_metrics() -> list[dict[str, Any]]:
    """Every metric any Shotline module declares, imported in this process."""
    modules = import_package("shotline")
    for service in SERVICES:
        modules += import_package(f"services.{service}")
    return registry_metrics(modules)


def service_metrics(service: str) -> list[dict[str, Any]]:
    """Metrics one service registers: a fresh interpreter imports only that service's package."""
    code = (
        "import json, sys; sys.path[:0] = ['src', '.']; from scripts import metrics_inventory as m; "
        f"print(json.dumps(m.registry_metrics(m.import_package('services.{service}'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"importing services.{service} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_inventory() -> dict[str, Any]:
    per_service = {s: service_metrics(s) for s in SERVICES}
    merged: dict[str, dict[str, Any]] = {}
    for service, metrics in per_service.items():
        for m in metrics:
            entry = merged.setdefault(m["name"], {**m, "services": []})
            entry["services"].append(service)
    return {
        "generated_by": "python -m scripts.metrics_inventory",
        "metrics": sorted(merged.values(), key=lambda m: m["name"]),
    }


def render_markdown(inventory: dict[str, Any]) -> str:
    lines = [
        "# Metrics inventory",
        "",
        f"Generated by `{inventory['generated_by']}` from the code (do not edit). Runtime metrics",
        "(`process_*`, `python_*`) come from prometheus_client and are served by every service.",
        "",
        "| metric | type | labels | services | declared in | help |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in inventory["metrics"]:
        if m["module"].startswith("prometheus_client"):
            continue
        services = ", ".join(m["services"]) if len(m["services"]) < len(SERVICES) else "all"
        lines.append(f"| `{m['name']}` | {m['type']} | {', '.join(m['labels'])} | {services} | "
                     f"`{m['module']}` | {m['help']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when the committed inventory is stale")
    args = parser.parse_args(argv)
    inventory = build_inventory()
    text_json = json.dumps(inventory, indent=1) + "\n"
    text_md = render_markdown(inventory)
    if args.check:
        stale = [p.name for p, t in ((INVENTORY_JSON, text_json), (INVENTORY_MD, text_md))
                 if not p.exists() or p.read_text() != t]
        if stale:
            print(f"stale: {', '.join(stale)}; run python -m scripts.metrics_inventory", file=sys.stderr)
            return 1
        return 0
    INVENTORY_JSON.write_text(text_json)
    INVENTORY_MD.write_text(text_md)
    print(f"{len(inventory['metrics'])} metrics → {INVENTORY_JSON.relative_to(ROOT)}, {INVENTORY_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
