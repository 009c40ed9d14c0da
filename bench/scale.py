"""Scale-out on this machine: throughput per stage against replicas per stage.

Starts its own local stack (Kafka, milvus-lite, Redis and the services, on ports of its own), then
for 1, 2 and 3 replicas of each worker stage (segmenter, encoder, indexer; `stack up --replicas`
scales the running stack) ingests the same batch of real clips under fresh ids — three per
partition, so every replica has work — and times each stage from its output topic: upload → the
last video's final shots-segmented chunk (segmenter), its last shots-embedded (encoder), its
video-complete shots-indexed (indexer, end to end). The baseline is the 1-replica run of the same
bench; the ratio says how much the replicas bought.

This machine has 2 cores: a stage scales until its processes fill them (decoding and ONNX
inference are CPU-bound), and all stages share them, so past ~2 busy processes more replicas only
queue for the CPU. On Kubernetes each replica brings its own CPU request; see deploy/README.md.

Run: ``python -m bench.scale [--replicas 1,2,3] [--per-partition 3]``. Writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from rich.console import Console
from rich.table import Table

from scripts.fetch_fixtures import default_dest, fetch_all
from shotline.events import new_meta
from shotline.models.build_default import build_default_bundle
from shotline.stack import local
from shotline.stack.kafka import keys_on_every_partition
from shotline.v1 import events_pb2
from shotline.video import segment_video

RESULTS = Path(__file__).parent / "results" / "scale.json"
PORTS = {"kafka_port": 35092, "kafka_controller_port": 35093, "milvus_port": 35530, "redis_port": 35379,
         "query_port": 35051, "encoder_port": 35052, "console_port": 35080, "metrics_port_base": 35401}
PARTITIONS = 6
STAGES = ("segmenter", "encoder", "indexer")
CLIPS = ["bigbuckbunny.mp4", "cockatoo.mp4", "cityCC0.mpg", "bikes.mp4"]
OUTPUT = {"segmenter": "shots.segmented", "encoder": "shots.embedded", "indexer": "shots.indexed"}


def run_batch(kafka: str, fixtures: Path, vids: list[str], timeout: float = 900) -> dict[str, float]:
    """Seconds from the first upload to the last video's output on each stage's topic."""
    watch = KafkaConsumer(*(f"shotline.{t}" for t in OUTPUT.values()), bootstrap_servers=kafka,
                          auto_offset_reset="latest", enable_auto_commit=False, group_id=None, consumer_timeout_ms=100)
    watch.poll(timeout_ms=1000)  # positioned at the ends before the first upload
    producer = KafkaProducer(bootstrap_servers=kafka, acks="all")
    uploads = {}
    t0 = time.monotonic()
    for n, vid in enumerate(vids):
        ev = events_pb2.VideoUploaded(meta=new_meta(vid, "bench"), uri=str(fixtures / CLIPS[n % len(CLIPS)]),
                                      title=vid, upload_id=str(uuid.uuid4()))
        producer.send("shotline.videos.uploaded", key=vid.encode(), value=ev.SerializeToString())
        uploads[vid] = ev.upload_id
    producer.flush()
    producer.close()
    done: dict[str, dict[str, float]] = {s: {} for s in STAGES}
    classes = {"segmenter": events_pb2.ShotsSegmented, "encoder": events_pb2.ShotsEmbedded,
               "indexer": events_pb2.ShotsIndexed}
    shots = 0
    while len(done["indexer"]) < len(vids) and time.monotonic() - t0 < timeout:
        for rec in watch:
            stage = next(s for s, t in OUTPUT.items() if rec.topic.endswith(t))
            msg = classes[stage]()
            msg.ParseFromString(rec.value)
            vid = msg.meta.video_id
            if uploads.get(vid) != msg.upload_id:
                continue
            now = time.monotonic() - t0
            if stage == "segmenter" and msg.chunk_index + 1 == msg.chunk_count:
                done[stage][vid] = now
            elif stage == "encoder":
                done[stage][vid] = now  # the last embedded chunk of the video so far
                shots += len(msg.shots)
            elif stage == "indexer" and msg.video_complete:
                done[stage][vid] = now
    watch.close()
    if len(done["indexer"]) < len(vids):
        raise TimeoutError(f"{len(done['indexer'])} of {len(vids)} videos indexed after {timeout} s")
    return {s: max(done[s].values()) for s in STAGES} | {"shots": float(shots)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", default="1,2,3")
    ap.add_argument("--per-partition", type=int, default=3)
    args = ap.parse_args()
    levels = [int(x) for x in args.replicas.split(",")]
    fixtures = default_dest()
    if not all((fixtures / c).exists() for c in CLIPS):
        fetch_all(fixtures, large=False)
    build_default_bundle()
    video_seconds = {c: segment_video(fixtures / c).duration_ms / 1000 for c in CLIPS}
    run = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rows: list[dict[str, Any]] = []
    try:
        for k in levels:
            st = local.StackSettings(run_dir=run, partitions=PARTITIONS, replicas={s: k for s in STAGES if k > 1},
                                     **PORTS)
            ep = local.up(st)
            time.sleep(10)  # let the groups settle on their new members
            vids = keys_on_every_partition(f"r{k}", PARTITIONS, args.per_partition)
            t = run_batch(ep.kafka, fixtures, vids)
            seconds = sum(video_seconds[CLIPS[n % len(CLIPS)]] for n in range(len(vids)))
            rows.append({"replicas": k, "videos": len(vids), "video_seconds": round(seconds, 1),
                         "shots": int(t["shots"]), **{f"{s}_s": round(t[s], 2) for s in STAGES},
                         "videos_per_min": round(len(vids) / t["indexer"] * 60, 1),
                         "load_avg_1m": round(os.getloadavg()[0], 2)})
            print(rows[-1], flush=True)
    finally:
        local.down(local.StackSettings(run_dir=run, partitions=PARTITIONS, **PORTS))
        shutil.rmtree(run, ignore_errors=True)
    base = rows[0]
    for r in rows:
        r["ratio_end_to_end"] = round(base["indexer_s"] / r["indexer_s"], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": f"{os.cpu_count()} CPUs", "partitions": PARTITIONS, "rows": rows}, indent=1))
    table = Table(title=f"Scale-out on this machine ({os.cpu_count()} cores, {PARTITIONS} partitions per topic)")
    for c in ("replicas per stage", "videos (s of video)", "segmented by", "embedded by", "indexed by",
              "videos/min", "vs 1 replica", "load avg"):
        table.add_column(c)
    for r in rows:
        table.add_row(str(r["replicas"]), f"{r['videos']} ({r['video_seconds']:.0f} s)", f"{r['segmenter_s']:.1f} s",
                      f"{r['encoder_s']:.1f} s", f"{r['indexer_s']:.1f} s", f"{r['videos_per_min']:.0f}",
                      f"{r['ratio_end_to_end']:.2f}×", f"{r['load_avg_1m']:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
