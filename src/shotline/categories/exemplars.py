"""Labelled visual exemplars for the day-one visual zero-shot model (issue 19).

The visual zero-shot model compares a video's mean joint-space shot vector with each visual
category's prompt embedding. Prompts alone leave videos without metadata uncategorised (one
flat, unvalidated threshold). ``data/visual_exemplars.npz`` holds, for the categories of the
labelled evaluation set (``research/data/category_eval_set.json``, built from packaged footage
and labelled by looking), the sum and count of its *validation* videos' pooled joint vectors,
and per-category thresholds chosen on those videos (leave-one-out) for ≥ 80% precision.
The test part never enters this file. ``python -m research.eval_categories
--write-exemplars`` rebuilds it.

Applied by ``train.day_one``: prototype = normalise(prompt + mean exemplar) where exemplars
exist; a calibration centred on the chosen thresholds; other visual categories keep exactly
their old operating point (the flat threshold's cosine). The file is tied to the joint space
of the MiniLM text encoder; it is ignored when the prompts it was built with do not match the
encoder in use (another bundle).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from shotline.categories.text_model import ZeroShotText
from shotline.models import l2_normalize

DEFAULT_PATH = Path(__file__).parent / "data" / "visual_exemplars.npz"
SLOPE = 25.0  # the zero-shot default calibration's slope (text_model.ZeroShotText)
DEFAULT_CENTRE = 0.45


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def apply(prompt_E: np.ndarray, visual_ids: list[str], flat_threshold: float,
          path: str | Path | None = DEFAULT_PATH) -> tuple[ZeroShotText, dict[str, float], str] | None:
    """(visual zero-shot model, thresholds for every visual id, exemplar set name), or None
    when there is no file or it does not match this text encoder. ``prompt_E`` [V, d]: the
    visual categories' prompt embeddings, rows in ``visual_ids`` order."""
    if path is None or not Path(path).is_file():
        return None
    z = np.load(path, allow_pickle=False)
    ids = [str(c) for c in z["category_ids"]]
    row = {c: j for j, c in enumerate(visual_ids)}
    if not ids or any(c not in row for c in ids) or z["prompt_check"].shape[1] != prompt_E.shape[1]:
        return None
    rows = [row[c] for c in ids]
    if float(np.min(np.sum(prompt_E[rows] * z["prompt_check"], axis=1))) < 0.99:
        return None  # another text encoder: the exemplars live in a different space
    alpha = float(z["alpha"])
    E = np.array(prompt_E, np.float32, copy=True)
    mean = z["sums"] / np.maximum(z["counts"], 1)[:, None]
    E[rows] = l2_normalize(alpha * E[rows] + mean)
    centre = float(z["centre"])
    # Unlisted categories keep the cosine at which the flat threshold fired before.
    old_cos = DEFAULT_CENTRE + math.log(flat_threshold / (1 - flat_threshold)) / SLOPE
    thresholds = {c: _sigmoid(SLOPE * (old_cos - centre)) for c in visual_ids}
    for c, t in zip((str(c) for c in z["threshold_ids"]), z["thresholds_cos"]):
        if c in thresholds:
            thresholds[c] = _sigmoid(SLOPE * (float(t) - centre)) if np.isfinite(t) else math.inf
    return ZeroShotText(E, ([SLOPE, 0.0, 0.0], -SLOPE * centre)), thresholds, str(z["name"])


def save(path: str | Path, *, name: str, category_ids: list[str], sums: np.ndarray, counts: np.ndarray,
         prompt_check: np.ndarray, alpha: float, threshold_ids: list[str], thresholds_cos: np.ndarray,
         centre: float) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(p, name=np.array(name), category_ids=np.array(category_ids), sums=sums.astype(np.float32),
                        counts=counts.astype(np.int32), prompt_check=prompt_check.astype(np.float32),
                        alpha=np.array(alpha, np.float32), threshold_ids=np.array(threshold_ids),
                        thresholds_cos=thresholds_cos.astype(np.float32), centre=np.array(centre, np.float32))
    return p
