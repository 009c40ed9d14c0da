"""Capacity model: what it takes to keep up with a platform's uploads and to backfill a catalog.

Every input is either a **measured** unit cost (``bench/results/unit_costs.json``: the bench and
figure it comes from, the date and the machine) or a labelled **assumption** (``ASSUMPTIONS``
below, each with why). Nothing else goes in. The arithmetic, per stage:

    work per second  = upload rate × the stage's work per second of video (frames, keyframes, …)
    cores            = work / (measured rate per core) × peak/mean ÷ target utilisation
    pods             = cores / cores per pod, rounded up; Kafka partitions ≥ the stage's pods
                       (one consumer per partition at most), with headroom for scaling out

CPU only: no GPU was lent to measure the encoder or Whisper on one, so GPU counts are not
modelled (a GPU's images/s must be measured first: ``make bench ONLY=encoder`` on a GPU node).

Run: ``python -m deploy.capacity [--hours-per-minute 500] [--backfill-hours 10000000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNIT_COSTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "unit_costs.json"

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
    "cores_per_pod": (2, "cores", "the manifests' CPU limit for light pods (indexer, scorer, query)"),
    "cores_per_heavy_pod": (16, "cores", "segmenter, encoder and transcriber pods at this scale (one node each, "
                                         "SHOTLINE_DECODE_WORKERS / worker concurrency = cores), so partitions "
                                         "per topic stay in Kafka's practical range (low thousands)"),
    "partition_headroom": (2.0, "×", "partitions over peak pods, so the stage can scale out further"),
    "bytes_per_shot": (1664 * 4 * 1.5 + 512, "bytes", "joint 384 + visual 1280 float32, ×1.5 HNSW graph, + scalars"),
    "retention_days": (365, "days", "vectors kept this long"),
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


HEAVY = ("segmenter", "encoder", "transcriber")


def _stage(name: str, busy_cores: float, basis: str, consumer: bool = True, peak: bool = True) -> Stage:
    """``busy_cores``: cores kept busy at the mean rate (work per second ÷ measured rate per core)."""
    cores = busy_cores * (_a("peak_to_mean") if peak else 1.0) / _a("target_utilisation")
    pod = _a("cores_per_heavy_pod") if name in HEAVY else _a("cores_per_pod")
    pods = max(1, math.ceil(cores / pod))
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


def report(hours_per_minute: float | None = None, backfill_hours: float | None = None) -> dict[str, Any]:
    costs = load_unit_costs()
    hpm = hours_per_minute or _a("upload_hours_per_minute")
    bf = backfill_hours or _a("backfill_hours")
    upload_vs = hpm * 3600 / 60  # seconds of video per second of wall time
    backfill_vs = bf * 3600 / (_a("backfill_days") * 86400)
    live, back, read = model(upload_vs, costs), model(backfill_vs, costs, peak=False), serving(costs)
    usd = _a("usd_per_vcpu_hour")
    live_cores = sum(s.cores for s in live) + sum(s.cores for s in read)
    back_cores = sum(s.cores for s in back)
    video_hours_per_hour = upload_vs  # seconds per second = hours per hour
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
        # Milvus ingest: measured rows/s of one 2.3.5 standalone server; query nodes are not modelled
        # (bench.index_server measures latency and recall at 1M, not QPS per node at recall >= 0.95).
        "milvus": {"ingest_servers": math.ceil(upload_vs * _a("shots_per_minute") / 60 * _a("peak_to_mean")
                                               / float(costs["indexer_rows_per_second"]["value"]))},
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
              f"Milvus ingest at peak: {r['milvus']['ingest_servers']} servers' worth of measured rows/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours-per-minute", type=float)
    ap.add_argument("--backfill-hours", type=float)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = report(args.hours_per_minute, args.backfill_hours)
    print(json.dumps(r, indent=1, default=float)) if args.json else _print(r)


if __name__ == "__main__":
    main()
