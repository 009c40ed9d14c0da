"""Every metric the code registers follows one naming scheme, and the inventory is current."""

from __future__ import annotations

import json
import re
from functools import cache

from deploy import checks
from scripts import metrics_inventory

# Labels whose values are unbounded (one series per video/shot/request): never allowed.
UNBOUNDED_LABELS = {"video_id", "shot_id", "event_id", "request_id", "url", "uri", "path", "key", "user", "trace_id"}
BASE_UNITS = ("_seconds", "_bytes", "_ratio", "_messages", "_records", "_rows", "_images", "_info", "_version",
              "_ap", "_psi", "_labels", "_timestamp_seconds", "_score")


@cache
def live() -> tuple[dict, ...]:
    """Metrics registered after importing every Shotline module (the registry, not a list)."""
    return tuple(m for m in metrics_inventory.all_metrics() if not m["module"].startswith("prometheus_client"))


def test_the_registry_has_the_metrics_the_pipeline_needs() -> None:
    names = {m["name"] for m in live()}
    assert {"shotline_messages_consumed_total", "shotline_consumer_lag_messages", "shotline_dead_letters_total",
            "shotline_grpc_request_duration_seconds"} <= names
    lag = next(m for m in live() if m["name"] == "shotline_consumer_lag_messages")
    assert lag["type"] == "gauge" and {"group", "topic"} <= set(lag["labels"])


def test_names_follow_the_scheme() -> None:
    bad = []
    for m in live():
        name, kind = m["name"], m["type"]
        if not re.fullmatch(r"shotline_[a-z0-9_]+", name):
            bad.append(f"{name}: not shotline_<snake_case>")
        if kind == "counter" and not name.endswith("_total"):
            bad.append(f"{name}: counter without _total")
        if kind != "counter" and name.endswith("_total"):
            bad.append(f"{name}: _total on a {kind}")
        if any(u in name for u in ("_milliseconds", "_ms", "_kb", "_mb", "_minutes")):
            bad.append(f"{name}: not in base units")
        if kind == "histogram" and ("duration" in name or "latency" in name or "wait" in name) \
                and not name.endswith("_seconds"):
            bad.append(f"{name}: a latency histogram must be in _seconds")
        if kind == "summary":
            bad.append(f"{name}: use a histogram (summaries cannot be aggregated)")
        if set(m["labels"]) & UNBOUNDED_LABELS:
            bad.append(f"{name}: unbounded label {set(m['labels']) & UNBOUNDED_LABELS}")
    assert bad == []


def test_latencies_are_histograms() -> None:
    for m in live():
        if m["name"].endswith("_duration_seconds") or "latency" in m["name"]:
            assert m["type"] == "histogram", m["name"]


def test_committed_inventory_lists_every_registered_metric() -> None:
    committed = {m["name"]: m for m in json.loads(checks.INVENTORY_FILE.read_text())["metrics"]}
    registered = {m["name"]: m for m in live()}
    stale = sorted(set(registered) ^ {n for n, m in committed.items() if not m["module"].startswith("prometheus_client")})
    assert stale == [], "run: python -m scripts.metrics_inventory"
    for name, m in registered.items():
        assert (committed[name]["type"], committed[name]["labels"]) == (m["type"], m["labels"]), name


def test_inventory_records_which_service_exports_what() -> None:
    inventory = {m["name"]: m for m in json.loads(checks.INVENTORY_FILE.read_text())["metrics"]}
    assert set(inventory["shotline_messages_consumed_total"]["services"]) >= {"segmenter", "encoder", "indexer"}
    assert "query" in inventory["shotline_grpc_request_duration_seconds"]["services"]
    assert inventory["shotline_encoder_provider_info"]["services"] == ["encoder"]
