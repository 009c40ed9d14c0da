"""`make demo`: ingest the sample videos through the running stack, then search them.

Expects `make up` to have started the stack (the Makefile does). Prints what happened at
each stage and where each service's /metrics lives.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import grpc
from kafka import KafkaConsumer
from rich.console import Console
from rich.table import Table

from shotline.settings import Settings
from shotline.stack.local import SERVICES, StackSettings
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc

console = Console()
SAMPLES = ["bikes.mp4", "cockatoo.mp4", "bigbuckbunny.mp4", "cityCC0.mpg", "montage_720p.mp4", "speech_montage.mp4"]
PROMPTS = ["a bicycle", "a cockatoo", "a city street", "a rabbit"]
SPOKEN = ['"yellow submarine"', "lighthouse tour"]  # said / shown in speech_montage (scripts/build_speech_fixtures.py)


def _upload_parts(video_id: str, path: Path):  # type: ignore[no-untyped-def]
    yield query_pb2.UploadVideoRequest(metadata=query_pb2.UploadVideoMetadata(
        video_id=video_id, title=video_id, catalog_id="samples", filename=path.name))
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield query_pb2.UploadVideoRequest(chunk=chunk)


def _mode(res: query_pb2.SearchResponse) -> str:
    return query_pb2.SearchMode.Name(res.mode).removeprefix("SEARCH_MODE_").lower() + (f": {res.note}" if res.note else "")


def _wait_transcribed(s: Settings, upload_id: str, t0: float) -> None:
    """Speech and on-screen text run beside the visual path: wait for the montage's transcript."""
    consumer = KafkaConsumer(s.topic("videos.transcribed"), bootstrap_servers=s.kafka_bootstrap_servers,
                             auto_offset_reset="earliest", group_id=None, consumer_timeout_ms=1000)
    seen = False
    while not seen and time.monotonic() - t0 < 300:
        for rec in consumer:
            ev = events_pb2.VideoTranscribed()
            ev.ParseFromString(rec.value)
            seen = seen or ev.upload_id == upload_id
    consumer.close()
    console.print(f"speech and on-screen text of speech_montage {'transcribed' if seen else '[red]not transcribed[/red]'}"
                  f" at {time.monotonic() - t0:.1f} s")


def main() -> int:
    s, st = Settings(), StackSettings()
    fixtures = st.cache_dir / "fixtures"
    uploads = {}
    stub = query_pb2_grpc.QueryServiceStub(grpc.insecure_channel(s.query_address))
    for name in SAMPLES:
        path = fixtures / name
        if not path.exists():
            console.print(f"[yellow]missing sample {path}; run make setup[/yellow]")
            continue
        vid = Path(name).stem
        # Bytes through UploadVideo (into the blob store), so the console can play every shot.
        uploads[vid] = stub.UploadVideo(_upload_parts(vid, path), timeout=300).upload_id
    console.print(f"uploaded {len(uploads)} videos: {', '.join(uploads)}")

    t0 = time.monotonic()
    consumer = KafkaConsumer(s.topic("shots.indexed"), bootstrap_servers=s.kafka_bootstrap_servers,
                             auto_offset_reset="earliest", group_id=None, consumer_timeout_ms=1000)
    done: dict[str, int] = {}
    while set(done) < set(uploads) and time.monotonic() - t0 < 300:
        for rec in consumer:
            ev = events_pb2.ShotsIndexed()
            ev.ParseFromString(rec.value)
            if ev.video_complete and uploads.get(ev.meta.video_id) == ev.upload_id:
                done[ev.meta.video_id] = ev.total_shots
    consumer.close()
    if set(done) < set(uploads):
        console.print(f"[red]not indexed after 300 s: {set(uploads) - set(done)}[/red]")
        return 1
    console.print(f"indexed in {time.monotonic() - t0:.1f} s: " + ", ".join(f"{v} ({n} shots)" for v, n in done.items()))
    if "speech_montage" in uploads:
        _wait_transcribed(s, uploads["speech_montage"], t0)

    for prompt in PROMPTS:
        res = stub.SearchText(query_pb2.SearchTextRequest(query=prompt, top_k=3), timeout=30)
        table = Table("shot", "start", "end", "score", title=f"SearchText {prompt!r}")
        for h in res.hits:
            table.add_row(h.shot.shot_id, f"{h.shot.start_ms / 1000:.2f}s", f"{h.shot.end_ms / 1000:.2f}s",
                          f"{h.score:.3f}")
        console.print(table)
    for q in SPOKEN if "speech_montage" in uploads else []:
        res = stub.SearchText(query_pb2.SearchTextRequest(query=q, top_k=3), timeout=30)
        table = Table("shot", "start", "end", "matched", "said / shown", title=f"SearchText {q!r} ({_mode(res)})")
        for h in res.hits:
            table.add_row(h.shot.shot_id, f"{h.shot.start_ms / 1000:.2f}s", f"{h.shot.end_ms / 1000:.2f}s",
                          ",".join(h.signals), " | ".join(x for x in (h.transcript, h.on_screen_text) if x))
        console.print(table)
    res = stub.SearchSimilar(query_pb2.SearchSimilarRequest(shot_id="bikes/2", top_k=3), timeout=30)
    console.print("SearchSimilar bikes/2 → " + ", ".join(f"{h.shot.shot_id} ({h.score:.2f})" for h in res.hits))
    try:
        cats = stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id="bikes"), timeout=10)
        console.print("GetVideoCategories bikes → " + (", ".join(
            f"{c.name} ({c.score:.2f}, {c.source})" for c in cats.categories) or "no category above threshold"))
    except grpc.RpcError as e:
        console.print(f"GetVideoCategories bikes → {e.code().name}: {e.details()}")
    console.print("\nmetrics endpoints:")
    for svc in SERVICES:
        console.print(f"  {svc:<10} http://127.0.0.1:{st.metrics_port(svc)}/metrics")
    console.print(f"\n[bold]annotator console:[/bold] http://127.0.0.1:{st.console_port}/  "
                  "(search, label with j/k/y/n/c, watch versions deploy, review, roll back)")
    console.print("\nstop the stack with: make down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
