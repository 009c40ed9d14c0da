"""Event envelope helpers: build EventMeta, serialise, and parse strictly.

Parsing failures raise BadInput("malformed_event") so the worker dead-letters them.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from shotline.errors import BadInput
from shotline.v1 import events_pb2

SCHEMA_VERSION = 1
M = TypeVar("M", bound=Message)


def new_meta(video_id: str, producer: str, trace_id: str = "") -> events_pb2.EventMeta:
    ts = Timestamp()
    ts.GetCurrentTime()
    event_id = str(uuid.uuid4())
    return events_pb2.EventMeta(
        event_id=event_id,
        schema_version=SCHEMA_VERSION,
        occurred_at=ts,
        video_id=video_id,
        producer=producer,
        trace_id=trace_id or event_id,
    )


def child_meta(parent: events_pb2.EventMeta, producer: str) -> events_pb2.EventMeta:
    """Meta for an event caused by `parent`: same video and trace."""
    return new_meta(parent.video_id, producer, parent.trace_id)


def parse(cls: type[M], data: bytes | None, *, require_video_id: bool = True) -> M:
    if not data:
        raise BadInput("malformed_event", f"empty payload for {cls.__name__}")
    msg = cls()
    try:
        msg.ParseFromString(data)
    except (DecodeError, ValueError) as e:  # ValueError: invalid UTF-8 in a string field
        raise BadInput("malformed_event", f"cannot parse {cls.__name__}: {e}") from e
    meta = getattr(msg, "meta", None)
    if meta is None or not msg.HasField("meta"):
        raise BadInput("malformed_event", f"{cls.__name__} has no meta")
    if not meta.event_id:
        raise BadInput("malformed_event", f"{cls.__name__} has no event_id")
    if meta.schema_version > SCHEMA_VERSION:
        raise BadInput(
            "unsupported_schema", f"{cls.__name__} schema_version {meta.schema_version} > {SCHEMA_VERSION}"
        )
    if require_video_id and not meta.video_id:
        raise BadInput("malformed_event", f"{cls.__name__} has no video_id")
    return msg


def shot_id(video_id: str, index: int) -> str:
    return f"{video_id}/{index}"


def parse_shot_id(value: str) -> tuple[str, int]:
    video_id, sep, idx = value.rpartition("/")
    if not sep or not video_id or not idx.isdigit():
        raise BadInput("bad_shot_id", f"shot id must be '<video_id>/<shot_index>', got {value!r}")
    return video_id, int(idx)


_VIDEO_ID_MAX = 256


def validate_video_id(video_id: str) -> str:
    if not video_id or len(video_id) > _VIDEO_ID_MAX or any(c in video_id for c in "\x00\n\r\"'\\"):
        raise BadInput("bad_video_id", f"invalid video id {video_id!r}")
    return video_id


LABEL_NAME_PATTERN = r"[a-z0-9][a-z0-9_\-]{0,63}"


def validate_label_name(name: object) -> str:
    """Classifier names: lowercase letters, digits, '_' and '-', 1–64 chars, not starting with '_'/'-'."""
    import re

    if not isinstance(name, str) or not re.fullmatch(LABEL_NAME_PATTERN, name):
        raise BadInput("bad_label_name", f"label name must match {LABEL_NAME_PATTERN}, got {name!r:.80}")
    return name
