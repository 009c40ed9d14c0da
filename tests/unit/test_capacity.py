"""The capacity model runs on measured unit costs only: each input it reads is in
bench/results/unit_costs.json with the bench that measures it, and its answers scale as they must."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from deploy import capacity

ROOT = Path(__file__).resolve().parents[2]


def test_every_measured_input_names_its_bench_and_date() -> None:
    figures = json.loads((ROOT / "bench" / "results" / "unit_costs.json").read_text())["figures"]
    used = set(re.findall(r'm\["([a-z0-9_]+)"\]', (ROOT / "deploy" / "capacity.py").read_text()))
    used |= set(re.findall(r'costs\["([a-z0-9_]+)"\]', (ROOT / "deploy" / "capacity.py").read_text()))
    assert used and used <= set(figures), sorted(used - set(figures))
    for name in used:
        f = figures[name]
        assert f["value"] > 0 and f["unit"] and f["figure"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", f["measured"]), name
        assert importlib.util.find_spec(f"bench.{f['bench']}") is not None, f"{name}: no bench.{f['bench']}"
    for name, (value, unit, why) in capacity.ASSUMPTIONS.items():
        assert value > 0 and unit and why, name  # every assumption says what it is and why


def test_the_model_runs_and_scales_with_the_upload_rate() -> None:
    one, two = capacity.report(500), capacity.report(1000)
    assert 0 < one["uploads"]["cores"] < two["uploads"]["cores"] <= 2.01 * one["uploads"]["cores"]
    for stage in one["uploads"]["stages"] + one["backfill"]["stages"]:
        assert stage["pods"] >= 1 and stage["cores"] > 0
        if stage["partitions"] is not None:  # a consumer group needs a partition per member
            assert stage["partitions"] >= stage["pods"]
    # a week's backfill of 10 M hours runs at ~1.98x the upload rate of 500 h/min, without the peak factor
    ratio = one["backfill"]["video_seconds_per_second"] / one["uploads"]["video_seconds_per_second"]
    assert abs(ratio - (10_000_000 / (7 * 24)) / (500 * 60)) < 1e-9
    assert 0 < one["uploads"]["usd_per_video_hour"] < 1 and one["milvus"]["ingest_servers"] >= 1


def test_prod_overlay_sizes_are_the_models_and_current() -> None:
    assert capacity.PROD_PATCH.read_text() == capacity.render_prod_patch(), "run `python -m deploy.capacity --write-prod`"


def test_prod_overlay_holds_what_the_model_asks_for() -> None:
    """Read back from the rendered prod overlay (not from the model's objects)."""
    from deploy import validate

    objs = validate.render("prod")
    by = lambda kind: {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}  # noqa: E731
    topics_ = {t["spec"]["topicName"]: t["spec"] for t in by("KafkaTopic").values()}
    scaled = by("ScaledObject")
    # the stage with the most work (decoding) has the most consumers and partitions
    most = max(scaled.values(), key=lambda so: so["spec"]["maxReplicaCount"])
    assert most["metadata"]["name"] == "shotline-segmenter"
    assert topics_["shotline.videos.uploaded"]["partitions"] >= most["spec"]["maxReplicaCount"] > 1000
    replicas = sum(t["partitions"] * t["replicas"] for t in topics_.values())
    brokers = by("KafkaNodePool")["dual-role"]["spec"]["replicas"]
    assert brokers >= 3 and replicas / brokers <= 4000  # a broker's load stays in the usual range
    assert by("Milvus")["shotline"]["spec"]["components"]["queryNode"]["replicas"] >= 2
    assert by("Deployment")["shotline-query"]["spec"]["replicas"] >= 2
