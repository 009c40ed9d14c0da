"""Training targets for the visual model: human labels first, text pseudo-labels for the rest.

A visual category is a pseudo-positive for a video when the (calibrated) text model gives it
probability ≥ ``pos_threshold``, a pseudo-negative below ``neg_threshold``, and unknown
(weight 0) in between. Human labels always win. Videos with no text and no human label
teach the visual model nothing and get weight 0 everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

POS_THRESHOLD = 0.5
NEG_THRESHOLD = 0.1


@dataclass
class PseudoLabelStats:
    pos_threshold: float
    neg_threshold: float
    videos: int
    human_videos: int
    pseudo_videos: int  # videos with ≥ 1 pseudo-positive and no human label
    positives: int
    human_positives: int
    pseudo_positives: int

    @property
    def human_share_of_positives(self) -> float:
        return self.human_positives / self.positives if self.positives else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "human_share_of_positives": self.human_share_of_positives}


def make_targets(text_p: np.ndarray, human_y: np.ndarray, human_known: np.ndarray,
                 pos_threshold: float = POS_THRESHOLD, neg_threshold: float = NEG_THRESHOLD,
                 ) -> tuple[np.ndarray, np.ndarray, PseudoLabelStats]:
    """All arrays [N, L] over the visual categories; ``human_known`` marks human-set entries.
    Returns (y, weight, stats)."""
    human_known = np.asarray(human_known, bool)
    pseudo_pos = text_p >= pos_threshold
    pseudo_neg = text_p < neg_threshold
    y = np.where(human_known, human_y, pseudo_pos).astype(np.float32)
    w = np.where(human_known, 1.0, np.where(pseudo_pos | pseudo_neg, 1.0, 0.0)).astype(np.float32)
    has_text = text_p.max(axis=1) > 0  # no text → the text model returns all zeros
    w[~has_text & ~human_known.any(axis=1)] = 0.0
    human_video = human_known.any(axis=1)
    hp = int((human_known & (human_y > 0)).sum())
    pp = int((~human_known & pseudo_pos).sum())
    stats = PseudoLabelStats(pos_threshold, neg_threshold, len(y), int(human_video.sum()),
                             int((~human_video & pseudo_pos.any(axis=1)).sum()), hp + pp, hp, pp)
    return y, w, stats
