"""Text category model: zero-shot from day one, supervised once labelled metadata exists.

Zero-shot: cosine between the video's text embedding and each category's "name: description"
embedding (MiniLM, the joint space). MiniLM was trained on English: other languages only work
through shared sub-words, names and loanwords, so non-English text scores lower and gets
fewer categories — the supervised model below is the language-agnostic remedy.
Cosines are mapped to probabilities by a small logistic calibration fitted on labelled
validation data (features: cosine, gap to the best category, is-best), pooled over categories.

Supervised: character n-gram TF-IDF (``char_wb`` 2–4) + one-vs-rest logistic regression,
trained per category that has enough human-labelled positives; its probabilities are
averaged with the zero-shot ones (few labels → keep the prior's knowledge).

Sources: a video's text comes from its uploader (title, description, metadata), from what is said
(the transcriber's speech recognition) and from what is shown (its OCR). Each source is scored on
its own by the calibrated zero-shot (long transcripts as the mean of 64-word windows, so no part is
truncated away), then ``TextBlend`` adds their evidence in log-odds with a weight per source,
learned by logistic regression on labelled validation videos that have the sources (``fit``);
until such videos exist the defaults hold: the uploader's text alone scores exactly as before,
spoken and on-screen text count 0.7 as much (machine-made, noisier, often off-topic).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from shotline.categories.inputs import SOURCES, VideoText
from shotline.models import l2_normalize
from shotline.taxonomy import Taxonomy

EncodeText = Callable[[list[str]], np.ndarray]
MIN_POSITIVES = 3  # per category, for the supervised model
WINDOW_WORDS = 64   # a spoken/on-screen text is embedded in windows of this many words (MiniLM truncates)
MAX_WINDOWS = 32    # at most this many windows per video (~2,000 words)
DEFAULT_WEIGHTS = {"metadata": 1.0, "speech": 0.7, "on_screen": 0.7}
_EPS = 1e-6


def category_prompts(taxonomy: Taxonomy) -> list[str]:
    return [f"{c.name}: {c.description}" for c in taxonomy.categories]


def _zs_features(cos: np.ndarray) -> np.ndarray:
    """[N, L] cosines → [N*L, 3] calibration features."""
    top = cos.max(axis=1, keepdims=True)
    return np.stack([cos, cos - top, (cos >= top).astype(np.float32)], axis=-1).reshape(-1, 3)


class ZeroShotText:
    def __init__(self, category_embeddings: np.ndarray, calib: tuple[list[float], float] | None = None):
        self.E = np.asarray(category_embeddings, np.float32)  # [L, d], L2-normalised
        # Uncalibrated default: a steep sigmoid around a MiniLM "clearly related" cosine.
        self.coef, self.intercept = calib if calib else ([25.0, 0.0, 0.0], -25.0 * 0.45)

    @classmethod
    def build(cls, taxonomy: Taxonomy, encode_text: EncodeText) -> ZeroShotText:
        return cls(encode_text(category_prompts(taxonomy)))

    def cosines(self, text_embeddings: np.ndarray) -> np.ndarray:
        return np.asarray(text_embeddings, np.float32) @ self.E.T

    def proba_from_cos(self, cos: np.ndarray) -> np.ndarray:
        z = _zs_features(cos) @ np.asarray(self.coef, np.float32) + self.intercept
        return (1.0 / (1.0 + np.exp(-z))).reshape(cos.shape).astype(np.float32)

    def calibrate(self, cos: np.ndarray, y: np.ndarray) -> None:
        """Fit the logistic calibration on labelled validation cosines [N, L] / labels {0,1}."""
        X, t = _zs_features(cos), np.asarray(y).reshape(-1)
        if t.min() == t.max():
            return  # one class only: keep the default
        lr = LogisticRegression(C=1.0, max_iter=1000).fit(X, t)
        self.coef, self.intercept = lr.coef_[0].tolist(), float(lr.intercept_[0])


class SupervisedText:
    """Char n-gram TF-IDF + one logistic regression per category with enough positives."""

    def __init__(self) -> None:
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                                          min_df=2, max_features=100_000, lowercase=True)
        self.models: dict[int, LogisticRegression] = {}  # category column → model

    def fit(self, texts: Sequence[str], y: np.ndarray, known: np.ndarray | None = None) -> SupervisedText:
        """``y`` [N, L] {0,1}; ``known`` [N, L] bool marks labels a human set (others ignored)."""
        y = np.asarray(y)
        known = np.ones_like(y, bool) if known is None else np.asarray(known, bool)
        X = self.vectorizer.fit_transform(list(texts))
        for j in range(y.shape[1]):
            rows = known[:, j]
            yj = y[rows, j]
            if yj.sum() < MIN_POSITIVES or (1 - yj).sum() < MIN_POSITIVES:
                continue
            self.models[j] = LogisticRegression(C=4.0, class_weight="balanced", max_iter=1000).fit(X[rows], yj)
        return self

    def predict(self, texts: Sequence[str], n_labels: int) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [N, L], covered [L] bool)."""
        out = np.zeros((len(texts), n_labels), np.float32)
        covered = np.zeros(n_labels, bool)
        if not self.models or not texts:
            return out, covered
        X = self.vectorizer.transform(list(texts))
        for j, m in self.models.items():
            out[:, j] = m.predict_proba(X)[:, 1]
            covered[j] = True
        return out, covered


def embed_documents(texts: Sequence[str], encode_text: EncodeText) -> np.ndarray:
    """[N, d] one embedding per (long) text: the re-normalised mean of its 64-word windows."""
    pieces: list[str] = []
    owner: list[int] = []
    for i, t in enumerate(texts):
        words = t.split()[: WINDOW_WORDS * MAX_WINDOWS]
        for k in range(0, len(words), WINDOW_WORDS):
            pieces.append(" ".join(words[k:k + WINDOW_WORDS]))
            owner.append(i)
    emb = np.asarray(encode_text(pieces), np.float32)
    out = np.zeros((len(texts), emb.shape[1]), np.float32)
    np.add.at(out, np.asarray(owner), emb)
    return l2_normalize(out)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class TextBlend:
    """A video's text probability from its sources: z = b + Σ_s w_s · logit(p_s), over the sources
    it has (evidence adds up in log-odds, as independent cues would)."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    intercept: float = 0.0
    learned_from: int = 0  # validation videos with spoken or on-screen text it was fitted on (0: defaults)

    def combine(self, probs: Mapping[str, tuple[np.ndarray, np.ndarray]], n: int, n_labels: int) -> np.ndarray:
        """``probs``: source → (rows, [len(rows), L] probabilities). Rows with no source score 0."""
        z = np.full((n, n_labels), self.intercept, np.float64)
        count = np.zeros(n, int)
        for src, (rows, p) in probs.items():
            z[rows] += self.weights.get(src, 0.0) * _logit(np.asarray(p, np.float64))
            count[rows] += 1
        out = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        out[count == 0] = 0.0
        if "metadata" in probs and self.weights.get("metadata") == 1.0 and self.intercept == 0.0:
            rows, p = probs["metadata"]  # the uploader's text alone: its probability, unchanged
            alone = np.asarray([count[r] == 1 for r in rows], bool)
            out[np.asarray(rows)[alone]] = np.asarray(p, np.float32)[alone]
        return out

    @classmethod
    def fit(cls, probs: Mapping[str, tuple[np.ndarray, np.ndarray]], n: int, y: np.ndarray) -> TextBlend | None:
        """Learn the weights on labelled videos (``y`` [n, L] {0,1}); None when no video has a
        source beyond the uploader's text or the labels hold one class only."""
        y = np.asarray(y)
        spoken = np.zeros(n, bool)
        for src, (rows, _p) in probs.items():
            if src != "metadata":
                spoken[np.asarray(rows, int)] = True
        if not spoken.any() or y.min() == y.max():
            return None
        names = [s for s in SOURCES if s in probs]
        X = np.zeros((n, y.shape[1], len(names)), np.float64)
        for k, src in enumerate(names):
            rows, p = probs[src]
            X[np.asarray(rows, int), :, k] = _logit(np.asarray(p, np.float64))
        lr = LogisticRegression(C=1.0, max_iter=1000).fit(X.reshape(-1, len(names)), y.reshape(-1))
        weights = dict(DEFAULT_WEIGHTS) | {s: float(w) for s, w in zip(names, lr.coef_[0], strict=True)}
        return cls(weights, float(lr.intercept_[0]), int(spoken.sum()))

    def to_json(self) -> dict:
        return {"weights": self.weights, "intercept": self.intercept, "learned_from": self.learned_from}

    @classmethod
    def from_json(cls, doc: Mapping) -> TextBlend:
        return cls(dict(doc["weights"]), float(doc["intercept"]), int(doc.get("learned_from", 0)))


class TextModel:
    """Zero-shot per text source (plus the supervised model on the uploader's text where it
    exists), blended across sources. Videos without any text score 0."""

    def __init__(self, zero_shot: ZeroShotText, supervised: SupervisedText | None = None,
                 blend: TextBlend | None = None):
        self.zero_shot = zero_shot
        self.supervised = supervised
        self.blend = blend or TextBlend()

    def source_probabilities(self, texts: Sequence[VideoText], encode_text: EncodeText,
                             embeddings: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """source → (rows that have it, [rows, L] probabilities). ``embeddings`` (of ``t.joined()``,
        one row per video) may be passed to skip encoding the uploader's text."""
        n_labels = self.zero_shot.E.shape[0]
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        sources = [t.sources() for t in texts]
        for src in SOURCES:
            rows = np.array([i for i, s in enumerate(sources) if src in s], int)
            if not len(rows):
                continue
            docs = [sources[i][src] for i in rows]
            if src == "metadata":
                emb = embeddings[rows] if embeddings is not None else encode_text(docs)
            else:
                emb = embed_documents(docs, encode_text)
            p = self.zero_shot.proba_from_cos(self.zero_shot.cosines(emb))
            if src == "metadata" and self.supervised is not None:
                sup, covered = self.supervised.predict(docs, n_labels)
                p[:, covered] = 0.5 * (p[:, covered] + sup[:, covered])
            out[src] = (rows, p)
        return out

    def predict(self, texts: Sequence[VideoText], encode_text: EncodeText,
                embeddings: np.ndarray | None = None) -> np.ndarray:
        """[N, L] probabilities."""
        probs = self.source_probabilities(texts, encode_text, embeddings)
        return self.blend.combine(probs, len(texts), self.zero_shot.E.shape[0])
