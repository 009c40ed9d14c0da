"""CLI helpers: offline verbs (they run the libraries directly, no stack needed) and the
dead-letter tool's logic behind `shotline dlq list|replay`.

Machine-readable output (`segment`, `rank --json`) is written inside `logs.data_stdout()`, so
stdout carries the JSON document and nothing else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from shotline.cli import app

console = Console()
err_console = Console(stderr=True)
models_app = typer.Typer(help="Model bundles.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@app.command()
def segment(
    file: Path = typer.Argument(..., exists=False, help="A video file"),
    keyframes_per_shot: int = typer.Option(3, min=1),
) -> None:
    """Detect shots in a video and print them as JSON (index, frames, ms, transition)."""
    from shotline import logs
    from shotline.errors import BadInput
    from shotline.video.config import SegmenterConfig
    from shotline.video.shots import segment_video, shots_to_json

    with logs.data_stdout() as out:
        try:
            result = segment_video(file, SegmenterConfig(keyframes_per_shot=keyframes_per_shot))
        except BadInput as e:
            err_console.print(f"[red]cannot segment {file}:[/red] {e.reason}: {e.message}")
            raise typer.Exit(2) from e
        out.write(json.dumps({"file": str(file), "fps": result.fps, "frames": result.frame_count,
                              "duration_ms": result.duration_ms, "shots": shots_to_json(result)}, indent=2) + "\n")


@models_app.command("build-default")
def build_default(force: bool = typer.Option(False, "--force")) -> None:
    """Build the offline default bundle from packaged weights (idempotent, cached)."""
    from shotline.models.build_default import build_default_bundle

    print(build_default_bundle(force=force))


@models_app.command("export-clip")
def export_clip(
    model: str = typer.Argument(..., help="OpenCLIP architecture, e.g. ViT-B-32"),
    pretrained: str = typer.Argument(..., help="OpenCLIP pretrained tag, e.g. laion2b_s34b_b79k"),
    out: Path = typer.Argument(..., help="Bundle directory to write"),
) -> None:
    """Export an OpenCLIP model (downloads weights: needs network) into a bundle."""
    from shotline.models.export_clip import export_openclip

    print(export_openclip(model, out, pretrained=pretrained))


@app.command()
def rank(
    files: list[Path] = typer.Argument(..., help="Images or videos"),
    prompt: list[str] = typer.Option(..., "--prompt", "-p", help="Text prompts (repeat)"),
    bundle: Path | None = typer.Option(None, help="Model bundle (default: the offline default)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Prompt × image similarity table for sanity-checking a model bundle."""
    from shotline import logs
    from shotline.models.build_default import default_bundle_path
    from shotline.models.rank import rank as rank_fn
    from shotline.models.runtime import load_bundle

    with logs.data_stdout() as stdout:
        model = load_bundle(bundle or default_bundle_path())
        out = rank_fn(model, prompt, files)
        if as_json:
            stdout.write(json.dumps(out) + "\n")
            return
    table = Table("prompt", *[Path(i).name for i in out["images"]])
    for p, row in zip(out["prompts"], out["scores"], strict=True):
        best = max(range(len(row)), key=row.__getitem__)
        table.add_row(p, *[f"[bold]{v:.3f}[/bold]" if i == best else f"{v:.3f}" for i, v in enumerate(row)])
    console.print(table)


# ---- dead letters: `shotline dlq list|replay` ------------------------------------------
# The worker dead-letters a record to `<topic>.dlq` with its original key, value and headers
# plus dlq.topic/partition/offset/reason/error/attempts/service. Replay republishes to the
# source topic without the dlq.* / retry.* headers (a replayed record starts with fresh
# attempts) and remembers what it replayed in consumer group `<prefix>-dlq-replay`:
# per partition, the committed offset W says "everything below W was replayed"; the commit
# metadata {"reasons": {R: M}} says "every record of reason R below M was replayed" (a
# `--reason R` run). So any sequence of runs replays each record at most once.

REPLAY_GROUP = "dlq-replay"
_OWN_HEADER_PREFIXES = ("dlq.", "retry.")


class DlqError(Exception):
    """The DLQ tool cannot do what was asked (unknown topic, broker unreachable)."""


@dataclass
class DlqEntry:
    partition: int
    offset: int
    key: str
    reason: str
    error: str
    attempts: int
    source_topic: str
    source_partition: int
    source_offset: int
    service: str
    headers: dict[str, str] = field(default_factory=dict)  # the record's own (non-dlq) headers
    value_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReplayResult:
    dlq_topic: str
    target_topic: str
    replayed: int = 0
    skipped_other_reason: int = 0
    skipped_already: int = 0
    replayed_offsets: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _suffix(settings: Any, topic: str) -> str:
    from shotline import topics

    pre = settings.topic_prefix + "."
    topic = topic[len(pre):] if topic.startswith(pre) else topic
    return topics.source(topic)


def dlq_topic(settings: Any, topic: str) -> str:
    from shotline import topics

    return topics.dlq(settings.topic(_suffix(settings, topic)))


def _headers(rec: Any) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    dlq_h: dict[str, str] = {}
    own: list[tuple[str, bytes]] = []
    for k, v in rec.headers or ():
        if k.startswith("dlq."):
            dlq_h[k] = (v or b"").decode("utf-8", "replace")
        if not k.startswith(_OWN_HEADER_PREFIXES):
            own.append((k, v))
    return dlq_h, own


def _int(v: str, default: int = -1) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _entry(rec: Any) -> DlqEntry:
    h, own = _headers(rec)
    key = rec.key.decode("utf-8", "replace") if isinstance(rec.key, bytes) else (rec.key or "")
    return DlqEntry(
        partition=rec.partition, offset=rec.offset, key=key, reason=h.get("dlq.reason", ""),
        error=h.get("dlq.error", ""), attempts=_int(h.get("dlq.attempts", ""), 0),
        source_topic=h.get("dlq.topic", ""), source_partition=_int(h.get("dlq.partition", "")),
        source_offset=_int(h.get("dlq.offset", "")), service=h.get("dlq.service", ""),
        headers={k: (v or b"").decode("utf-8", "replace") for k, v in own}, value_bytes=len(rec.value or b""),
    )


def _consumer(settings: Any, group: str | None):  # type: ignore[no-untyped-def]
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        return KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             client_id="shotline-dlq", request_timeout_ms=30_000)
    except KafkaError as e:
        raise DlqError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {e!r}") from e


def _partitions(consumer: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    parts = consumer.partitions_for_topic(topic)
    if not parts:
        raise DlqError(f"topic {topic} does not exist")
    return [TopicPartition(topic, p) for p in sorted(parts)]


def _read(consumer: Any, ranges: dict[Any, tuple[int, int]], timeout_s: float = 60.0) -> Iterator[Any]:
    """Records of each partition in [start, end), oldest first per partition."""
    active = {tp: r for tp, r in ranges.items() if r[0] < r[1]}
    if not active:
        return
    consumer.assign(list(active))
    for tp, (start, _) in active.items():
        consumer.seek(tp, start)
    deadline = time.monotonic() + timeout_s
    while active:
        if time.monotonic() > deadline:
            raise DlqError(f"timed out reading {', '.join(str(tp) for tp in active)}")
        for tp, recs in consumer.poll(timeout_ms=500).items():
            end = ranges[tp][1]
            for rec in recs:
                if rec.offset < end:
                    yield rec
        for tp in list(active):
            if consumer.position(tp) >= active[tp][1]:
                del active[tp]
                consumer.pause(tp)


def list_records(settings: Any, topic: str, reason: str | None = None, limit: int = 0) -> list[DlqEntry]:
    name = dlq_topic(settings, topic)
    consumer = _consumer(settings, None)
    try:
        tps = _partitions(consumer, name)
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        out = []
        for rec in _read(consumer, {tp: (begin[tp], end[tp]) for tp in tps}):
            e = _entry(rec)
            if reason is None or e.reason == reason:
                out.append(e)
        out.sort(key=lambda e: (e.partition, e.offset))
        return out[:limit] if limit else out
    finally:
        consumer.close()


def replay(settings: Any, topic: str, reason: str | None = None) -> ReplayResult:
    from kafka import KafkaProducer
    from kafka.structs import OffsetAndMetadata

    from shotline import topics

    name = dlq_topic(settings, topic)
    consumer = _consumer(settings, settings.group(REPLAY_GROUP))
    producer = None
    try:
        tps = _partitions(consumer, name)
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        state: dict[Any, tuple[int, dict[str, int]]] = {}
        for tp in tps:
            c = consumer.committed(tp, metadata=True)
            marks = {}
            if c is not None and c.metadata:
                try:
                    marks = {str(k): int(v) for k, v in json.loads(c.metadata).get("reasons", {}).items()}
                except (ValueError, AttributeError):
                    marks = {}
            state[tp] = (max(c.offset if c is not None and c.offset >= 0 else 0, begin[tp]), marks)
        ranges = {}
        for tp in tps:
            w, marks = state[tp]
            ranges[tp] = (max(w, marks.get(reason, 0)) if reason else w, end[tp])
        res = ReplayResult(dlq_topic=name, target_topic=settings.topic(_suffix(settings, topic)))
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
                                 client_id="shotline-dlq-replay")
        futures = []
        for rec in _read(consumer, ranges):
            h, own = _headers(rec)
            rec_reason = h.get("dlq.reason", "")
            tp_marks = state[next(tp for tp in tps if tp.partition == rec.partition)][1]
            if reason is not None and rec_reason != reason:
                res.skipped_other_reason += 1
                continue
            if rec.offset < tp_marks.get(rec_reason, 0):
                res.skipped_already += 1
                continue
            target = topics.source(h.get("dlq.topic") or res.target_topic)
            futures.append(producer.send(target, key=rec.key, value=rec.value, headers=own))
            res.replayed_offsets.append((rec.partition, rec.offset))
        producer.flush(timeout=60)
        for fut in futures:
            fut.get(timeout=60)  # every send confirmed before anything is marked replayed
        res.replayed = len(futures)
        commits = {}
        for tp in tps:
            w, marks = state[tp]
            if reason is None:
                commits[tp] = OffsetAndMetadata(end[tp], json.dumps({"reasons": {}}), -1)
            else:
                marks = {**marks, reason: end[tp]}
                commits[tp] = OffsetAndMetadata(w, json.dumps({"reasons": marks}), -1)
        consumer.commit(commits)
        return res
    finally:
        if producer is not None:
            producer.close(timeout=10)
        consumer.close()
