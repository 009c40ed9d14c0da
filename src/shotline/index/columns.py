"""Fast column extraction from pymilvus query results.

pymilvus (3.0.2) returns a query result as a list of row dicts whose vector cells are decoded
lazily, one Python float at a time (~512 objects per row). For bulk reads that decoding costs
more than the transfer, so the raw protobuf column is reinterpreted as float32 instead: a
packed ``repeated float`` serialises as tag, varint length, then little-endian float32s.
If a future pymilvus changes the internals this relies on, the slow public path is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def rows_without_vectors(result: Any) -> list[dict[str, Any]]:
    """The scalar columns of each row, without triggering lazy vector decoding."""
    return list.__getitem__(result, slice(None)) if isinstance(result, list) else list(result)


def _packed_floats(payload: bytes) -> np.ndarray:
    if not payload:
        return np.empty(0, dtype=np.float32)
    if payload[0] != 0x0A:  # field 1, wire type 2 (length-delimited, packed)
        raise ValueError("unexpected FloatArray encoding")
    pos, length, shift = 1, 0, 0
    while True:
        byte = payload[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            break
    if pos + length != len(payload):
        raise ValueError("unexpected FloatArray length")
    return np.frombuffer(payload, dtype="<f4", offset=pos).astype(np.float32, copy=False)


def vector_column(result: Any, field: str, dim: int) -> np.ndarray:
    """An (n, dim) float32 array of ``field`` for every row of a query result."""
    n = len(result)
    for fd in getattr(result, "_lazy_field_data", None) or ():
        if getattr(fd, "field_name", None) == field:
            try:
                flat = _packed_floats(fd.vectors.float_vector.SerializeToString())
            except (ValueError, IndexError, AttributeError):
                break
            if flat.size == n * dim:
                return flat.reshape(n, dim)
            break
    if n == 0:
        return np.empty((0, dim), dtype=np.float32)
    return np.asarray([row[field] for row in result], dtype=np.float32).reshape(n, dim)
