"""Which shots each active-learning round serves the expert, and in what mix.

Round 0 (no usable labels yet): the text prompt's zero-shot top-k (60%) plus random shots (40%),
so a poor prompt cannot waste the whole first round and the batch also holds negatives.
Warm rounds (a linear model exists): mostly borderline shots (uncertainty sampling, the fastest
way to move the boundary), top positives — doubled while positives are scarce, since rare
concepts starve a classifier of positives — and some random while labels are few (< 100) so the
model sees the true catalog distribution; after that random shots only confirm easy negatives.
Tuned with ``python -m research.eval_al --seed-offset 100`` (digits one-vs-rest, other
splits than the reported ones): among the configs tried this one won at every budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from .classifier import LinearModel
from .feeds import build_feeds
from .scoring import ScoreTable


@dataclass(frozen=True)
class ActiveConfig:
    round_size: int = 25
    # cold start (zero-shot model): share of random shots next to the prompt's top-k
    cold_random: float = 0.4
    # warm rounds: shares of each feed (they are renormalised)
    borderline: float = 0.6
    top_positive: float = 0.2
    random: float = 0.2
    # positives count as scarce while below this share of the labels → top_positive share doubles
    scarce_positive_share: float = 0.2
    # once the model is decent, random shots mostly confirm easy negatives: drop them
    late_after: int = 100
    late_random: float = 0.0


def round_mix(model: LinearModel, n_pos: int, n_neg: int, cfg: ActiveConfig) -> dict[str, int]:
    """How many shots of each feed the next round serves (sums to ``cfg.round_size``)."""
    k = cfg.round_size
    if model.kind == "zero_shot":
        n_rand = round(k * cfg.cold_random)
        return {"top_positive": k - n_rand, "random": n_rand}
    top = cfg.top_positive * (2.0 if n_pos < cfg.scarce_positive_share * max(n_pos + n_neg, 1) else 1.0)
    rand = cfg.late_random if n_pos + n_neg >= cfg.late_after else cfg.random
    weights = {"borderline": cfg.borderline, "top_positive": top, "random": rand}
    total = sum(weights.values())
    counts = {f: int(k * v / total) for f, v in weights.items()}
    counts["borderline"] += k - sum(counts.values())  # rounding remainder goes to uncertainty
    return counts


def next_batch(model: LinearModel, table: ScoreTable, labelled: set[str] | frozenset[str],
               n_pos: int, n_neg: int, cfg: ActiveConfig = ActiveConfig()) -> list[str]:
    """Shot ids to show next (≤ round_size, fewer only when the catalog runs out).

    A feed that runs short is topped up from the others so the expert's round is always full.
    """
    mix = round_mix(model, n_pos, n_neg, cfg)
    feeds = build_feeds(table, cfg.round_size, exclude=labelled)
    batch: list[str] = []
    for kind, count in mix.items():
        batch.extend(feeds[kind].ids[:count])
    if len(batch) < cfg.round_size:  # top up in feed priority order
        chosen = set(batch)
        for feed in feeds.values():
            for sid in feed.ids:
                if len(batch) >= cfg.round_size:
                    break
                if sid not in chosen:
                    batch.append(sid)
                    chosen.add(sid)
    return batch[: cfg.round_size]
