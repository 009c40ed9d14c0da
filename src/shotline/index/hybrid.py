"""Hybrid search: the embedding's ranking and the words' (BM25) ranking, fused.

Reciprocal-rank fusion (Cormack et al., 2009): a shot's score is the sum over the two lists of
1 / (k + rank), k = 60, so neither list's raw scores (cosine vs BM25, incomparable) matter, only
ranks. A shot found by both rises above one found by either. "Quoted phrases" are a promise
of exactness: shots whose transcript or on-screen text holds every quoted phrase word for word
rank ahead of all others (in fused order among themselves); in keyword mode they are the only
results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import regex
import snowballstemmer

from shotline.index.model import Hit
from shotline.index.text_index import TextHit, Word, phrase_in, tokens

RRF_K = 60
_QUOTED = regex.compile(r'"([^"]*)"|“([^”]*)”')


@dataclass(frozen=True)
class ParsedQuery:
    text: str                       # for the text encoder: the query without quote marks
    words: list[str]                # every word, for BM25 and for the matched-word list
    phrases: list[list[str]]        # each quoted phrase as tokens


def parse_query(query: str) -> ParsedQuery:
    phrases = [tokens(a or b) for a, b in _QUOTED.findall(query)]
    plain = _QUOTED.sub(lambda m: f" {m.group(1) or m.group(2) or ''} ", query)
    return ParsedQuery(text=" ".join(plain.replace('"', " ").split()), words=tokens(plain),
                       phrases=[p for p in phrases if p])


_STEMMER = snowballstemmer.stemmer("english")  # Milvus' "english" analyzer stems with the same Snowball


def matched_words(words: Sequence[Word], query_words: Sequence[str]) -> list[Word]:
    """The shot's words that BM25 matched: same stem as a query word ("harbours" ~ "harbour")."""
    wanted = set(_STEMMER.stemWords(list(query_words)))
    return [w for w in words if any(s in wanted for s in _STEMMER.stemWords(tokens(w.word)))]


def holds_phrases(hit: TextHit, phrases: Sequence[Sequence[str]]) -> bool:
    said, shown = tokens(hit.transcript), tokens(hit.on_screen)
    return all(phrase_in(p, said) or phrase_in(p, shown) for p in phrases)


@dataclass
class Fused:
    video_id: str
    shot_index: int
    score: float = 0.0
    vector: Hit | None = None
    text: TextHit | None = None
    exact: bool = False

    @classmethod
    def of_vector(cls, hits: Sequence[Hit]) -> list[Fused]:
        """Vector hits as they are ranked, with their cosines (vector mode and its fallbacks)."""
        return [cls(h.video_id, h.shot_index, h.score, vector=h) for h in hits]


def fuse(vector_hits: Sequence[Hit], text_hits: Sequence[TextHit], phrases: Sequence[Sequence[str]],
         top_k: int, k: int = RRF_K) -> list[Fused]:
    by_shot: dict[tuple[str, int], Fused] = {}
    for rank, h in enumerate(vector_hits, 1):
        f = by_shot.setdefault((h.video_id, h.shot_index), Fused(h.video_id, h.shot_index))
        f.vector, f.score = h, f.score + 1.0 / (k + rank)
    for rank, t in enumerate(text_hits, 1):
        f = by_shot.setdefault((t.video_id, t.shot_index), Fused(t.video_id, t.shot_index))
        f.text, f.score = t, f.score + 1.0 / (k + rank)
        f.exact = bool(phrases) and holds_phrases(t, phrases)
    ranked = sorted(by_shot.values(), key=lambda f: (not f.exact, -f.score, f.video_id, f.shot_index))
    return ranked[:top_k]
