"""Alert rules and dashboard panels: valid PromQL, only metrics the services really export."""

from __future__ import annotations

import json
import subprocess
from functools import cache

import pytest
from prometheus_client import REGISTRY, generate_latest

from deploy import checks, dashboard, validate
from scripts import metrics_inventory


@cache
def registry_series() -> frozenset[str]:
    """Sample names of every metric registered once all Shotline modules are imported."""
    return frozenset(s for m in metrics_inventory.all_metrics() for s in m["series"])


def test_every_expression_parses_and_selects_something() -> None:
    exprs = {**checks.rule_expressions(), **checks.dashboard_expressions()}
    assert len(exprs) > 30
    for where, expr in exprs.items():
        assert checks.metric_names(expr), where


def test_parser_rejects_bad_promql() -> None:
    with pytest.raises(ValueError, match="invalid PromQL"):
        checks.metric_names("sum(rate(shotline_dead_letters_total[5m])")
    assert checks.metric_names('rate({__name__="a_total"}[5m]) / b') == {"a_total", "b"}


def test_alerts_and_panels_use_only_registered_metrics() -> None:
    assert checks.missing_from(set(registry_series())) == []


def test_alerts_and_panels_use_only_inventoried_metrics() -> None:
    assert checks.missing_from(checks.inventory_series()) == []


def test_suffixes_are_checked_by_metric_type() -> None:
    series = set(registry_series())
    assert "shotline_batch_duration_seconds_bucket" in series  # histogram
    assert "shotline_segmenter_shots_bucket" not in series      # a counter has no buckets
    assert "shotline_dead_letters_total" in series and "shotline_dead_letters" not in series


def test_required_alerts_exist() -> None:
    alerts = {k.split(":", 1)[1] for k in checks.rule_expressions() if k.startswith("alert:")}
    assert {"ShotlineConsumerLagGrowing", "ShotlineDeadLetters", "ShotlineProcessingErrorRate",
            "ShotlineGrpcErrorRate", "ShotlineQueryLatencyBudgetBurnFast", "ShotlineQueryLatencyBudgetBurnSlow",
            "ShotlineClassifierDrift", "ShotlineNoUploadsProcessed"} <= alerts
    for group in checks.rule_groups():
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"info", "warning", "critical"}
                assert rule["annotations"]["summary"]


def test_rules_pass_promtool_when_it_is_installed(tmp_path) -> None:
    """Prometheus's own checker (built by scripts/install_tools.sh); the parser covers the rest."""
    promtool = validate.TOOLS / "bin" / "promtool"
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps({"groups": checks.rule_groups()}))
    if not promtool.exists():  # promql-parser already parsed every rule above
        assert all(checks.metric_names(e) for e in checks.rule_expressions().values())
        return
    proc = subprocess.run([str(promtool), "check", "rules", str(rules)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboard_json_is_what_the_builder_makes() -> None:
    assert checks.DASHBOARD_FILE.read_text() == dashboard.render(), "run: python -m deploy.dashboard"
    titles = {p["title"] for p in dashboard.build()["panels"]}
    assert {"Throughput per stage", "Consumer lag", "Dead letters", "Encoder batch size", "Encoder provider",
            "Query latency percentiles", "Deployed classifier versions", "Classifier AP (cross-validated)",
            "Classifier drift (PSI; alert > 0.25)"} <= titles


def test_check_exported_reads_a_real_metrics_payload() -> None:
    registry_series()  # import every module so every metric is registered
    scraped = checks.scraped_names(generate_latest(REGISTRY).decode())
    assert checks.check_exported(scraped) == []
    without_lag = {n for n in scraped if not n.startswith("shotline_consumer_lag_messages")}
    assert checks.check_exported(without_lag) == ["shotline_consumer_lag_messages"]
