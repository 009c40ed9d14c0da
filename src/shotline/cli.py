"""`shotline` — the human CLI (typer): the local stack, uploads, events, and offline tools."""

from __future__ import annotations

import json
import os
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
err_console = Console(stderr=True)

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg", ".m4v", ".ts"}


@app.callback()
def _setup(log_level: str = typer.Option(
        os.environ.get("SHOTLINE_LOG_LEVEL", "WARNING"), "--log-level", help="Logs go to stderr")) -> None:
    logs.configure(log_level)


@stack_app.command("up")
def stack_up(infra_only: bool = typer.Option(False, "--infra-only", help="Kafka, Milvus, Redis only"),
             replicas: str = typer.Option("", "--replicas", help="processes per worker stage, e.g. "
                                          "segmenter=3,encoder=2,indexer=2 (a running stack is scaled)")) -> None:
    """Start Kafka, Milvus, Redis and the services (idempotent); returns when all are healthy."""
    from pydantic import ValidationError

    from shotline.stack import local

    logs.configure("INFO")
    try:
        st = local.StackSettings(**({"replicas": local.parse_replicas(replicas)} if replicas else {}))
    except (ValueError, ValidationError) as e:
        err_console.print(f"[red]--replicas:[/red] {e}")
        raise typer.Exit(2) from e
    ep = local.up(st, with_services=not infra_only)
    console.print(f"[green]stack up[/green]  kafka={ep.kafka}  milvus={ep.milvus}  redis={ep.redis}")
    if not infra_only:
        for name, svc, r in st.programs():
            console.print(f"  {name:<13} http://127.0.0.1:{st.metrics_port(svc, r)}/metrics")


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
    from kafka.errors import KafkaError

    try:
        return KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    except KafkaError as e:
        err_console.print(f"[red]cannot reach Kafka at {settings.kafka_bootstrap_servers}:[/red] {e!r}")
        raise typer.Exit(1) from e


def _reference_roots(settings: Settings) -> list[Path]:
    """Where a segmenter may read local files: SHOTLINE_ALLOWED_ROOTS, else the local stack's
    default (the working tree, the fixtures). The run dir is never one (its Redis AOF and Milvus
    db must not reach a decoder): the segmenter refuses it, so the CLI says so first."""
    if settings.allowed_roots:
        return list(settings.allowed_roots)
    return [Path.cwd(), settings.cache_dir / "fixtures"]


def _expand(paths: list[Path]) -> list[tuple[Path, str]]:
    """(file, error) per input; directories are searched recursively for video files."""
    out: list[tuple[Path, str]] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
            out.extend((f, "") for f in found) if found else out.append((p, "no video files in this directory"))
        elif not p.exists():
            out.append((p, "no such file"))
        else:
            out.append((p, ""))
    return out


@app.command()
def upload(
    paths: list[Path] = typer.Argument(..., help="Video files or directories (searched recursively)"),
    catalog: str = typer.Option("", help="Catalog / show id"),
    title: str = typer.Option("", help="Title (single file only; default: the file's stem)"),
    description: str = typer.Option(""),
    language: str = typer.Option(""),
    video_id: str = typer.Option("", help="Video id (single file only; default: the file's stem)"),
    by_reference: bool = typer.Option(
        False, "--by-reference",
        help="Publish the local path instead of the bytes (operators: the path must lie under the "
             "segmenter's allowed roots)"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file on stdout"),
) -> None:
    """Upload videos: store each file's bytes in the blob store and publish a videos.uploaded
    event with its blob:// URI (the segmenter picks it up). Exit 1 if any file failed."""
    from shotline.blobstore import blob_uri, open_blob_store, upload_key
    from shotline.errors import ShotlineError
    from shotline.events import new_meta, validate_video_id
    from shotline.v1 import events_pb2
    from shotline.video.sources import is_allowed

    items = _expand(paths)
    if (video_id or title) and len(items) > 1:
        raise typer.BadParameter("--video-id and --title need exactly one file")
    settings = Settings()
    roots = _reference_roots(settings)
    pending = any(not error for _, error in items)  # nothing to send: no Kafka needed to say so
    blobs = None if by_reference or not pending else open_blob_store(settings)
    producer = _producer(settings) if pending else None
    topic = settings.topic(topics.VIDEOS_UPLOADED)
    results: list[dict[str, object]] = []
    for f, error in items:
        row: dict[str, object] = {"file": str(f), "video_id": "", "upload_id": "", "mode": "", "uri": "",
                                  "bytes": 0, "event_id": "", "error": error}
        results.append(row)
        if error:
            continue
        try:
            vid = validate_video_id(video_id or f.stem)
            upload_id = str(uuid.uuid4())
            row.update(video_id=vid, upload_id=upload_id)
            with f.open("rb") as src:  # unreadable files fail here, before anything is stored
                size = os.fstat(src.fileno()).st_size
                if by_reference:
                    if not is_allowed(f, roots) or is_allowed(f, [settings.run_dir]):
                        raise ValueError(f"outside the segmenter's allowed roots ({':'.join(map(str, roots))}); "
                                         "upload the bytes instead (drop --by-reference)")
                    uri, mode = str(f.resolve()), "reference"
                else:
                    assert blobs is not None
                    key = blobs.put_file(upload_key(vid, upload_id, f.name), src)
                    uri, mode = blob_uri(key), "bytes"
            meta = new_meta(vid, "cli")
            ev = events_pb2.VideoUploaded(meta=meta, uri=uri, catalog_id=catalog, title=title or f.stem,
                                          description=description, language=language, upload_id=upload_id)
            assert producer is not None
            producer.send(topic, key=vid.encode(), value=ev.SerializeToString()).get(timeout=30)
            row.update(mode=mode, uri=uri, bytes=size, event_id=meta.event_id)
        except (OSError, ValueError, ShotlineError) as e:
            row["error"] = e.message if hasattr(e, "message") else (
                f"{e.strerror}" if isinstance(e, OSError) and e.strerror else str(e))
        except Exception as e:  # noqa: BLE001 - Kafka errors: report per file, keep going
            row["error"] = f"publishing failed: {e!r}"
    if producer is not None:
        producer.flush(timeout=30)
        producer.close()
    failed = [r for r in results if r["error"]]
    if as_json:
        with logs.data_stdout() as out:
            for r in results:
                out.write(json.dumps(r) + "\n")
    else:
        table = Table("file", "video id", "upload id", "sent", "uri", "bytes")
        for r in results:
            if not r["error"]:
                sent = "bytes → blob store" if r["mode"] == "bytes" else "path (by reference)"
                table.add_row(str(r["file"]), str(r["video_id"]), str(r["upload_id"]), sent, str(r["uri"]),
                              f"{r['bytes']:,}")
        if len(failed) < len(results):
            console.print(table)
        for r in failed:
            err_console.print(f"[red]error[/red] {r['file']}: {r['error']}", soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@app.command()
def tail(
    topic: str = typer.Argument("shots.segmented", help=f"Topic suffix: {', '.join(topics.ALL)}"),
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    limit: int = typer.Option(0, help="Stop after N events (0 = follow)"),
) -> None:
    """Print events of a topic as JSON lines (stdout carries nothing else)."""
    from google.protobuf.json_format import MessageToDict
    from kafka import KafkaConsumer

    from shotline.eventtypes import message_for_topic

    settings = Settings()
    cls = message_for_topic(topic)
    with logs.data_stdout() as out:
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
                ev = MessageToDict(msg, preserving_proto_field_name=True)
            except Exception as e:  # noqa: BLE001 - show, don't die, on a bad record
                ev = {"unparseable": str(e), "bytes": len(rec.value or b"")}
            out.write(json.dumps({"partition": rec.partition, "offset": rec.offset, "event": ev}) + "\n")
            out.flush()
            seen += 1
            if limit and seen >= limit:
                break
        consumer.close()


# ---- dead letters ------------------------------------------------------------------------

dlq_app = typer.Typer(help="Inspect and replay dead-lettered records (<topic>.dlq).", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("list")
def dlq_list(
    topic: str = typer.Argument(..., help="Source topic suffix, e.g. videos.uploaded"),
    reason: str = typer.Option("", help="Only records dead-lettered for this reason"),
    limit: int = typer.Option(0, help="At most N records (0 = all)"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per record on stdout"),
) -> None:
    """Dead-lettered records of a topic, oldest first, with why they failed."""
    from shotline import cli_tools as dlq

    settings = Settings()
    with logs.data_stdout() as out:
        try:
            entries = dlq.list_records(settings, topic, reason=reason or None, limit=limit)
        except dlq.DlqError as e:
            err_console.print(f"[red]{e}[/red]")
            raise typer.Exit(1) from e
        if as_json:
            for e in entries:
                out.write(json.dumps(e.as_dict()) + "\n")
            return
    t = Table("partition", "offset", "key", "reason", "attempts", "source", "service", "error",
              title=f"{dlq.dlq_topic(settings, topic)}: {len(entries)} records")
    for e in entries:
        t.add_row(str(e.partition), str(e.offset), e.key, e.reason, str(e.attempts),
                  f"{e.source_topic}:{e.source_partition}:{e.source_offset}", e.service, e.error[:120])
    console.print(t)


@dlq_app.command("replay")
def dlq_replay(
    topic: str = typer.Argument(..., help="Source topic suffix, e.g. videos.uploaded"),
    reason: str = typer.Option("", help="Only records dead-lettered for this reason"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Republish dead-lettered records to their source topic (original key, value, headers).
    Safe to run twice: what was replayed is remembered in consumer group shotline-dlq-replay."""
    from shotline import cli_tools as dlq

    settings = Settings()
    try:
        res = dlq.replay(settings, topic, reason=reason or None)
    except dlq.DlqError as e:
        err_console.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from e
    if as_json:
        with logs.data_stdout() as out:
            out.write(json.dumps(res.as_dict()) + "\n")
        return
    console.print(f"replayed {res.replayed} record(s) from {res.dlq_topic} to {res.target_topic}"
                  + (f" (reason {reason})" if reason else "")
                  + (f"; skipped {res.skipped_other_reason} of other reasons" if res.skipped_other_reason else "")
                  + (f"; {res.skipped_already} already replayed earlier" if res.skipped_already else ""))


tokens_app = typer.Typer(help="API tokens with roles (the SHOTLINE_API_TOKENS_FILE the services read).",
                         no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("new")
def tokens_new(
    identity: str = typer.Argument(..., help="Who holds it: a person (recorded on their labels) or a service"),
    role: str = typer.Option(..., help="reader | annotator | uploader | admin | service"),
    file: Path = typer.Option(..., "--file", help="Token file to append the hashed entry to (created 0600)"),
) -> None:
    """Make a token: prints it once on stdout; only its SHA-256 goes into the file."""
    from shotline import auth

    if role not in auth.ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(auth.ROLES)}")
    if not identity or any(c.isspace() or c == "#" for c in identity) or len(identity) > 200:
        raise typer.BadParameter("identity: 1-200 characters, no spaces or '#'")
    token = auth.new_token()
    existing = file.read_text() if file.exists() else ""
    if existing:
        auth.parse_token_file(existing, str(file))  # refuse to append to a file the services would reject
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(("" if not existing or existing.endswith("\n") else "\n") + f"{identity} {role} {auth.hash_token(token)}\n")
    with logs.data_stdout() as out:
        out.write(token + "\n")
    err_console.print(f"{identity} ({role}) added to {file}; the token above is shown only once")


def main() -> None:  # pragma: no cover
    app()


# Verbs contributed by other modules (segment, rank, models, search, …) register here.
from shotline import cli_tools  # noqa: E402,F401  (registers commands on `app`)
from shotline import cli_query  # noqa: E402,F401
