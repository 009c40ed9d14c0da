"""Real-time category classification of one video (and batches, for backfill) + persistence.

``CategoryService.classify`` runs the text model (one MiniLM encode), the visual model (one
ONNX Runtime call over the video's shots) and the merge; well under 100 ms per video on CPU.
An artefact directory holds everything needed to serve: ``manifest.json`` (versions,
thresholds, calibration, meta-classifier), ``category_embeddings.npy``, ``visual.onnx`` and
``text_supervised.pkl`` (present once labelled metadata exists).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from shotline.categories import merge
from shotline.categories.human import HumanAdapter
from shotline.categories.human import features as adapter_features
from shotline.categories.inputs import META_DIM, VideoText, meta_features
from shotline.categories.text_model import SupervisedText, TextBlend, TextModel, ZeroShotText
from shotline.categories.visual_model import OrtVisualModel
from shotline.errors import BadInput
from shotline.models import l2_normalize
from shotline.taxonomy import Taxonomy, load_taxonomy

ARTEFACT_FORMAT = 1
MANIFEST = "manifest.json"
Policy = Literal["union", "meta"]
EncodeText = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class CategoryHit:
    id: str
    name: str
    score: float
    threshold: float
    source: str  # "text" | "visual" | "merged"


@dataclass
class CategoryResult:
    video_id: str
    categories: list[CategoryHit]
    taxonomy_version: str
    model_versions: dict[str, str]
    notes: list[str] = field(default_factory=list)  # e.g. "no_shots", "no_text"


@dataclass
class Request:
    """One video to classify. ``shot_vectors``: head → [n_shots, dim]."""

    video_id: str
    shot_vectors: Mapping[str, np.ndarray]
    text: VideoText = field(default_factory=VideoText)
    duration_ms: int = 0
    catalog_id: str = ""


@dataclass
class Scores:
    text: np.ndarray  # [N, L] over all categories
    visual: np.ndarray  # [N, L]; 0 for non-visual categories and videos without shots
    has_text: np.ndarray  # [N] bool
    has_shots: np.ndarray  # [N] bool
    features: np.ndarray | None = None  # [N, D] the human adapter's inputs (only when the model has one)


@dataclass
class CategoryModels:
    """Everything trained; ``CategoryService`` adds the text encoder and serves it."""

    taxonomy: Taxonomy
    zero_shot: ZeroShotText
    supervised: SupervisedText | None
    visual_onnx: bytes | None
    visual_kind: str
    head: str
    thresholds: dict[str, merge.Thresholds]  # "text", "visual", "meta"
    meta: merge.MetaClassifier | None
    policy: Policy = "union"
    # Visual zero-shot: the video's mean joint-space shot vector against the category prompts
    # (same embeddings as the text zero-shot, own calibration). Day-one visual signal; averaged
    # with the trained visual model once one exists.
    visual_zero_shot: ZeroShotText | None = None
    info: dict = field(default_factory=dict)  # training report (pseudo-label stats, data)
    # Residual heads learnt from people's category labels (``categories.human``), on top of the rest.
    adapter: HumanAdapter | None = None
    # How the text sources (uploader's text, speech, on-screen text) add up; None: the defaults.
    text_blend: TextBlend | None = None


class CategoryService:
    def __init__(self, models: CategoryModels, encode_text: EncodeText, text_model_id: str = "minilm"):
        self.m = models
        self.tax = models.taxonomy
        self.encode_text = encode_text
        self.text_model = TextModel(models.zero_shot, models.supervised, models.text_blend)
        self.visual = OrtVisualModel(models.visual_onnx) if models.visual_onnx else None
        self.visual_cols = np.array([self.tax[c].visual for c in self.tax.ids], bool)
        self._vis_idx = np.flatnonzero(self.visual_cols)
        self.version = _version(models)
        self.model_versions = {
            "categories": self.version, "text_encoder": text_model_id,
            "text": "zero_shot+supervised" if models.supervised else "zero_shot",
            "visual": "+".join(([f"{models.visual_kind}:{models.head}"] if self.visual else [])
                               + (["zero_shot:joint"] if models.visual_zero_shot else [])) or "none",
            "policy": models.policy,
        }
        if models.adapter is not None:
            self.model_versions["human_labels"] = f"release {models.adapter.release}: {len(models.adapter.category_ids)} categories"
        self._t = {k: v.as_array(self.tax.ids) for k, v in models.thresholds.items()}
        col = {c: j for j, c in enumerate(self.tax.ids)}
        ad = models.adapter
        self._adapted = np.array([col[c] for c in ad.category_ids], int) if ad is not None else np.zeros(0, int)
        # Deepest first, so a grandchild's hit reaches its grandparent through the parent.
        self._up = sorted(((j, col[c.parent]) for j, c in enumerate(self.tax.categories) if c.parent),
                          key=lambda jp: -len(self.tax.ancestors(self.tax.ids[jp[0]])))

    # -- scoring ------------------------------------------------------------------------
    def scores(self, requests: Sequence[Request]) -> Scores:
        n, L = len(requests), len(self.tax)
        texts = [r.text for r in requests]
        emb = None
        if self.m.adapter is not None:  # the adapter reads the text embedding too: encode once
            d = self.m.zero_shot.E.shape[1]
            emb = np.zeros((n, d), np.float32)
            has = [i for i, t in enumerate(texts) if t.joined()]
            if has:
                emb[has] = self.encode_text([texts[i].joined() for i in has])
        text_p = self.text_model.predict(texts, self.encode_text, embeddings=emb)
        visual_p = np.zeros((n, L), np.float32)
        vids: list[np.ndarray] = []
        keep: list[int] = []
        for i, r in enumerate(requests):
            if self.visual is None:
                break
            if self.m.head not in r.shot_vectors:
                raise BadInput("missing_head", f"{r.video_id}: no {self.m.head!r} shot vectors")
            v = np.asarray(r.shot_vectors[self.m.head], np.float32)
            if v.ndim != 2 or v.shape[1] != self.visual.dim:
                raise BadInput("bad_shot_vectors", f"{r.video_id}: expected [n, {self.visual.dim}], got {list(v.shape)}")
            if not np.isfinite(v).all():
                raise BadInput("bad_shot_vectors", f"{r.video_id}: shot vectors contain NaN/inf")
            if len(v):
                vids.append(v)
                keep.append(i)
        if keep:
            meta = np.stack([meta_features(requests[i].text.language, requests[i].duration_ms, requests[i].catalog_id)
                             for i in keep])
            visual_p[np.ix_(keep, self._vis_idx)] = self.visual.predict(vids, meta)
        has_shots = np.zeros(n, bool)
        has_shots[keep] = True
        zs_rows, zs_p = self.visual_zero_shot_scores(requests)
        if len(zs_rows):
            both = has_shots[zs_rows]
            rows_both, rows_zs = zs_rows[both], zs_rows[~both]
            visual_p[np.ix_(rows_both, self._vis_idx)] = 0.5 * (visual_p[np.ix_(rows_both, self._vis_idx)] + zs_p[both])
            visual_p[np.ix_(rows_zs, self._vis_idx)] = zs_p[~both]
            has_shots[zs_rows] = True
        feats = None
        if emb is not None:
            pooled = np.zeros_like(emb)
            for i, r in enumerate(requests):
                v = r.shot_vectors.get("joint")
                if v is not None and len(v) and np.asarray(v).shape[1] == emb.shape[1]:
                    pooled[i] = np.asarray(v, np.float32).mean(axis=0)
            feats = adapter_features(pooled, emb)
        return Scores(text_p, visual_p, np.array([t.has_text for t in texts], bool), has_shots, feats)

    def visual_zero_shot_scores(self, requests: Sequence[Request]) -> tuple[np.ndarray, np.ndarray]:
        """(rows with joint shot vectors, [rows, n visual categories] calibrated probabilities)."""
        vzs = self.m.visual_zero_shot
        if vzs is None:
            return np.zeros(0, int), np.zeros((0, len(self._vis_idx)), np.float32)
        rows, pooled = [], []
        for i, r in enumerate(requests):
            v = r.shot_vectors.get("joint")
            if v is None or len(v) == 0:
                continue
            v = np.asarray(v, np.float32)
            if v.ndim != 2 or v.shape[1] != vzs.E.shape[1] or not np.isfinite(v).all():
                raise BadInput("bad_shot_vectors", f"{r.video_id}: joint vectors must be finite [n, {vzs.E.shape[1]}]")
            rows.append(i)
            pooled.append(l2_normalize(v.mean(axis=0)))
        if not rows:
            return np.zeros(0, int), np.zeros((0, len(self._vis_idx)), np.float32)
        return np.array(rows), vzs.proba_from_cos(np.stack(pooled) @ vzs.E.T)

    def select(self, s: Scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(selected [N,L] bool, score [N,L], threshold [N,L]) under the service's policy."""
        tt, tv = self._union_t()
        ft, fv = s.text >= tt, s.visual >= tv
        if self.m.policy == "meta" and self.m.meta is not None:
            score = self.m.meta.predict(s.text, s.visual, s.has_text, self.visual_cols)
            thr = np.broadcast_to(self._t["meta"], score.shape).copy()
            sel = score >= thr
        else:
            sel, score = merge.union(s.text, s.visual, tt, tv)
            thr = np.where(ft, tt, tv)
        if len(self._adapted) and s.features is not None:
            cols = self._adapted
            p = self.m.adapter.predict(s.features, self.base_proba(s)[:, cols])
            t = self.m.adapter.threshold_array(self.base_thresholds()[cols])
            sel, score, thr = sel.copy(), score.copy(), thr.copy()
            sel[:, cols], score[:, cols], thr[:, cols] = p >= t, np.where(p >= t, p, 0.0), np.broadcast_to(t, p.shape)
        return self._close_upwards(sel, score, thr)

    def base_proba(self, s: Scores) -> np.ndarray:
        """[N, L] the probability the policy thresholds, before any human adapter: the
        meta-classifier's, or the larger of the text and visual ones (union)."""
        if self.m.policy == "meta" and self.m.meta is not None:
            return self.m.meta.predict(s.text, s.visual, s.has_text, self.visual_cols)
        return np.maximum(s.text, s.visual)

    def base_thresholds(self) -> np.ndarray:
        """[L] the threshold of ``base_proba`` per category (union: the lower of the two models')."""
        if self.m.policy == "meta" and self.m.meta is not None:
            return self._t["meta"]
        tt, tv = self._union_t()
        return np.minimum(tt, tv)

    def _union_t(self) -> tuple[np.ndarray, np.ndarray]:
        """Union thresholds (fall back to the single-model ones for older artefacts)."""
        return self._t.get("union_text", self._t["text"]), self._t.get("union_visual", self._t["visual"])

    def _close_upwards(self, sel: np.ndarray, score: np.ndarray, thr: np.ndarray) -> tuple[np.ndarray, ...]:
        """A video in "Pets > Cats" is in "Pets": selected categories pull in their ancestors
        (score: the best selected child's, when the parent did not clear its own threshold)."""
        sel, score, thr = sel.copy(), score.copy(), thr.copy()
        for j, p in self._up:
            pull = sel[:, j] & ~sel[:, p]
            score[pull, p], thr[pull, p] = score[pull, j], thr[pull, j]
            sel[:, p] |= sel[:, j]
        return sel, score, thr

    # -- API ------------------------------------------------------------------------------
    def classify(self, video_id: str, shot_vectors: Mapping[str, np.ndarray], text: VideoText | None = None,
                 duration_ms: int = 0, catalog_id: str = "") -> CategoryResult:
        return self.classify_batch([Request(video_id, shot_vectors, text or VideoText(), duration_ms, catalog_id)])[0]

    def classify_batch(self, requests: Sequence[Request]) -> list[CategoryResult]:
        if not requests:
            return []
        s = self.scores(requests)
        sel, score, thr = self.select(s)
        tt, tv = self._union_t()
        ft, fv = s.text >= tt, s.visual >= tv
        adapted = np.zeros(len(self.tax), bool)
        adapted[self._adapted] = True
        out = []
        for i, r in enumerate(requests):
            hits = []
            for j in np.flatnonzero(sel[i]):
                source = "merged" if (ft[i, j] and fv[i, j]) or not (ft[i, j] or fv[i, j]) else ("text" if ft[i, j] else "visual")
                if adapted[j]:
                    source = "adapted"  # decided by the heads learnt from people's labels
                c = self.tax.categories[j]
                hits.append(CategoryHit(c.id, c.name, float(score[i, j]), float(thr[i, j]), source))
            hits.sort(key=lambda h: -h.score)
            notes = [n for n, bad in (("no_text", not s.has_text[i]), ("no_shots", not s.has_shots[i])) if bad]
            out.append(CategoryResult(r.video_id, hits, self.tax.version, dict(self.model_versions), notes))
        return out

    # -- persistence ----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        return save_models(self.m, directory)

    @classmethod
    def load(cls, directory: str | Path, encode_text: EncodeText, taxonomy: Taxonomy | None = None,
             text_model_id: str = "minilm") -> CategoryService:
        return cls(load_models(directory, taxonomy), encode_text, text_model_id)


def _version(m: CategoryModels) -> str:
    """Content hash of what shapes the predictions, so equal models get equal versions."""
    h = hashlib.sha256()
    h.update(json.dumps(_manifest(m), sort_keys=True).encode())
    h.update(m.zero_shot.E.tobytes())
    h.update(m.visual_onnx or b"")
    if m.supervised is not None:
        h.update(pickle.dumps(sorted(m.supervised.models)))
    if m.adapter is not None:
        h.update(m.adapter.weights_bytes())
        # The release (a Redis INCR) names the deploy; the hash names the content.
        return f"h{m.adapter.release}-{h.hexdigest()[:12]}"
    return h.hexdigest()[:12]


def _manifest(m: CategoryModels) -> dict:
    return {
        "format": ARTEFACT_FORMAT, "taxonomy_version": m.taxonomy.version, "category_ids": m.taxonomy.ids,
        "head": m.head, "visual_kind": m.visual_kind, "policy": m.policy,
        "zero_shot_calibration": {"coef": list(m.zero_shot.coef), "intercept": m.zero_shot.intercept},
        "thresholds": {k: v.to_json() for k, v in m.thresholds.items()},
        "meta": None if m.meta is None else {"coef": m.meta.coef, "intercept": m.meta.intercept},
        "visual_zero_shot_calibration": None if m.visual_zero_shot is None else {
            "coef": list(m.visual_zero_shot.coef), "intercept": m.visual_zero_shot.intercept},
        **({"human_adapter": m.adapter.manifest()} if m.adapter is not None else {}),
        **({"text_blend": m.text_blend.to_json()} if m.text_blend is not None else {}),
    }


def save_models(m: CategoryModels, directory: str | Path) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "category_embeddings.npy", m.zero_shot.E)
    if m.visual_zero_shot is not None:  # its rows may be exemplar prototypes, not the prompts
        np.save(d / "visual_zero_shot_embeddings.npy", m.visual_zero_shot.E)
    if m.visual_onnx:
        (d / "visual.onnx").write_bytes(m.visual_onnx)
    if m.supervised is not None:
        (d / "text_supervised.pkl").write_bytes(pickle.dumps(m.supervised))
    if m.adapter is not None:
        m.adapter.save(d)
    doc = {**_manifest(m), "version": _version(m), "info": m.info}
    (d / MANIFEST).write_text(json.dumps(doc, indent=1, default=float) + "\n")
    return d


def artefact_bytes(m: CategoryModels) -> bytes:
    """The artefact directory as one tar (what the trainer stores in the blob store)."""
    import io
    import tarfile
    import tempfile

    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="shotline-categories-") as tmp:
        save_models(m, tmp)
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for p in sorted(Path(tmp).iterdir()):
                tar.add(p, arcname=p.name)
    return buf.getvalue()


def models_from_bytes(data: bytes, taxonomy: Taxonomy | None = None) -> CategoryModels:
    """The inverse of ``artefact_bytes``."""
    import io
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory(prefix="shotline-categories-") as tmp:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
                tar.extractall(tmp, filter="data")
        except tarfile.TarError as e:
            raise BadInput("bad_category_artefact", f"not a category artefact: {e}") from e
        return load_models(tmp, taxonomy)


def load_models(directory: str | Path, taxonomy: Taxonomy | None = None) -> CategoryModels:
    d = Path(directory)
    try:
        doc = json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise BadInput("bad_category_artefact", f"cannot read {d / MANIFEST}: {e}") from e
    if doc.get("format") != ARTEFACT_FORMAT:
        raise BadInput("bad_category_artefact", f"unsupported artefact format {doc.get('format')!r}")
    tax = taxonomy or load_taxonomy()
    if tax.version != doc["taxonomy_version"] or tax.ids != doc["category_ids"]:
        raise BadInput("taxonomy_mismatch", f"artefact was trained on {doc['taxonomy_version']}, given {tax.version}")
    cal = doc["zero_shot_calibration"]
    sup_path = d / "text_supervised.pkl"
    # Pickle is only read from our own artefact directory (written by save_models).
    supervised = pickle.loads(sup_path.read_bytes()) if sup_path.is_file() else None
    onnx_path = d / "visual.onnx"
    meta = doc.get("meta")
    vcal = doc.get("visual_zero_shot_calibration")
    E = np.load(d / "category_embeddings.npy")
    visual_ids = np.array([c.visual for c in tax.categories], bool)
    return CategoryModels(
        taxonomy=tax, zero_shot=ZeroShotText(np.load(d / "category_embeddings.npy"), (cal["coef"], cal["intercept"])),
        supervised=supervised, visual_onnx=onnx_path.read_bytes() if onnx_path.is_file() else None,
        visual_kind=doc["visual_kind"], head=doc["head"],
        thresholds={k: merge.Thresholds.from_json(v) for k, v in doc["thresholds"].items()},
        meta=merge.MetaClassifier(meta["coef"], meta["intercept"]) if meta else None,
        policy=doc["policy"], info=doc.get("info", {}),
        visual_zero_shot=ZeroShotText(np.load(d / "visual_zero_shot_embeddings.npy") if (d / "visual_zero_shot_embeddings.npy").is_file()
                                      else E[visual_ids], (vcal["coef"], vcal["intercept"])) if vcal else None,
        adapter=HumanAdapter.load(d),
        text_blend=TextBlend.from_json(doc["text_blend"]) if doc.get("text_blend") else None,
    )


__all__ = ["CategoryHit", "CategoryModels", "CategoryResult", "CategoryService", "META_DIM", "Request",
           "Scores", "artefact_bytes", "load_models", "models_from_bytes", "save_models"]
