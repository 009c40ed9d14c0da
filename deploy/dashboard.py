"""Build the Grafana dashboard JSON (deploy/k8s/base/monitoring/shotline-dashboard.json).

Kept as code so panels stay uniform and the JSON is reviewable as a diff; a unit test fails when
the committed JSON differs from what this builds. Regenerate with `python -m deploy.dashboard`.
"""

from __future__ import annotations

import json
from typing import Any

from deploy.checks import DASHBOARD_FILE

DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}


def _panel(title: str, unit: str, targets: list[tuple[str, str]], kind: str = "timeseries",
           description: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [_target(e, legend, chr(ord("A") + i)) for i, (e, legend) in enumerate(targets)],
    }


def _quantiles(metric: str, selector: str, by: str, legend_prefix: str) -> list[tuple[str, str]]:
    by_clause = f"{by}, le" if by else "le"
    return [
        (f"histogram_quantile({q}, sum by ({by_clause}) (rate({metric}_bucket{{{selector}}}[{RATE}])))",
         f"{legend_prefix}p{int(q * 100)}")
        for q in (0.5, 0.95, 0.99)
    ]


ROWS: list[tuple[str, list[dict[str, Any]]]] = [
    ("Pipeline", [
        _panel("Throughput per stage", "ops", [
            (f'sum by (service) (rate(shotline_messages_consumed_total{{outcome="ok"}}[{RATE}]))', "{{service}}"),
        ], description="Records each worker processed successfully, per second."),
        _panel("Produced per topic", "ops", [
            (f"sum by (topic) (rate(shotline_messages_produced_total[{RATE}]))", "{{topic}}"),
        ]),
        _panel("Consumer lag", "short", [
            ("sum by (group, topic) (shotline_consumer_lag_messages)", "{{group}} ← {{topic}}"),
        ], description="Records behind the log end per consumer group and topic (KEDA scales on this)."),
        _panel("Dead letters", "ops", [
            (f"sum by (service, topic, reason) (rate(shotline_dead_letters_total[{RATE}]))",
             "{{service}} {{topic}} {{reason}}"),
        ]),
        _panel("Batch duration p95", "s", [
            (f"histogram_quantile(0.95, sum by (service, le) (rate(shotline_batch_duration_seconds_bucket[{RATE}])))",
             "{{service}}"),
        ]),
        _panel("Transient retries", "ops", [
            (f"sum by (service) (rate(shotline_transient_retries_total[{RATE}]))", "{{service}}"),
        ]),
        _panel("Videos: segmented / fully indexed", "ops", [
            (f'sum(rate(shotline_segmenter_videos_total{{outcome="ok"}}[{RATE}]))', "segmented"),
            (f"sum(rate(shotline_indexer_videos_completed_total[{RATE}]))", "indexed"),
        ]),
        _panel("Segmenter speed (video seconds per wall second)", "x", [
            (f"sum(rate(shotline_segmenter_video_seconds_total[{RATE}])) / "
             f"sum(rate(shotline_segmenter_wall_seconds_total[{RATE}]))", "realtime factor"),
        ]),
    ]),
    ("Encoder", [
        _panel("Encoder batch size", "short", [
            (f"sum(rate(shotline_encoder_batch_images_sum[{RATE}])) / sum(rate(shotline_encoder_batch_images_count[{RATE}]))",
             "mean"),
            (f"histogram_quantile(0.95, sum by (le) (rate(shotline_encoder_batch_images_bucket[{RATE}])))", "p95"),
        ]),
        _panel("Encoder provider", "short", [
            ("max by (provider, model_id) (shotline_encoder_provider_info)", "{{provider}} {{model_id}}"),
        ], kind="table", description="ONNX Runtime execution provider each encoder runs on."),
        _panel("Encoder inference latency", "s", _quantiles(
            "shotline_encoder_inference_duration_seconds", "", "", "")),
        _panel("Images encoded", "ops", [
            (f"sum(rate(shotline_encoder_images_total[{RATE}]))", "images/s"),
            (f"sum(rate(shotline_encoder_shots_total[{RATE}]))", "shots/s"),
        ]),
    ]),
    ("Query API", [
        _panel("Query latency percentiles", "s", _quantiles(
            "shotline_grpc_request_duration_seconds", 'service="query"', "method", "{{method}} ")),
        _panel("Query requests by code", "reqps", [
            (f'sum by (method, code) (rate(shotline_grpc_requests_total{{service="query"}}[{RATE}]))',
             "{{method}} {{code}}"),
        ]),
        _panel("Query latency SLO: slow-request ratio (budget 1%)", "percentunit", [
            ("shotline:query_slow_ratio:rate5m", "5m"),
            ("shotline:query_slow_ratio:rate1h", "1h"),
            ("shotline:query_slow_ratio:rate6h", "6h"),
        ]),
    ]),
    ("Classifiers", [
        _panel("Deployed classifier versions", "none", [
            ("max by (label) (shotline_trainer_deployed_version)", "{{label}}"),
        ], kind="table"),
        _panel("Classifier AP (cross-validated)", "percentunit", [
            ("max by (label) (shotline_trainer_classifier_ap)", "{{label}}"),
        ]),
        _panel("Classifier drift (PSI; alert > 0.25)", "none", [
            ("max by (label) (shotline_trainer_drift_psi)", "{{label}}"),
        ]),
        _panel("Retrain duration p95", "s", [
            (f"histogram_quantile(0.95, sum by (le) (rate(shotline_trainer_retrain_duration_seconds_bucket[{RATE}])))",
             "retrain"),
        ]),
    ]),
]


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y, pid = 0, 1
    for row_title, row_panels in ROWS:
        panels.append({"type": "row", "title": row_title, "id": pid, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y = pid + 1, y + 1
        for i, p in enumerate(row_panels):
            panels.append({**p, "id": pid, "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": y + 8 * (i // 2)}})
            pid += 1
        y += 8 * ((len(row_panels) + 1) // 2)
    return {
        "uid": "shotline-overview",
        "title": "Shotline",
        "tags": ["shotline"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
        ]},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    DASHBOARD_FILE.write_text(render())
    print(f"wrote {DASHBOARD_FILE}")
