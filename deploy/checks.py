"""Which metrics do the alert rules and the dashboard use, and do they exist?

Expressions are parsed with a real PromQL parser (`promql-parser`), so a syntax error fails here
and metric names come from the AST's selectors, not from a regex. Names produced by recording
rules count as existing; everything else must be exported by a service.

The lead's integration test scrapes the running services and calls `check_exported`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import promql_parser
import yaml

DEPLOY = Path(__file__).resolve().parent
RULES_FILE = DEPLOY / "k8s" / "base" / "monitoring" / "prometheusrule.yaml"
DASHBOARD_FILE = DEPLOY / "k8s" / "base" / "monitoring" / "shotline-dashboard.json"
INVENTORY_FILE = DEPLOY / "metrics-inventory.json"

# Series Prometheus itself synthesizes for every scrape target; no service exports them.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects. Raises ValueError on a PromQL syntax error."""
    try:
        ast = promql_parser.parse(expr)
    except Exception as e:  # the binding raises a plain ValueError/RuntimeError with the position
        raise ValueError(f"invalid PromQL {expr!r}: {e}") from e
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> bool:
        selector = node.vector_selector if isinstance(node, promql_parser.MatrixSelector) else node
        if isinstance(selector, promql_parser.VectorSelector):
            if selector.name:
                names.add(selector.name)
            for m in selector.matchers.matchers:
                if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal:
                    names.add(m.value)
        return True

    promql_parser.walk(ast, visit)
    return names


def rule_groups(path: Path = RULES_FILE) -> list[dict]:
    """The `spec.groups` of the PrometheusRule (the same shape promtool's rule files use)."""
    return yaml.safe_load(path.read_text())["spec"]["groups"]


def rule_expressions(path: Path = RULES_FILE) -> dict[str, str]:
    """'alert:Name' / 'record:name' → expression."""
    out = {}
    for group in rule_groups(path):
        for rule in group["rules"]:
            key = f"alert:{rule['alert']}" if "alert" in rule else f"record:{rule['record']}"
            out[key] = str(rule["expr"])
    return out


def recorded_names(path: Path = RULES_FILE) -> set[str]:
    return {r["record"] for g in rule_groups(path) for r in g["rules"] if "record" in r}


def _panels(panels: Iterable[dict]) -> Iterable[dict]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))  # collapsed rows nest their panels


# Grafana interpolates these before the query reaches Prometheus; give the parser what it would see.
_GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "6h"}


def _interpolate(expr: str) -> str:
    for macro, value in _GRAFANA_MACROS.items():
        expr = expr.replace(macro, value)
    return expr


def dashboard_expressions(path: Path = DASHBOARD_FILE) -> dict[str, str]:
    """'panel:Title/refId' → expression (Grafana macros interpolated), plus variable queries."""
    board = json.loads(path.read_text())
    out = {}
    for panel in _panels(board["panels"]):
        for target in panel.get("targets", []):
            if target.get("expr"):
                out[f"panel:{panel['title']}/{target.get('refId', '?')}"] = _interpolate(target["expr"])
    for var in board.get("templating", {}).get("list", []):
        query = var.get("query")
        if var.get("type") == "query" and isinstance(query, dict) and query.get("query", "").startswith("label_values("):
            # label_values(metric, label) is Grafana syntax, not PromQL: check the metric part only.
            metric = query["query"][len("label_values("):].split(",")[0].strip()
            out[f"variable:{var['name']}"] = metric
    return out


def referenced_metrics() -> dict[str, list[str]]:
    """Metric name → where it is used (alerts, recording rules, panels), excluding recorded names."""
    recorded = recorded_names()
    uses: dict[str, list[str]] = {}
    for where, expr in {**rule_expressions(), **dashboard_expressions()}.items():
        for name in metric_names(expr):
            if name not in recorded and name not in PROMETHEUS_SYNTHETIC:
                uses.setdefault(name, []).append(where)
    return uses


def inventory_series(path: Path = INVENTORY_FILE) -> set[str]:
    """Every sample name the services export, per the generated inventory."""
    return {s for m in json.loads(path.read_text())["metrics"] for s in m["series"]}


def missing_from(series: set[str]) -> list[str]:
    """Referenced names not among `series` (exact sample names, e.g. `x_bucket`, `y_total`)."""
    return sorted(n for n in referenced_metrics() if n not in series)


# Sample names each metric type exposes, so a family with no samples yet still counts.
_TYPE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def scraped_names(exposition: str) -> set[str]:
    """Sample names a /metrics payload exports, including those of labelled families that
    have no samples yet (prometheus_client still writes their HELP/TYPE lines)."""
    from prometheus_client.parser import text_string_to_metric_families

    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in _TYPE_SUFFIXES.get(family.type, ("",)))
        names.update(s.name for s in family.samples)
    return names


def check_exported(metric_names_scraped: set[str]) -> list[str]:
    """Referenced metric names that the scraped services do not export (empty = all good).

    Pass the union of `scraped_names(text)` over every service's /metrics payload.
    """
    return missing_from(set(metric_names_scraped))
