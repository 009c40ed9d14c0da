"""CLIP byte-level BPE tokenizer (OpenAI CLIP / OpenCLIP ``SimpleTokenizer``), numpy only.

Same ids as ``open_clip.tokenize`` (clean="lower", no reduction) without importing torch,
so the query service can tokenise for CLIP bundles. Needs ``regex`` (for ``\\p{L}``);
uses ``ftfy`` when installed, as open_clip does (it only changes mojibake text).
"""

from __future__ import annotations

import gzip
import html
from functools import lru_cache
from pathlib import Path

import numpy as np
import regex

try:  # ftfy repairs mis-decoded text; clean input is unchanged by it.
    from ftfy import fix_text as _fix_text
except ImportError:  # pragma: no cover - depends on the environment
    def _fix_text(text: str) -> str:
        return text

SOT, EOT = "<start_of_text>", "<end_of_text>"
_N_MERGES = 49152 - 256 - 2


@lru_cache
def _bytes_to_unicode() -> dict[int, str]:
    # Printable stand-ins for every byte so BPE never sees whitespace/control bytes.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _clean(text: str) -> str:
    text = html.unescape(html.unescape(_fix_text(text))).strip()
    return " ".join(text.split()).lower()


class ClipTokenizer:
    def __init__(self, bpe_path: str | Path, context_length: int = 77):
        merges_text = gzip.open(bpe_path).read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in merges_text[1 : _N_MERGES + 1]]
        byte_chars = list(_bytes_to_unicode().values())
        vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges] + [SOT, EOT]
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}
        self.sot_id, self.eot_id = self.encoder[SOT], self.encoder[EOT]
        self.context_length = context_length
        self._byte_encoder = _bytes_to_unicode()
        self._pat = regex.compile(
            rf"{SOT}|{EOT}|'s|'t|'re|'ve|'m|'ll|'d|[\p{{L}}]+|[\p{{N}}]|[^\s\p{{L}}\p{{N}}]+",
            regex.IGNORECASE,
        )
        self._cache: dict[str, list[str]] = {SOT: [SOT], EOT: [EOT]}

    def _bpe(self, token: str) -> list[str]:
        if token in self._cache:
            return self._cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(a, b) for a, b in zip(word, word[1:])}
            best = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if best not in self.bpe_ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._cache[token] = word
        return word

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for token in self._pat.findall(_clean(text)):
            mapped = "".join(self._byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self._bpe(mapped))
        return ids

    def __call__(self, texts: list[str], context_length: int | None = None) -> np.ndarray:
        """[len(texts), context_length] int64, zero padded; over-long text is cut and
        still ends with the end-of-text id (the graph pools at the highest id)."""
        length = context_length or self.context_length
        out = np.zeros((len(texts), length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text), self.eot_id]
            if len(ids) > length:
                ids = ids[:length]
                ids[-1] = self.eot_id
            out[row, : len(ids)] = ids
        return out
