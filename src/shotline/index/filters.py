"""Milvus boolean expressions built from typed filters, with every string literal escaped.

Expressions are assembled as text (rather than with server-side templates) because filter
templates need Milvus >= 2.4.x, and production may be any 2.3+ server.
"""

from __future__ import annotations

import json

from shotline.errors import BadInput
from shotline.index.model import SearchFilter

_MAX_IDS = 10_000  # a bound on expression size; larger sets belong in a different design


def quote(value: str) -> str:
    """A Milvus string literal: double-quoted, backslash-escaped like JSON."""
    if not isinstance(value, str):
        raise BadInput("bad_filter", f"expected a string, got {type(value).__name__}")
    if any(ord(c) < 0x20 for c in value):
        raise BadInput("bad_filter", f"control characters in {value!r}")
    return json.dumps(value, ensure_ascii=False)


def string_in(field: str, values: list[str], negate: bool = False) -> str:
    if len(values) > _MAX_IDS:
        raise BadInput("too_many_ids", f"{len(values)} ids in one filter (max {_MAX_IDS})")
    op = "not in" if negate else "in"  # milvus-lite 2.5.1 rejects `not (x in [...])`
    return f"{field} {op} [{', '.join(quote(v) for v in values)}]"


def _int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput("bad_filter", f"{name} must be an int, got {value!r}")
    return value


def expression(f: SearchFilter | None) -> str:
    """The expression for ``f``; empty string when nothing is restricted."""
    if f is None:
        return ""
    parts: list[str] = []
    if f.video_ids is not None:
        if not f.video_ids:
            raise BadInput("bad_filter", "video_ids is an empty list (would match nothing)")
        parts.append(string_in("video_id", list(f.video_ids)))
    if f.catalog_ids is not None:
        if not f.catalog_ids:
            raise BadInput("bad_filter", "catalog_ids is an empty list (would match nothing)")
        parts.append(string_in("catalog_id", list(f.catalog_ids)))
    if f.exclude_video_ids:
        parts.append(string_in("video_id", list(f.exclude_video_ids), negate=True))
    if f.min_start_ms is not None:
        parts.append(f"start_ms >= {_int('min_start_ms', f.min_start_ms)}")
    if f.max_end_ms is not None:
        parts.append(f"end_ms <= {_int('max_end_ms', f.max_end_ms)}")
    if f.min_ingest_ms is not None:
        parts.append(f"ingest_ms >= {_int('min_ingest_ms', f.min_ingest_ms)}")
    return " and ".join(f"({p})" for p in parts)


def both(a: str, b: str) -> str:
    if a and b:
        return f"({a}) and ({b})"
    return a or b
