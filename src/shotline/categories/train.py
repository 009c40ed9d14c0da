"""Fit the whole category stack from labelled/unlabelled videos.

1. zero-shot text model, calibrated on the (human-labelled) validation videos;
2. supervised text model on the human-labelled training videos' text;
3. visual targets: human labels + text pseudo-labels (``pseudo.make_targets``) on visual categories;
4. visual model (mean-pool or NeXtVLAD), exported to ONNX — serving and validation use ORT;
5. per-model thresholds at ≥ 80% precision on validation, the meta-classifier and its thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shotline.categories import exemplars, merge, pseudo
from shotline.categories import visual_model as vm
from shotline.categories.inputs import META_DIM, meta_features
from shotline.categories.service import CategoryModels, CategoryService, EncodeText, Policy, Request
from shotline.categories.text_model import SupervisedText, TextBlend, TextModel, ZeroShotText
from shotline.errors import BadInput
from shotline.models import l2_normalize
from shotline.taxonomy import Taxonomy


@dataclass
class Example:
    request: Request
    labels: frozenset[str]  # positive category ids (ground truth, hierarchy-closed)


def label_matrix(examples: Sequence[Example], ids: list[str]) -> np.ndarray:
    col = {c: j for j, c in enumerate(ids)}
    y = np.zeros((len(examples), len(ids)), np.float32)
    for i, e in enumerate(examples):
        for c in e.labels:
            y[i, col[c]] = 1.0
    return y


def _visual_zero_shot(zs: ZeroShotText, val: Sequence[Example], y_val: np.ndarray, vis: np.ndarray) -> ZeroShotText | None:
    """The visual zero-shot model, calibrated on validation videos that have joint-space shots."""
    rows = [i for i, e in enumerate(val) if len(e.request.shot_vectors.get("joint", ()))]
    if not rows:
        return None
    vzs = ZeroShotText(zs.E[vis])
    pooled = l2_normalize(np.stack([val[i].request.shot_vectors["joint"].mean(axis=0) for i in rows]))
    vzs.calibrate(pooled @ vzs.E.T, y_val[rows][:, vis])
    return vzs


def fit(taxonomy: Taxonomy, encode_text: EncodeText, train: Sequence[Example], val: Sequence[Example],
        human: set[str], *, head: str = "joint", kind: str = "nextvlad", policy: Policy = "meta",
        pos_threshold: float = pseudo.POS_THRESHOLD, cfg: vm.TrainConfig | None = None,
        zero_shot: ZeroShotText | None = None, visual_zero_shot: bool = True) -> tuple[CategoryService, dict]:
    """``human``: ids of training videos whose labels a person set (the rest get pseudo-labels)."""
    if not train or not val:
        raise BadInput("no_training_data", "need training and validation videos")
    ids = taxonomy.ids
    vis = np.array([taxonomy[c].visual for c in ids], bool)
    y_tr, y_val = label_matrix(train, ids), label_matrix(val, ids)
    zs = zero_shot or ZeroShotText.build(taxonomy, encode_text)
    val_texts = [e.request.text for e in val]
    has_val = np.array([bool(t.joined()) for t in val_texts])
    if has_val.any():
        zs.calibrate(zs.cosines(encode_text([t.joined() for t, h in zip(val_texts, has_val) if h])), y_val[has_val])
    is_human = np.array([e.request.video_id in human for e in train])
    sup_rows = [i for i in np.flatnonzero(is_human) if train[i].request.text.joined()]
    supervised = None
    if sup_rows:
        supervised = SupervisedText().fit([train[i].request.text.joined() for i in sup_rows], y_tr[sup_rows])
        supervised = supervised if supervised.models else None
    # The sources' weights, from validation videos that carry spoken or on-screen text (else defaults).
    blend = TextBlend.fit(TextModel(zs, supervised).source_probabilities(val_texts, encode_text), len(val), y_val)
    text = TextModel(zs, supervised, blend)
    text_tr = text.predict([e.request.text for e in train], encode_text)
    known = np.repeat(is_human[:, None], vis.sum(), axis=1)
    y_vis, w_vis, stats = pseudo.make_targets(text_tr[:, vis], y_tr[:, vis], known, pos_threshold)
    dims = {e.request.shot_vectors[head].shape[1] for e in train}
    if len(dims) != 1:
        raise BadInput("bad_shot_vectors", f"training videos disagree on the {head!r} dimension: {sorted(dims)}")
    usable = [i for i, e in enumerate(train) if len(e.request.shot_vectors[head]) and w_vis[i].any()]
    model = vm.build(kind, dim=dims.pop(), n_labels=int(vis.sum()), meta_dim=META_DIM)
    meta_tr = np.stack([meta_features(e.request.text.language, e.request.duration_ms, e.request.catalog_id) for e in train])
    vm.train(model, [train[i].request.shot_vectors[head] for i in usable], meta_tr[usable], y_vis[usable], w_vis[usable], cfg)
    models = CategoryModels(taxonomy, zs, supervised, vm.export_onnx(model), kind, head,
                            thresholds={k: merge.Thresholds() for k in ("text", "visual", "meta")}, meta=None, policy=policy,
                            visual_zero_shot=_visual_zero_shot(zs, val, y_val, vis) if visual_zero_shot else None,
                            text_blend=blend)
    svc = CategoryService(models, encode_text)
    s = svc.scores([e.request for e in val])
    models.thresholds["text"] = merge.pick_thresholds(s.text, y_val, ids)
    models.thresholds["visual"] = merge.pick_thresholds(s.visual, y_val, ids, applicable=vis)
    models.thresholds["union_text"], models.thresholds["union_visual"] = merge.union_thresholds(
        s.text, s.visual, y_val, ids, models.thresholds["text"], models.thresholds["visual"])
    models.meta = merge.MetaClassifier().fit(s.text, s.visual, s.has_text, vis, y_val)
    models.thresholds["meta"] = merge.pick_thresholds(models.meta.predict(s.text, s.visual, s.has_text, vis), y_val, ids)
    pseudo_pos = (y_vis > 0) & ~known
    # Training videos carry ground truth only in benchmarks; there it measures pseudo-label quality.
    truth = y_tr[:, vis] > 0
    pseudo_precision = float((pseudo_pos & truth).sum() / max(1, pseudo_pos.sum()))
    models.info = {"pseudo_labels": {**stats.to_json(), "precision_vs_truth": pseudo_precision}, "train_videos": len(train), "val_videos": len(val),
                   "visual_training_videos": len(usable), "supervised_text_categories": len(supervised.models) if supervised else 0,
                   "text_blend": blend.to_json() if blend else "defaults (no validation video with spoken or on-screen text)"}
    svc = CategoryService(models, encode_text)  # re-created: thresholds and version changed
    svc.torch_model = model  # kept for the torch-vs-ORT check and the eager baseline of the bench
    return svc, models.info


def day_one(taxonomy: Taxonomy, encode_text: EncodeText, threshold: float = 0.9,
            text_model_id: str = "minilm", visual_exemplars: Path | None = exemplars.DEFAULT_PATH) -> CategoryService:
    """A service before any labels exist: text and visual zero-shot with default calibration
    and one conservative threshold for every category (nothing validated it: precision is
    unknown until a labelled validation set exists; then use ``fit``). The visual zero-shot
    uses the labelled visual exemplars and their validated thresholds where the packaged
    file has them (``exemplars``; ``visual_exemplars=None``: prompts only)."""
    zs = ZeroShotText.build(taxonomy, encode_text)
    vis = np.array([c.visual for c in taxonomy.categories], bool)
    flat = merge.Thresholds({c: threshold for c in taxonomy.ids})
    flat_vis = merge.Thresholds({c: threshold for c, v in zip(taxonomy.ids, vis) if v})
    vzs, info = ZeroShotText(zs.E[vis]), {"day_one": True, "threshold": threshold}
    ex = exemplars.apply(zs.E[vis], [c for c, v in zip(taxonomy.ids, vis) if v], threshold, visual_exemplars)
    if ex is not None:
        vzs, vis_t, info["visual_exemplars"] = ex
        flat_vis = merge.Thresholds({c: t for c, t in vis_t.items() if np.isfinite(t)},
                                    {c: "precision_below_0.80" for c, t in vis_t.items() if not np.isfinite(t)})
    models = CategoryModels(taxonomy, zs, None, None, "none", "joint",
                            thresholds={"text": flat, "visual": flat_vis, "meta": merge.Thresholds()},
                            meta=None, policy="union", visual_zero_shot=vzs, info=info)
    return CategoryService(models, encode_text, text_model_id)


def running_model(model_dir: Path | None, taxonomy: Taxonomy, encode_text: EncodeText,
                  text_model_id: str = "minilm") -> CategoryService:
    """The category model a deployment serves: the trained artefact in ``model_dir`` when given,
    else the zero-shot day-one model. The trainer's real-time path and the backfill both call
    this, so they classify with the same model (and record the same version)."""
    if model_dir is not None:
        return CategoryService.load(model_dir, encode_text, taxonomy, text_model_id=text_model_id)
    return day_one(taxonomy, encode_text, text_model_id=text_model_id)
