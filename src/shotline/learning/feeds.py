"""The four labelling feeds shown to the expert after each retrain (Video Annotator style)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from shotline.errors import BadInput

from .scoring import Ranked, ScoreTable

# Priority when a shot qualifies for several feeds: the uncertain ones teach the model most.
FEED_KINDS = ("borderline", "top_positive", "top_negative", "random")


@dataclass
class Feed:
    kind: str
    ids: list[str]
    scores: np.ndarray  # logits, in display order

    def __len__(self) -> int:
        return len(self.ids)


def build_feeds(table: ScoreTable, n: int, exclude: Iterable[str] = (), *, disjoint: bool = True) -> dict[str, Feed]:
    """Feeds of up to ``n`` shots each, never a labelled (``exclude``) shot, and — when
    ``disjoint`` — no shot in two feeds (the active loop's batches). Served feeds are views
    of one ranking and may overlap, so a small catalog still fills all four.

    top_positive: highest logits; top_negative: lowest logits; borderline: logits closest to 0
    (the decision boundary); random: uniform sample of the unlabelled catalog.
    """
    if n < 0:
        raise BadInput("bad_feed_size", f"feed size must be ≥ 0, got {n}")
    used = set(exclude)
    feeds: dict[str, Feed] = {}
    for kind in FEED_KINDS:
        ranked: Ranked = getattr(table, kind)
        keep = [i for i, sid in enumerate(ranked.ids) if sid not in used][:n]
        ids = [ranked.ids[i] for i in keep]
        if disjoint:
            used.update(ids)
        feeds[kind] = Feed(kind=kind, ids=ids, scores=ranked.scores[keep])
    return feeds
