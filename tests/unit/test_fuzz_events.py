"""Issue 16, fuzzing: every Kafka event parser the services use, with random and adversarial bytes.

Property: a consumed record, whatever its bytes and headers, either is parsed or raises
`BadInput` (→ the DLQ with a reason, the partition moves on). Any other exception is a bug: the
worker would retry it and then dead-letter it as `handler_error`, and an exception on the
worker's loop thread (its own retry/DLQ headers) stops the whole service and blocks the
partition in a restart loop.

Each handler gets dependencies that raise `Reached` on first use, so a record that gets past
parsing and validation stops there: the property covers exactly the parsing, not Redis/Milvus.
No network; `max_examples` is bounded so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import struct
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.consumer.fetcher import ConsumerRecord

from services.encoder.handler import EmbedHandler
from services.indexer.handler import IndexHandler
from services.scorer.backfill import BackfillHandler
from services.scorer.handler import ScorerHandler
from services.transcriber.handler import TranscribeHandler
from services.segmenter import handler as segmenter_module
from services.segmenter.handler import SegmentHandler
from services.trainer.categories import CategoryLabels
from services.trainer.handler import TrainerHandler
from shotline import eventtypes, stores, topics, worker
from shotline.errors import BadInput
from shotline.events import parse
from shotline.index.shot_index import ShotIndex
from shotline.settings import Settings
from shotline.taxonomy import load_taxonomy
from shotline.v1 import events_pb2
from shotline.video.config import SegmenterConfig
from shotline.video.sources import SourceConfig

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])
PREFIX = "t"


class Reached(Exception):
    """A record got past parsing and validation and reached a dependency."""


class Tripwire:
    def __getattr__(self, name: str) -> Any:
        raise Reached(name)

    def __call__(self, *a: Any, **k: Any) -> Any:
        raise Reached("call")


class RedisTripwire(Tripwire):
    def register_script(self, script: str) -> Tripwire:  # registered at construction, run later
        return Tripwire()


# ---- strategies ------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


@st.composite
def wire(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Well-framed protobuf wire data with arbitrary field numbers and wire types: a known field
    with the wrong type, unknown fields, groups, nested garbage messages, invalid UTF-8."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 6))):
        field = draw(st.integers(1, 20) | st.integers(1, 2**29 - 1))
        wt = draw(st.sampled_from([0, 1, 2, 5] + ([3] if depth < 2 else [])))
        out += _varint(field << 3 | wt)
        if wt == 0:
            out += _varint(draw(st.integers(-(2**63), 2**64 - 1)))
        elif wt == 1:
            out += draw(st.binary(min_size=8, max_size=8))
        elif wt == 5:
            out += draw(st.binary(min_size=4, max_size=4))
        elif wt == 3:  # a group: start, garbage, end
            out += draw(wire(depth + 1)) + _varint(field << 3 | 4)
        else:
            payload = draw(ADVERSARIAL | (wire(depth + 1) if depth < 3 else st.binary(max_size=64)))
            out += _varint(len(payload)) + payload
    return bytes(out)


ADVERSARIAL = st.sampled_from([
    b"", b"\x00", b"\x00" * 64, b"\xff" * 64, b"\xc3\x28", b"\xed\xa0\x80",  # invalid UTF-8, a lone surrogate
    "ä\u202e\ufeff".encode(), b"\x0a\xff\xff\xff\xff\x0f",                   # a length prefix past the end
    b"\x0a" + _varint(2**31) + b"x", b"{\"video_id\": 1}", b"null", b"[]",
])
RAW = st.binary(max_size=512) | ADVERSARIAL | st.builds(lambda n: b"\x00" * n, st.integers(0, 2_000_000))
TEXT = st.text(max_size=40) | st.sampled_from(["", "\x00", "a" * 70_000, "../../etc/passwd", "x/-1", "x/99999999999999999999"])
INTS = st.integers(0, 2**32 - 1)


@st.composite
def meta(draw: st.DrawFn) -> events_pb2.EventMeta:
    m = events_pb2.EventMeta(event_id=draw(st.sampled_from(["e1", ""]) | TEXT), video_id=draw(st.sampled_from(["v1", ""]) | TEXT),
                             schema_version=draw(st.sampled_from([0, 1, 2]) | INTS), producer=draw(TEXT))
    m.occurred_at.seconds = draw(st.integers(-62135596800, 253402300799))
    return m


def _shot(draw: st.DrawFn) -> Any:
    from shotline.v1 import common_pb2

    return common_pb2.Shot(shot_id=draw(TEXT), video_id=draw(TEXT), index=draw(INTS), start_ms=draw(st.integers(-2**63, 2**63 - 1)),
                           end_ms=draw(st.integers(-2**63, 2**63 - 1)), keyframe_refs=draw(st.lists(TEXT, max_size=3)))


FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)


@st.composite
def structured(draw: st.DrawFn, cls: type) -> bytes:
    """A message of the topic's own type, with hostile field values (the shape is right, the
    content is not): empty, NUL, huge, traversal strings, extreme numbers, NaN vectors."""
    msg = cls()
    msg.meta.CopyFrom(draw(meta()))
    for f in cls.DESCRIPTOR.fields:
        if f.name == "meta" or draw(st.booleans()):
            continue
        try:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                for _ in range(draw(st.integers(0, 3))):
                    key = draw(TEXT)
                    vt = f.message_type.fields_by_name["value"]
                    if vt.type == vt.TYPE_STRING:
                        getattr(msg, f.name)[key] = draw(TEXT)
                    elif vt.message_type is None:
                        getattr(msg, f.name)[key] = draw(INTS)
            elif f.type == f.TYPE_STRING:
                vals = draw(st.lists(TEXT, max_size=3)) if f.is_repeated else draw(TEXT)
                getattr(msg, f.name).extend(vals) if f.is_repeated else setattr(msg, f.name, vals)
            elif f.type in (f.TYPE_UINT32, f.TYPE_INT32, f.TYPE_UINT64, f.TYPE_INT64, f.TYPE_ENUM, f.TYPE_BOOL):
                if not f.is_repeated:
                    lo, hi = {f.TYPE_UINT32: (0, 2**32 - 1), f.TYPE_INT32: (-2**31, 2**31 - 1), f.TYPE_UINT64: (0, 2**64 - 1),
                              f.TYPE_INT64: (-2**63, 2**63 - 1), f.TYPE_ENUM: (-5, 50), f.TYPE_BOOL: (0, 1)}[f.type]
                    v = draw(st.integers(lo, hi))
                    setattr(msg, f.name, bool(v) if f.type == f.TYPE_BOOL else v)
            elif f.type in (f.TYPE_FLOAT, f.TYPE_DOUBLE) and not f.is_repeated:
                setattr(msg, f.name, draw(FLOATS))
            elif f.message_type is not None and f.is_repeated:
                name = f.message_type.name
                for _ in range(draw(st.integers(0, 3))):
                    item = getattr(msg, f.name).add()
                    if name == "Shot":
                        item.CopyFrom(_shot(draw))
                    elif name == "ShotEmbedding":
                        item.shot.CopyFrom(_shot(draw))
                        for head in draw(st.lists(st.sampled_from(["joint", "visual", "", "1x", "\x00"]), max_size=2)):
                            item.vectors[head].values.extend(draw(st.lists(FLOATS, max_size=8)))
                    elif name in ("ShotLabel", "VideoCategoryLabel", "SkippedShot"):
                        for sub in item.DESCRIPTOR.fields:
                            if sub.type == sub.TYPE_STRING:
                                setattr(item, sub.name, draw(st.sampled_from(["v1/0", "v1/x", "/0", "", "animals"]) | TEXT))
                            elif sub.type == sub.TYPE_ENUM:
                                setattr(item, sub.name, draw(st.integers(-3, 9)))
            elif f.message_type is not None:
                sub = getattr(msg, f.name)
                for sf in sub.DESCRIPTOR.fields:
                    if sf.type == sf.TYPE_STRING and not sf.is_repeated:
                        setattr(sub, sf.name, draw(TEXT))
        except (ValueError, TypeError):  # a value protobuf itself refuses to hold: leave the field empty
            pass
    data = msg.SerializeToString()
    if draw(st.booleans()):  # then damage it: truncate, flip a byte, append garbage fields
        how = draw(st.sampled_from(["truncate", "flip", "append"]))
        if how == "truncate" and data:
            data = data[:draw(st.integers(0, len(data) - 1))]
        elif how == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
        else:
            data += draw(wire())
    return data


def payloads(cls: type) -> st.SearchStrategy[bytes]:
    return RAW | wire() | structured(cls)


def record(topic: str, value: bytes | None, headers: list[tuple[str, bytes]] | None = None,
           key: bytes | None = b"v") -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=0, leader_epoch=-1, offset=7, timestamp=0, timestamp_type=0,
                          key=key, value=value, headers=headers or [], checksum=None, serialized_key_size=-1,
                          serialized_value_size=len(value or b""), serialized_header_size=-1)


def only_bad_input(fn, rec: ConsumerRecord) -> None:  # type: ignore[no-untyped-def]
    """The property: parsed (and stopped at a dependency, or done), or BadInput with a reason."""
    try:
        fn(rec)
    except Reached:
        pass
    except BadInput as e:
        assert e.reason and e.reason.replace("_", "").isalnum(), e.reason


# ---- the envelope parser, for every message type a topic carries -----------------------------
ALL_MESSAGES = sorted({*eventtypes.MESSAGES.values(), events_pb2.CategoryLabelsSubmitted}, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
@FUZZ
@given(data=st.data())
def test_envelope_parser_accepts_or_raises_bad_input(cls: type, data: st.DataObject) -> None:
    value = data.draw(payloads(cls))
    for require in (True, False):
        try:
            msg = parse(cls, value, require_video_id=require)
        except BadInput as e:
            assert e.reason in {"malformed_event", "unsupported_schema"}
        else:
            assert msg.meta.event_id and (msg.meta.video_id or not require)


# ---- each service's handler ------------------------------------------------------------------
@pytest.fixture(scope="module")
def s() -> Settings:
    return Settings(topic_prefix=PREFIX)


@pytest.fixture(scope="module")
def handlers(s: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    fake_model = SimpleNamespace(model_id="m", version="1", dims={"joint": 4, "visual": 4})
    tax = load_taxonomy()
    backfill = BackfillHandler(s, SimpleNamespace(tax=tax), Tripwire(), Tripwire(),  # type: ignore[arg-type]
                               text_lookup=Tripwire())
    backfill.models = Tripwire()  # type: ignore[assignment]
    return {
        "segmenter": SegmentHandler(s, Tripwire(), SegmenterConfig(), SourceConfig()),  # type: ignore[arg-type]
        "encoder": EmbedHandler(s, SimpleNamespace(model=fake_model, embed=Tripwire())),  # type: ignore[arg-type]
        "indexer": IndexHandler(s, partial(stores.shot_index, s), RedisTripwire()),  # type: ignore[arg-type]
        "scorer": ScorerHandler(s, Tripwire(), Tripwire(), backfill),  # type: ignore[arg-type]
        "transcriber": TranscribeHandler(s, Tripwire(), SourceConfig(), Tripwire(),  # type: ignore[arg-type]
                                         SimpleNamespace(model_name="asr", words=Tripwire()),  # type: ignore[arg-type]
                                         SimpleNamespace(model_name="ocr", words=Tripwire())),  # type: ignore[arg-type]
        "trainer": TrainerHandler(s, Tripwire(), SimpleNamespace(index=Tripwire(), rescore=Tripwire()),  # type: ignore[arg-type]
                                  categories=CategoryLabels(s, Tripwire(), Tripwire(), Tripwire(),  # type: ignore[arg-type]
                                                            SimpleNamespace(tax=tax))),  # type: ignore[arg-type]
    }


@pytest.fixture(autouse=True)
def _no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past parsing, the segmenter opens the source and the indexer talks to Milvus: stop there."""
    monkeypatch.setattr(segmenter_module, "open_source", Tripwire())
    monkeypatch.setattr(ShotIndex, "ensure_collection", lambda self: None)
    monkeypatch.setattr(ShotIndex, "client", property(lambda self: Tripwire()))


CASES = [(service, t, eventtypes.MESSAGES.get(t, events_pb2.CategoryLabelsSubmitted))
         for service, subs in topics.SUBSCRIPTIONS.items() for t in subs if t != topics.CATEGORIES_BACKFILL]


@pytest.mark.parametrize(("service", "topic", "cls"), CASES, ids=[f"{a}:{b}" for a, b, _ in CASES])
@FUZZ
@given(data=st.data())
def test_handler_never_fails_with_anything_but_bad_input(handlers: dict[str, Any], service: str, topic: str,
                                                         cls: type, data: st.DataObject) -> None:
    value = data.draw(payloads(cls))
    only_bad_input(handlers[service].handle, record(f"{PREFIX}.{topic}", value))


BACKFILL_BODIES = (RAW | st.builds(lambda v: json.dumps({"video_id": v}).encode(),
                                   st.none() | st.integers() | st.floats() | TEXT | st.lists(st.integers(), max_size=2))
                   | st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(TEXT, st.integers() | TEXT, max_size=3)))


@FUZZ
@given(value=BACKFILL_BODIES)
def test_backfill_request_parser(handlers: dict[str, Any], value: bytes) -> None:
    only_bad_input(handlers["scorer"].handle, record(f"{PREFIX}.{topics.CATEGORIES_BACKFILL}", value))


def test_handlers_refuse_null_and_huge_values(handlers: dict[str, Any]) -> None:
    """No value at all (a tombstone) and a 16 MiB value: BadInput, not a crash."""
    for service, topic, _ in CASES:
        for value in (None, b"\x0a" * (16 << 20)):
            only_bad_input(handlers[service].handle, record(f"{PREFIX}.{topic}", value))


# ---- the worker's own headers (any producer can set them) --------------------------------------
HEADER_VALUES = (st.binary(max_size=24) | st.sampled_from(
    [b"", b"nan", b"inf", b"-inf", b"1e400", b"99999999999999999999999", b"-5", b"0", b"\xff\xfe", b"\x00",
     "\u0663".encode(), b"t:1:2", b"a:b:c", b"::", b"t:99999999999:1", b"t:1:99999999999999999999", b"1.5"])
    | st.builds(lambda n: str(n).encode(), st.integers(-2**70, 2**70) | st.floats()))


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    names = [worker.H_ATTEMPT, worker.H_NOT_BEFORE, worker.H_ORIGIN, worker.H_REASON, "dlq.reason", "x"]
    return [(draw(st.sampled_from(names)), draw(HEADER_VALUES)) for _ in range(draw(st.integers(0, 4)))]


class Poison:
    def __init__(self, exc: Exception):
        self.exc = exc

    def handle(self, record: ConsumerRecord) -> list[worker.Output]:
        raise self.exc


@FUZZ
@given(hdrs=headers(), exc=st.sampled_from([BadInput("not_a_video", "x"), ValueError("bug")]),
       retry_topic=st.booleans(), key=st.none() | st.binary(max_size=8))
def test_worker_headers_never_break_the_loop(s: Settings, hdrs: list[tuple[str, bytes]], exc: Exception,
                                             retry_topic: bool, key: bytes | None) -> None:
    """Forged retry/DLQ headers on a record: it is admitted (or delayed at most the longest retry
    delay), dead-lettered with its own partition/offset when the origin is unreadable, and
    nothing raises on the loop."""
    import time as _time

    src = f"{PREFIX}.{topics.VIDEOS_UPLOADED}"
    w = worker.Worker(s, "fuzz", [topics.VIDEOS_UPLOADED], Poison(exc))
    w.consumer = SimpleNamespace(seek=lambda tp, off: None)  # type: ignore[assignment]
    rec = record(topics.retry(src) if retry_topic else src, b"x", hdrs, key)
    tp = worker.TopicPartition(rec.topic, rec.partition)
    admitted = w._admit({tp: [rec]})
    horizon = _time.time() + max(s.record_retry_delays_seconds) + 5
    assert admitted == [rec] or w._delayed[tp] <= horizon
    batch = worker._Batch()
    w._process_one(rec, batch)
    dlq = [o for o in batch.outputs if o.topic == topics.dlq(src)]
    assert len(dlq) == 1
    h = dict(dlq[0].headers)
    assert int(h["dlq.partition"]) < 2**31 and int(h["dlq.offset"]) < 2**63
    assert struct.pack(">q", int(h["dlq.offset"]))  # fits the ProcessingError's int64
