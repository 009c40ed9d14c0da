"""Scoring detected shot boundaries against ground truth (tests and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_boundaries(
    detected: list[int], cuts: list[int], spans: list[tuple[int, int]] = (), tolerance: int = 1
) -> Score:
    """One-to-one matching: a detected boundary (first frame of a new shot) matches a cut
    within ±tolerance frames, or a gradual transition [start, end) it falls inside (±tolerance)."""
    truth = [(c - tolerance, c + tolerance) for c in cuts]
    truth += [(s - tolerance, e - 1 + tolerance) for s, e in spans]
    unmatched = sorted(truth)
    tp = 0
    for d in sorted(detected):
        hit = next((t for t in unmatched if t[0] <= d <= t[1]), None)
        if hit is not None:
            unmatched.remove(hit)
            tp += 1
    return Score(tp, len(detected) - tp, len(unmatched))
