"""`shotline` — the human CLI (typer): the local stack, uploads, events, and offline tools."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from shotline import logs, topics
from shotline.settings import Settings

app = typer.Typer(help="Shotline: streaming video understanding.", no_args_is_help=True)
stack_app = typer.Typer(help="Start, stop and inspect the local stack.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
console = Console()

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg", ".m4v", ".ts"}


@stack_app.command("up")
def stack_up(infra_only: bool = typer.Option(False, "--infra-only", help="Kafka, Milvus, Redis only")) -> None:
    """Start Kafka, Milvus, Redis and the services (idempotent); returns when all are healthy."""
    from shotline.stack import local

    logs.configure("INFO")
    st = local.StackSettings()
    ep = local.up(st, with_services=not infra_only)
    console.print(f"[green]stack up[/green]  kafka={ep.kafka}  milvus={ep.milvus}  redis={ep.redis}")
    if not infra_only:
        for svc in local.SERVICES:
            console.print(f"  {svc:<10} http://127.0.0.1:{st.metrics_port(svc)}/metrics")


@stack_app.command("down")
def stack_down() -> None:
    """Stop every process of the local stack and wait until they are gone."""
    from shotline.stack import local

    logs.configure("INFO")
    stopped = local.down()
    console.print("stack stopped" if stopped else "stack was not running")


@stack_app.command("status")
def stack_status() -> None:
    from shotline.stack import local

    console.print(local.status())


def _producer(settings: Settings):  # type: ignore[no-untyped-def]
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")


@app.command()
def upload(
    paths: list[Path] = typer.Argument(..., help="Video files or directories (searched recursively)"),
    catalog: str = typer.Option("", help="Catalog / show id"),
    title: str = typer.Option("", help="Title (single file only)"),
    description: str = typer.Option(""),
    language: str = typer.Option(""),
    video_id: str = typer.Option("", help="Video id (single file only; default: the file's stem)"),
) -> None:
    """Publish video-uploaded events for files (the segmenter picks them up)."""
    from shotline.events import new_meta, validate_video_id
    from shotline.v1 import events_pb2

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in VIDEO_SUFFIXES))
        else:
            files.append(p)
    if not files:
        raise typer.BadParameter("no video files found")
    settings = Settings()
    producer = _producer(settings)
    table = Table("video id", "uri", "event id")
    for f in files:
        vid = validate_video_id(video_id or f.stem) if len(files) == 1 or not video_id else f.stem
        meta = new_meta(vid, "cli")
        ev = events_pb2.VideoUploaded(
            meta=meta, uri=str(f.resolve()), catalog_id=catalog, title=title or f.stem,
            description=description, language=language, upload_id=str(uuid.uuid4()),
        )
        producer.send(settings.topic(topics.VIDEOS_UPLOADED), key=vid.encode(), value=ev.SerializeToString())
        table.add_row(vid, str(f.resolve()), meta.event_id)
    producer.flush(timeout=30)
    producer.close()
    console.print(table)


@app.command()
def tail(
    topic: str = typer.Argument("shots.segmented", help=f"Topic suffix: {', '.join(topics.ALL)}"),
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    limit: int = typer.Option(0, help="Stop after N events (0 = follow)"),
) -> None:
    """Print events of a topic as JSON lines."""
    from google.protobuf.json_format import MessageToDict
    from kafka import KafkaConsumer

    from shotline.eventtypes import message_for_topic

    settings = Settings()
    cls = message_for_topic(topic)
    consumer = KafkaConsumer(
        settings.topic(topic), bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest" if from_beginning else "latest", enable_auto_commit=False,
        group_id=None, consumer_timeout_ms=(10_000 if limit else float("inf")),
    )
    seen = 0
    for rec in consumer:
        msg = cls()
        try:
            msg.ParseFromString(rec.value)
            out = MessageToDict(msg, preserving_proto_field_name=True)
        except Exception as e:  # noqa: BLE001 - show, don't die, on a bad record
            out = {"unparseable": str(e), "bytes": len(rec.value or b"")}
        sys.stdout.write(json.dumps({"partition": rec.partition, "offset": rec.offset, "event": out}) + "\n")
        sys.stdout.flush()
        seen += 1
        if limit and seen >= limit:
            break
    consumer.close()


def main() -> None:  # pragma: no cover
    app()


# Verbs contributed by other modules (segment, rank, models, search, …) register here.
from shotline import cli_tools  # noqa: E402,F401  (registers commands on `app`)
from shotline import cli_query  # noqa: E402,F401
