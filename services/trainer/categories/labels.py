"""Human category labels carried by ``LabelSubmitted`` events.

Convention: ``label = "category:<category id>"``; each ``ShotLabel.shot_id`` names either a
whole video (``"<video_id>"``, no slash) or one shot (``"<video_id>/<shot index>"``).
POSITIVE on any shot makes the video positive for that category; NEGATIVE only counts at video
level (one shot without a dog says nothing about the video); CLEARED retracts the video's
label. Labels without the ``category:`` prefix belong to user classifiers and are ignored here.
"""

from __future__ import annotations

from collections.abc import Iterable

from shotline.errors import BadInput
from shotline.events import parse_shot_id, validate_video_id
from shotline.taxonomy import Taxonomy
from shotline.v1 import events_pb2

PREFIX = "category:"
POSITIVE, NEGATIVE = 1, -1


def category_label(category_id: str) -> str:
    return PREFIX + category_id


def parse_category_label(label: str, taxonomy: Taxonomy) -> str | None:
    """The category id of a ``category:<id>`` label; None for other labels;
    ``BadInput("unknown_category")`` for an id the taxonomy does not have."""
    if not label.startswith(PREFIX):
        return None
    category_id = label[len(PREFIX):]
    if category_id not in taxonomy:
        raise BadInput("unknown_category", f"label {label!r}: no category {category_id!r} in {taxonomy.version}")
    return category_id


def _target(shot_id: str) -> tuple[str, bool]:
    """(video id, is_video_level)."""
    if "/" in shot_id:
        video_id, _ = parse_shot_id(shot_id)
        return video_id, False
    return validate_video_id(shot_id), True


class CategoryLabels:
    """Video-level category labels folded from label events (latest event wins)."""

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.labels: dict[str, dict[str, int]] = {}  # video id → {category id: ±1}

    def apply(self, event: events_pb2.LabelSubmitted) -> int:
        """Fold one event in; returns how many video labels changed (0 for non-category labels)."""
        category_id = parse_category_label(event.label, self.taxonomy)
        if category_id is None:
            return 0
        changed = 0
        for item in event.labels:
            video_id, whole = _target(item.shot_id)
            per_video = self.labels.setdefault(video_id, {})
            before = per_video.get(category_id)
            if item.value == events_pb2.LABEL_VALUE_POSITIVE:
                per_video[category_id] = POSITIVE
            elif item.value == events_pb2.LABEL_VALUE_NEGATIVE and whole:
                per_video[category_id] = NEGATIVE
            elif item.value == events_pb2.LABEL_VALUE_CLEARED:
                per_video.pop(category_id, None)
            elif item.value == events_pb2.LABEL_VALUE_UNSPECIFIED:
                raise BadInput("bad_label_value", f"label {event.label!r} on {item.shot_id!r} has no value")
            changed += per_video.get(category_id) != before
        return changed

    def apply_all(self, events: Iterable[events_pb2.LabelSubmitted]) -> None:
        for e in events:
            self.apply(e)

    def positives(self, video_id: str) -> set[str]:
        return {c for c, v in self.labels.get(video_id, {}).items() if v == POSITIVE}

    def negatives(self, video_id: str) -> set[str]:
        return {c for c, v in self.labels.get(video_id, {}).items() if v == NEGATIVE}
