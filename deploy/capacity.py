"""Capacity model: what it takes to keep up with a platform's uploads and to backfill a catalog.

Every input is either a **measured** unit cost (``bench/results/unit_costs.json``: the bench and
figure it comes from, the date and the machine) or a labelled **assumption** (``ASSUMPTIONS``
below, each with why). Nothing else goes in. The arithmetic, per stage:

    work per second  = upload rate × the stage's work per second of video (frames, keyframes, …)
    cores            = work / (measured rate per core) × peak/mean ÷ target utilisation
    pods             = cores / the pod's CPU limit in deploy/k8s/base, rounded up
    partitions       ≥ the most pods of the consuming group (one consumer per partition at most)

``--write-prod`` writes the prod overlay's sizes from it (``Scaling``: KEDA bounds, partitions,
brokers, Milvus query nodes, query replicas); a test fails when the committed file differs.

CPU only: no GPU was lent to measure the encoder or Whisper on one, so GPU counts are not
modelled (a GPU's images/s must be measured first: ``make bench ONLY=encoder`` on a GPU node).

Run: ``python -m deploy.capacity [--hours-per-minute 500] [--backfill-hours 10000000] [--json]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shotline import topics

UNIT_COSTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "unit_costs.json"
BASE = Path(__file__).parent / "k8s" / "base"
PROD_PATCH = Path(__file__).parent / "k8s" / "overlays" / "prod" / "capacity.yaml"

# Labelled assumptions: (value, unit, why). Change them here; the README quotes this table.
ASSUMPTIONS: dict[str, tuple[float, str, str]] = {
    "upload_hours_per_minute": (500, "h of video per minute", "YouTube's public figure (issue 18)"),
    "backfill_hours": (10_000_000, "h of video", "a catalog backfill an ad platform asks for (issue 18)"),
    "backfill_days": (7, "days", "the backfill's deadline"),
    "fps": (30, "frames/s", "typical upload frame rate"),
    "share_1080p": (0.5, "of uploads", "the rest assumed 720p (larger uploads are downscaled first)"),
    "shots_per_minute": (12, "shots per minute of video", "one cut every ~5 s: user video and TV average"),
    "keyframes_per_shot": (3, "keyframes", "SHOTLINE_KEYFRAMES_PER_SHOT default"),
    "share_with_speech": (0.6, "of video time", "speech present (the VAD skips the rest)"),
    "share_keyframes_ocr": (0.5, "of keyframes", "passed by the text prefilter (0.47 on the speech fixtures)"),
    "peak_to_mean": (2.0, "×", "daily upload peak over the mean"),
    "target_utilisation": (0.7, "of a core", "headroom so lag drains after a burst"),
    "mean_video_minutes": (5, "minutes", "average upload length (videos per second for the scorer)"),
    "partition_headroom": (1.5, "×", "partitions over the most pods KEDA may run (peak uploads + a backfill): "
                                     "partitions can be added later but never removed, and adding them moves keys"),
    "partition_replicas_per_broker": (4000, "partition replicas", "a Kafka broker's comfortable load (the usual "
                                                                  "guidance for KRaft clusters)"),
    "bytes_per_shot": (1664 * 4 * 1.5 + 512, "bytes", "joint 384 + visual 1280 float32, ×1.5 HNSW graph, + scalars"),
    "retention_days": (365, "days", "vectors kept this long"),
    "replication_factor": (3, "copies", "each partition's replicas (the prod overlay's topics)"),
    "search_qps": (2000, "searches/s", "text and similar searches across all users at peak"),
    "category_reads_per_second": (50_000, "GetVideoCategories/s", "ad requests at peak"),
    "usd_per_vcpu_hour": (0.045, "USD", "on-demand x86 compute at a public cloud's list price (c7i-class, "
                                        "us-east-1, 2026); check the current price before quoting"),
}


@dataclass(frozen=True)
class Stage:
    name: str
    cores: float
    pods: int
    partitions: int | None  # consumed topic's partitions (None: not a Kafka consumer)
    basis: str


def load_unit_costs(path: Path = UNIT_COSTS) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text())["figures"]


def _a(name: str) -> float:
    return ASSUMPTIONS[name][0]


@functools.cache
def pod_cores(deployment: str) -> float:
    """The CPU limit of a Deployment's container in the base manifests: a pod's size is what the
    manifests give it (one worker process per pod, whose GIL caps what a bigger pod could use)."""
    doc = next(d for d in yaml.safe_load_all((BASE / f"{deployment}.yaml").read_text())
               if d and d.get("kind") == "Deployment")
    cpu = str(doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def _stage(name: str, busy_cores: float, basis: str, consumer: bool = True, peak: bool = True) -> Stage:
    """``busy_cores``: cores kept busy at the mean rate (work per second ÷ measured rate per core)."""
    cores = busy_cores * (_a("peak_to_mean") if peak else 1.0) / _a("target_utilisation")
    pods = max(1, math.ceil(cores / pod_cores(name.split(" ")[0])))
    parts = max(6, math.ceil(pods * _a("partition_headroom"))) if consumer else None
    return Stage(name, cores, pods, parts, basis)


def model(video_seconds_per_second: float, costs: dict[str, dict[str, Any]], peak: bool = True) -> list[Stage]:
    """The stages' cores, pods and partitions to process ``video_seconds_per_second`` of video."""
    v = video_seconds_per_second
    m = {k: float(f["value"]) for k, f in costs.items()}
    # segmenter: frames decoded per second of video, at the measured per-core frame rate of each size
    seg_core_720 = m["segmenter_720p_medium_frames_per_second"] / 2  # the general x264 case, not veryfast
    seg_core_1080 = m["segmenter_1080p_frames_per_second"] / 2
    frames = v * _a("fps")
    seg_cores_per_frame = (1 - _a("share_1080p")) / seg_core_720 + _a("share_1080p") / seg_core_1080
    shots = v * _a("shots_per_minute") / 60
    keyframes = shots * _a("keyframes_per_shot")
    speech = v * _a("share_with_speech") * m["asr_real_time_factor"] * 2  # the RTF was measured on 2 cores
    ocr = keyframes * _a("share_keyframes_ocr") / m["ocr_keyframes_per_second"]
    return [
        _stage("segmenter", frames * seg_cores_per_frame,
               "frames/s ÷ measured frames/s per core (720p x264 medium, 1080p)", peak=peak),
        _stage("encoder", keyframes / (m["encoder_images_per_second"] / 2), "keyframes/s ÷ measured images/s per core",
               peak=peak),
        _stage("indexer", shots / (m["indexer_rows_per_second"] / 2), "shots/s ÷ measured Milvus rows/s per core",
               peak=peak),
        _stage("transcriber", speech + ocr, f"speech-s/s × measured real-time factor ({speech:,.0f} cores) + "
                                            f"prefiltered keyframes/s ÷ measured OCR keyframes/s ({ocr:,.0f})", peak=peak),
        _stage("scorer", v / (60 * _a("mean_video_minutes")) / (m["categories_videos_per_second"] / 2),
               "videos/s ÷ measured videos/s per core", peak=peak),
    ]


def serving(costs: dict[str, dict[str, Any]]) -> list[Stage]:
    """The read side: the query API's replicas for searches and for ad-serving category reads."""
    m = {k: float(f["value"]) for k, f in costs.items()}
    return [
        _stage("query (search)", _a("search_qps") / (m["search_queries_per_second"] / 2),
               "searches/s ÷ measured SearchText/s per core", consumer=False, peak=False),
        _stage("query (categories)", _a("category_reads_per_second") / (m["categories_query_per_second"] / 2),
               "reads/s ÷ measured GetVideoCategories/s per core", consumer=False, peak=False),
    ]


WORKERS = ("segmenter", "encoder", "transcriber", "indexer", "scorer")  # Kafka consumers KEDA scales on lag
TOPIC_PREFIX = "shotline"  # the manifests' SHOTLINE_TOPIC_PREFIX
BASE_PARTITIONS = 6        # deploy/k8s/infra/topics.yaml (python -m deploy.topics), dead-letter topics 1


@dataclass(frozen=True)
class Scaling:
    """The prod overlay's numbers, all from the model (``deploy/k8s/overlays/prod/capacity.yaml``)."""

    min_pods: dict[str, int]    # KEDA minReplicaCount: the pods the mean upload rate needs
    max_pods: dict[str, int]    # KEDA maxReplicaCount: peak uploads and a full-speed backfill at once
    partitions: dict[str, int]  # consumed topic -> partitions (its .retry twin too): ≥ max pods × headroom
    query_replicas: int         # searches and category reads at peak
    milvus_query_nodes: int     # search QPS at peak ÷ one node's measured QPS at recall ≥ 0.95
    partition_replicas: int     # every topic with its .retry and .dlq twins, × the replication factor
    kafka_brokers: int          # partition replicas ÷ a broker's comfortable load


def rates(hours_per_minute: float | None = None, backfill_hours: float | None = None) -> tuple[float, float]:
    """Seconds of video per second of wall time: (uploads, backfill); the assumptions by default."""
    upload_vs = (hours_per_minute or _a("upload_hours_per_minute")) * 3600 / 60
    backfill_vs = (backfill_hours or _a("backfill_hours")) * 3600 / (_a("backfill_days") * 86400)
    return upload_vs, backfill_vs


def scaling(costs: dict[str, dict[str, Any]], upload_vs: float, backfill_vs: float) -> Scaling:
    mean = {s.name: s.pods for s in model(upload_vs, costs, peak=False)}
    peak = {s.name: s.pods for s in model(upload_vs, costs)}
    back = {s.name: s.pods for s in model(backfill_vs, costs, peak=False)}
    most = {w: peak[w] + back[w] for w in WORKERS}
    partitions: dict[str, int] = {}
    for group, subs in topics.SUBSCRIPTIONS.items():
        if group in most:  # the trainer is one active replica (a lease): its topics keep the base count
            for t in subs:
                partitions[t] = max(partitions.get(t, BASE_PARTITIONS), math.ceil(most[group] * _a("partition_headroom")))
    replicas = 0
    for t in topics.ALL:
        p = partitions.get(t, BASE_PARTITIONS)
        replicas += p + (p + 1 if t in topics.CONSUMED else 0)  # the topic, its .retry and .dlq twins
    replicas *= int(_a("replication_factor"))
    return Scaling(
        min_pods={w: mean[w] for w in WORKERS}, max_pods=most, partitions=partitions,
        query_replicas=sum(s.pods for s in serving(costs)),
        milvus_query_nodes=math.ceil(_a("search_qps") / float(costs["milvus_search_qps"]["value"])
                                     / _a("target_utilisation")),
        partition_replicas=replicas,
        kafka_brokers=max(3, math.ceil(replicas / _a("partition_replicas_per_broker"))),
    )


PATCH_HEADER = """\
# GENERATED by `python -m deploy.capacity --write-prod` from the capacity model (deploy/capacity.py:
# measured unit costs in bench/results/unit_costs.json + its labelled assumptions): do not edit by hand.
# Sized for {hpm:,.0f} h of video per minute at peak plus a {bf:,.0f} h backfill in {days:.0f} days at once.
# KEDA: min = the pods the mean upload rate needs, max = peak uploads + backfill; every consumed
# topic (and its .retry twin) has >= {headroom}x the most consumers of its group; Kafka brokers
# from the partition replicas ({per_broker:,.0f} per broker); Milvus query nodes from the measured
# search QPS of one node at recall >= 0.95; query replicas from the measured reads per core.
"""


def render_prod_patch() -> str:
    sc = scaling(load_unit_costs(), *rates())
    docs: list[dict[str, Any]] = []
    for t, p in sorted(sc.partitions.items()):
        for name in (f"{TOPIC_PREFIX}.{t}", topics.retry(f"{TOPIC_PREFIX}.{t}")):
            docs.append({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
                         "metadata": {"name": name}, "spec": {"partitions": p}})
    for w in WORKERS:
        docs.append({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": f"shotline-{w}"},
                     "spec": {"minReplicaCount": sc.min_pods[w], "maxReplicaCount": sc.max_pods[w]}})
    docs.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shotline-query"},
                 "spec": {"replicas": sc.query_replicas}})
    docs.append({"apiVersion": "milvus.io/v1beta1", "kind": "Milvus", "metadata": {"name": "shotline"},
                 "spec": {"components": {"queryNode": {"replicas": sc.milvus_query_nodes}}}})
    docs.append({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaNodePool", "metadata": {"name": "dual-role"},
                 "spec": {"replicas": sc.kafka_brokers}})
    head = PATCH_HEADER.format(hpm=_a("upload_hours_per_minute"), bf=_a("backfill_hours"), days=_a("backfill_days"),
                               headroom=_a("partition_headroom"), per_broker=_a("partition_replicas_per_broker"))
    return head + "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in docs)


def report(hours_per_minute: float | None = None, backfill_hours: float | None = None) -> dict[str, Any]:
    costs = load_unit_costs()
    hpm = hours_per_minute or _a("upload_hours_per_minute")
    bf = backfill_hours or _a("backfill_hours")
    upload_vs, backfill_vs = rates(hpm, bf)
    live, back, read = model(upload_vs, costs), model(backfill_vs, costs, peak=False), serving(costs)
    usd = _a("usd_per_vcpu_hour")
    live_cores = sum(s.cores for s in live) + sum(s.cores for s in read)
    back_cores = sum(s.cores for s in back)
    video_hours_per_hour = upload_vs  # seconds per second = hours per hour
    sc = scaling(costs, upload_vs, backfill_vs)
    shots_per_year = upload_vs * _a("shots_per_minute") / 60 * 86400 * _a("retention_days")
    return {
        "inputs": {"measured": costs, "assumptions": {k: {"value": v, "unit": u, "why": w} for k, (v, u, w) in ASSUMPTIONS.items()}},
        "uploads": {"hours_per_minute": hpm, "video_seconds_per_second": upload_vs,
                    "stages": [s.__dict__ for s in live + read], "cores": live_cores,
                    "usd_per_hour": live_cores * usd, "usd_per_video_hour": live_cores * usd / video_hours_per_hour},
        "backfill": {"hours": bf, "days": _a("backfill_days"), "video_seconds_per_second": backfill_vs,
                     "stages": [s.__dict__ for s in back], "cores": back_cores,
                     "usd_total": back_cores * usd * _a("backfill_days") * 24,
                     "usd_per_video_hour": back_cores * usd * _a("backfill_days") * 24 / bf},
        "storage": {"shots_per_year": shots_per_year, "vector_bytes": shots_per_year * _a("bytes_per_shot")},
        # Milvus ingest: measured rows/s of one 2.3.5 standalone server; query nodes: search QPS
        # at peak ÷ one node's measured QPS at recall >= 0.95 (for QPS, not for memory: see README).
        "milvus": {"ingest_servers": math.ceil(upload_vs * _a("shots_per_minute") / 60 * _a("peak_to_mean")
                                               / float(costs["indexer_rows_per_second"]["value"])),
                   "query_nodes": sc.milvus_query_nodes},
        "kafka": {"brokers": sc.kafka_brokers, "partition_replicas": sc.partition_replicas,
                  "partitions": sc.partitions, "keda_min": sc.min_pods, "keda_max": sc.max_pods},
    }


def _print(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    for key, title in (("uploads", f"Keeping up with {r['uploads']['hours_per_minute']:,.0f} h of video per minute"),
                       ("backfill", f"Backfilling {r['backfill']['hours']:,.0f} h in {r['backfill']['days']:.0f} days")):
        t = Table("stage", "cores", "pods", "partitions", "basis", title=title)
        for s in r[key]["stages"]:
            t.add_row(s["name"], f"{s['cores']:,.0f}", f"{s['pods']:,}", f"{s['partitions'] or '–':,}" if s["partitions"] else "–",
                      s["basis"])
        con.print(t)
    u, b = r["uploads"], r["backfill"]
    con.print(f"uploads: {u['cores']:,.0f} cores, ${u['usd_per_hour']:,.0f}/h, ${u['usd_per_video_hour']:.4f} per hour of video")
    con.print(f"backfill: {b['cores']:,.0f} cores for {b['days']:.0f} days, ${b['usd_total']:,.0f}, "
              f"${b['usd_per_video_hour']:.4f} per hour of video")
    con.print(f"vectors: {r['storage']['shots_per_year']:,.0f} shots a year, {r['storage']['vector_bytes'] / 1e12:,.1f} TB; "
              f"Milvus ingest at peak: {r['milvus']['ingest_servers']} servers' worth of measured rows/s, "
              f"{r['milvus']['query_nodes']} query nodes for the searches")
    k = r["kafka"]
    con.print(f"prod overlay (peak uploads + backfill at once): Kafka {k['brokers']} brokers for "
              f"{k['partition_replicas']:,} partition replicas; partitions {k['partitions']}; "
              f"KEDA min {k['keda_min']} max {k['keda_max']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours-per-minute", type=float)
    ap.add_argument("--backfill-hours", type=float)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-prod", action="store_true", help=f"write {PROD_PATCH.name}, the prod overlay's sizes")
    args = ap.parse_args()
    if args.write_prod:
        PROD_PATCH.write_text(render_prod_patch())
        print(f"wrote {PROD_PATCH}")
        return
    r = report(args.hours_per_minute, args.backfill_hours)
    print(json.dumps(r, indent=1, default=float)) if args.json else _print(r)


if __name__ == "__main__":
    main()
