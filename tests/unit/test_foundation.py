"""The shared runtime's pure parts: protos, settings, events, blob store, query validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.query.validation import check_feed_size, check_query, check_top_k, to_filter
from shotline.blobstore import LocalBlobStore
from shotline.errors import BadInput
from shotline.events import new_meta, parse, parse_shot_id, validate_label_name, validate_video_id
from shotline.settings import Settings
from shotline.v1 import events_pb2, query_pb2

ROOT = Path(__file__).resolve().parents[2]


def test_generated_protos_are_committed_and_current(tmp_path: Path) -> None:
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "protos/shotline/v1").glob("*.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-Iprotos", f"--python_out={tmp_path}",
                    f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}", *protos], cwd=ROOT, check=True)
    fresh = sorted((tmp_path / "shotline/v1").glob("*.py*"))
    assert fresh
    for f in fresh:
        committed = ROOT / "src/shotline/v1" / f.name
        assert committed.exists(), f"{f.name} is not committed: run make protos"
        assert committed.read_text() == f.read_text(), f"{f.name} is stale: run make protos"


def test_settings_from_env_mask_secrets_and_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@db:6379/0")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("SHOTLINE_ALLOWED_ROOTS", "/data/videos:/mnt/in")
    monkeypatch.setenv("SHOTLINE_ORT_PROVIDERS", "CUDAExecutionProvider, CPUExecutionProvider")
    s = Settings()
    assert s.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert s.allowed_roots == [Path("/data/videos"), Path("/mnt/in")]
    assert s.ort_providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert "hunter2" not in repr(s) and s.redis_url.get_secret_value().endswith("@db:6379/0")
    assert s.topic("shots.indexed") == "shotline.shots.indexed"
    monkeypatch.setenv("SHOTLINE_TOPIC_PARTITIONS", "0")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("SHOTLINE_TOPIC_PARTITIONS", "3")
    monkeypatch.setenv("SHOTLINE_LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError):
        Settings()


def test_event_parsing_is_strict() -> None:
    ev = events_pb2.VideoUploaded(meta=new_meta("v1", "test"), uri="/x.mp4")
    assert parse(events_pb2.VideoUploaded, ev.SerializeToString()).uri == "/x.mp4"
    assert ev.meta.trace_id == ev.meta.event_id and ev.meta.schema_version == 1
    for bad, reason in [(b"", "malformed_event"), (b"\xff\xff\xff", "malformed_event"),
                        (events_pb2.VideoUploaded(uri="/x").SerializeToString(), "malformed_event")]:
        with pytest.raises(BadInput) as e:
            parse(events_pb2.VideoUploaded, bad)
        assert e.value.reason == reason
    future = events_pb2.VideoUploaded(meta=new_meta("v1", "t"))
    future.meta.schema_version = 99
    with pytest.raises(BadInput) as e:
        parse(events_pb2.VideoUploaded, future.SerializeToString())
    assert e.value.reason == "unsupported_schema"
    no_video = events_pb2.VideoUploaded(meta=new_meta("", "t"))
    with pytest.raises(BadInput):
        parse(events_pb2.VideoUploaded, no_video.SerializeToString())


def test_ids_and_names() -> None:
    assert parse_shot_id("show/ep-1/12") == ("show/ep-1", 12)
    for bad in ["nope", "/3", "v/x", "v/"]:
        with pytest.raises(BadInput):
            parse_shot_id(bad)
    assert validate_label_name("car-chase_2") == "car-chase_2"
    for bad in ["", "Car", "-x", "a b", "x" * 65, None]:
        with pytest.raises(BadInput):
            validate_label_name(bad)
    with pytest.raises(BadInput):
        validate_video_id('bad"id')


def test_blob_store_is_atomic_and_confined(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("a/b/c.jpg", b"123")
    assert store.get("a/b/c.jpg") == b"123" and store.exists("a/b/c.jpg")
    assert not list(tmp_path.rglob(".tmp-*"))
    for key in ["../escape", "/abs", "a/../../x", ""]:
        with pytest.raises(BadInput):
            store.put(key, b"x")
    with pytest.raises(BadInput) as e:
        store.get("missing")
    assert e.value.reason == "missing_blob"
    assert store.delete_prefix("a") == 1 and not store.exists("a/b/c.jpg")


def test_query_validation_rules() -> None:
    assert check_query("  cat ") == "cat"
    assert check_top_k(0) == 10 and check_top_k(1000) == 1000
    assert check_feed_size(0) == 20
    for fn, arg in [(check_query, ""), (check_query, "x" * 1001), (check_top_k, 1001), (check_feed_size, 5000)]:
        with pytest.raises(BadInput):
            fn(arg)
    assert to_filter(query_pb2.SearchFilters()) is None
    f = to_filter(query_pb2.SearchFilters(video_ids=["a"], min_start_ms=10, max_end_ms=20))
    assert f is not None and f.video_ids == ["a"] and f.min_start_ms == 10
    for bad in [query_pb2.SearchFilters(min_start_ms=-1), query_pb2.SearchFilters(min_start_ms=5, max_end_ms=5),
                query_pb2.SearchFilters(video_ids=[str(i) for i in range(1001)])]:
        with pytest.raises(BadInput):
            to_filter(bad)


def test_stack_refuses_to_start_on_ports_another_process_holds(tmp_path: Path) -> None:
    """A leftover stack on the same ports would silently answer for the new one: `up` must say so."""
    import socket

    from shotline.stack import local

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        st = local.StackSettings(run_dir=tmp_path, query_port=port)
        with pytest.raises(RuntimeError, match=rf"query.*{port}|{port}.*query"):
            local.up(st, with_services=True)
    assert not (tmp_path / "supervisord.pid").exists()  # nothing was started
