"""Label rules: valid label names, and folding label events into one label per shot."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shotline.errors import BadInput

LABEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


def validate_label_name(name: object) -> str:
    """Return ``name`` if it is a valid classifier label name, else raise BadInput("bad_label_name")."""
    if not isinstance(name, str) or not LABEL_NAME_RE.fullmatch(name):
        raise BadInput("bad_label_name", f"label name must match {LABEL_NAME_RE.pattern}, got {name!r:.80}")
    return name


@dataclass(frozen=True)
class LabelEvent:
    """One annotation: ``positive`` says whether shot ``shot_id`` has label ``label``, at time ``ts``."""

    label: str
    shot_id: str
    positive: bool
    ts: float

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelEvent:
        """Parse a wire event ({label, shot_id, positive, ts}); malformed → BadInput("bad_label_event")."""
        if not isinstance(d, Mapping):
            raise BadInput("bad_label_event", f"label event must be an object, got {type(d).__name__}")
        label = validate_label_name(d.get("label"))
        shot_id, positive, ts = d.get("shot_id"), d.get("positive"), d.get("ts")
        if not isinstance(shot_id, str) or not shot_id:
            raise BadInput("bad_label_event", "shot_id must be a non-empty string")
        if not isinstance(positive, bool):
            raise BadInput("bad_label_event", "positive must be a boolean")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            raise BadInput("bad_label_event", "ts must be a finite number")
        return cls(label=label, shot_id=shot_id, positive=positive, ts=float(ts))


@dataclass
class ResolvedLabels:
    """Current label per shot for one classifier; ``conflicts`` counts contradictory shots seen."""

    label: str
    labels: dict[str, bool] = field(default_factory=dict)
    ts: dict[str, float] = field(default_factory=dict)
    conflicts: int = 0

    @property
    def positives(self) -> list[str]:
        return [s for s, v in self.labels.items() if v]

    @property
    def negatives(self) -> list[str]:
        return [s for s, v in self.labels.items() if not v]


def resolve_labels(events: Iterable[LabelEvent], prior: ResolvedLabels | None = None) -> ResolvedLabels:
    """Fold a batch of events for ONE label into ``prior`` (not mutated): latest ``ts`` per shot wins.

    Equal timestamps: the later event in the batch wins. A shot given both values within
    this batch is counted once in ``conflicts`` (reported, not an error). Events for several
    labels in one call → BadInput("mixed_labels").
    """
    events = list(events)
    if prior is None:
        if not events:
            raise BadInput("no_label_events", "cannot resolve an empty batch without a prior state")
        prior = ResolvedLabels(label=validate_label_name(events[0].label))
    out = ResolvedLabels(prior.label, dict(prior.labels), dict(prior.ts), prior.conflicts)
    seen_values: dict[str, set[bool]] = {}
    for ev in events:
        if ev.label != out.label:
            raise BadInput("mixed_labels", f"batch for {out.label!r} contains label {ev.label!r}")
        seen_values.setdefault(ev.shot_id, set()).add(ev.positive)
        if ev.ts >= out.ts.get(ev.shot_id, -math.inf):
            out.labels[ev.shot_id] = ev.positive
            out.ts[ev.shot_id] = ev.ts
    out.conflicts += sum(1 for v in seen_values.values() if len(v) > 1)
    return out
