"""Which shot a word belongs to: a spoken word to the shot holding its midpoint."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from shotline.index.text_index import Word


def assign(words: Sequence[Word], starts_ms: Sequence[int], ends_ms: Sequence[int]) -> list[list[Word]]:
    """``words`` split over shots given by their [start, end) times (sorted, non-overlapping);
    a word whose midpoint falls in no shot (outside the span) is dropped."""
    out: list[list[Word]] = [[] for _ in starts_ms]
    for w in words:
        mid = (w.start_ms + w.end_ms) // 2
        i = bisect.bisect_right(starts_ms, mid) - 1
        if 0 <= i < len(starts_ms) and mid < ends_ms[i]:
            out[i].append(w)
    return out
