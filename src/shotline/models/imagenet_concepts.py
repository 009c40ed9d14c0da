"""Text descriptions of the 1000 ImageNet-1k classes, for mapping image logits into text space.

Class order and names come from the ``timm`` wheel (``timm/data/_info``); glosses and
hypernym chains from WordNet 3.0 ``data.noun`` (Debian ``wordnet-base``), where an ImageNet
wnid ``n02123159`` is the noun synset at byte offset 02123159.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

WORDNET_NOUNS = Path("/usr/share/wordnet/data.noun")
# Ancestors too abstract to help a query ("whole", "object" ...) end the hypernym chain.
_STOP_HYPERNYMS = {"entity", "physical entity", "abstraction", "object", "whole", "thing",
                   "matter", "physical object", "unit", "artifact", "instrumentality",
                   "living thing", "organism", "causal agent", "cause", "causal agency",
                   "group", "psychological feature", "attribute", "relation", "measure"}

Variant = Literal["name", "synonyms", "gloss", "hypernyms"]


@dataclass(frozen=True)
class Concept:
    wnid: str
    lemmas: tuple[str, ...]
    gloss: str
    hypernyms: tuple[str, ...]  # nearest first


def _timm_info(name: str) -> str:
    return (resources.files("timm") / "data" / "_info" / name).read_text()


def _parse_wordnet(path: Path) -> dict[str, tuple[list[str], list[str], str]]:
    """offset → (lemmas, hypernym offsets, gloss)."""
    synsets: dict[str, tuple[list[str], list[str], str]] = {}
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("  "):  # licence header
                continue
            data, _, gloss = line.partition(" | ")
            fields = data.split()
            offset, n_words = fields[0], int(fields[3], 16)
            lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            pos = 4 + 2 * n_words
            n_ptrs = int(fields[pos])
            ptrs = [fields[pos + 1 + 4 * i : pos + 5 + 4 * i] for i in range(n_ptrs)]
            hypers = [p[1] for p in ptrs if p[0] in ("@", "@i")]
            synsets[offset] = (lemmas, hypers, gloss.split(";")[0].strip())
    return synsets


def load_concepts(wordnet_nouns: Path = WORDNET_NOUNS, max_hypernyms: int = 6) -> list[Concept]:
    """The 1000 classes in model-output order. Without WordNet, glosses come from timm and
    hypernyms are empty."""
    wnids = _timm_info("imagenet_synsets.txt").split()
    lemma_of = dict(l.split("\t", 1) for l in _timm_info("imagenet_synset_to_lemma.txt").splitlines() if l)
    gloss_of = dict(l.split("\t", 1) for l in _timm_info("imagenet_synset_to_definition.txt").splitlines() if l)
    wn = _parse_wordnet(wordnet_nouns) if wordnet_nouns.is_file() else {}
    concepts = []
    for wnid in wnids:
        lemmas = tuple(s.strip() for s in lemma_of[wnid].split(",") if s.strip())
        chain: list[str] = []
        offset = wnid[1:]
        seen = set()
        while wn.get(offset) and wn[offset][1] and len(chain) < max_hypernyms:
            offset = wn[offset][1][0]  # first hypernym path is WordNet's primary sense path
            if offset in seen:
                break
            seen.add(offset)
            name = wn[offset][0][0]
            if name in _STOP_HYPERNYMS:
                break
            chain.append(name)
        concepts.append(Concept(wnid, lemmas, gloss_of.get(wnid, "").strip(), tuple(chain)))
    return concepts


def describe(concept: Concept, variant: Variant) -> str:
    """One sentence per class; each variant adds to the previous one."""
    text = concept.lemmas[0]
    if variant in ("synonyms", "gloss", "hypernyms") and len(concept.lemmas) > 1:
        text += " (" + ", ".join(concept.lemmas[1:4]) + ")"
    if variant in ("gloss", "hypernyms") and concept.gloss:
        text += ": " + concept.gloss
    if variant == "hypernyms" and concept.hypernyms:
        text += ". A kind of " + ", ".join(concept.hypernyms) + "."
    return text
