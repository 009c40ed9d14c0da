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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from shotline.categories.inputs import VideoText
from shotline.taxonomy import Taxonomy

EncodeText = Callable[[list[str]], np.ndarray]
MIN_POSITIVES = 3  # per category, for the supervised model


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


class TextModel:
    """Zero-shot, plus the supervised model where it exists. Videos without text score 0."""

    def __init__(self, zero_shot: ZeroShotText, supervised: SupervisedText | None = None):
        self.zero_shot = zero_shot
        self.supervised = supervised

    def predict(self, texts: Sequence[VideoText], encode_text: EncodeText,
                embeddings: np.ndarray | None = None) -> np.ndarray:
        """[N, L] probabilities. ``embeddings`` (of ``t.joined()``) may be passed to skip encoding."""
        n_labels = self.zero_shot.E.shape[0]
        out = np.zeros((len(texts), n_labels), np.float32)
        has = [i for i, t in enumerate(texts) if t.has_text]
        if not has:
            return out
        joined = [texts[i].joined() for i in has]
        emb = embeddings[has] if embeddings is not None else encode_text(joined)
        p = self.zero_shot.proba_from_cos(self.zero_shot.cosines(emb))
        if self.supervised is not None:
            sup, covered = self.supervised.predict(joined, n_labels)
            p[:, covered] = 0.5 * (p[:, covered] + sup[:, covered])
        out[has] = p
        return out
