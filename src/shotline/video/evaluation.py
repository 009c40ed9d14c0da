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


@dataclass(frozen=True)
class KindScores:
    cuts: Score
    gradual: Score
    overall: Score


def score_by_kind(detected: list[int], truth: dict, tolerance: int = 1, near: int = 12) -> KindScores:
    """F1 for hard cuts and for gradual transitions separately, on a truth dict with ``cuts``
    (first frames) and ``transitions`` ([start, end) spans).

    Detections are matched one-to-one (as ``score_boundaries``). A detection matching nothing is
    a false gradual boundary when it lies within ``near`` frames of a gradual span (a dissolve
    cut into several boundaries), otherwise a false cut."""
    spans = [(t["start"], t["end"]) for t in truth["transitions"]]
    cut_win = [(c - tolerance, c + tolerance, "cut") for c in truth["cuts"]]
    span_win = [(s - tolerance, e - 1 + tolerance, "gradual") for s, e in spans]
    unmatched = sorted(cut_win + span_win)
    tp = {"cut": 0, "gradual": 0}
    fp = {"cut": 0, "gradual": 0}
    for d in sorted(detected):
        hit = next((t for t in unmatched if t[0] <= d <= t[1]), None)
        if hit is not None:
            unmatched.remove(hit)
            tp[hit[2]] += 1
        elif any(s - near <= d < e + near for s, e in spans):
            fp["gradual"] += 1
        else:
            fp["cut"] += 1
    fn = {k: sum(1 for t in unmatched if t[2] == k) for k in tp}
    cuts, gradual = (Score(tp[k], fp[k], fn[k]) for k in ("cut", "gradual"))
    return KindScores(cuts, gradual, Score(tp["cut"] + tp["gradual"], fp["cut"] + fp["gradual"],
                                           fn["cut"] + fn["gradual"]))
