"""Category classification throughput: real time (one video per call) and backfill (batched).

Service: ``CategoryService`` (MiniLM text encode + zero-shot/supervised text model + NeXtVLAD
visual model in ONNX Runtime + merge), fitted on a small synthetic set (weights do not matter
for speed). Videos: 20 shots (joint head, 384-d) and a title. Baselines: the same pipeline with
the torch eager NeXtVLAD swapped in (real time), and one-at-a-time ORT calls (for backfill batching).

Run: ``python -m bench.taxonomy``. Writes bench/results/taxonomy.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from research import category_datasets as datasets
from shotline.categories import visual_model as vm
from shotline.categories.service import Request
from shotline.categories.train import fit
from shotline.models import l2_normalize, load_bundle
from shotline.models.build_default import default_bundle_path
from shotline.taxonomy import load_taxonomy

RESULTS = Path(__file__).parent / "results" / "taxonomy.json"
N_VIDEOS, SHOTS, BATCH = 200, 20, 64


def _videos(n: int, dim: int, seed: int = 7) -> list[Request]:
    rng = np.random.default_rng(seed)
    titles = ["Best street food in Bangkok", "Mi gato jugando", "", "Tour de France stage 5", "私の料理動画"]
    return [Request(f"b{i}", {"joint": l2_normalize(rng.normal(size=(SHOTS, dim)).astype(np.float32))},
                    datasets.VideoText(titles[i % len(titles)], "", "en"), 60_000, "c") for i in range(n)]


class _TorchVisual:
    """Drop-in for OrtVisualModel running the torch module eagerly (the baseline)."""

    def __init__(self, model: torch.nn.Module, like: vm.OrtVisualModel):
        self.model, self.dim, self.meta_dim, self.n_labels = model, like.dim, like.meta_dim, like.n_labels

    def predict(self, videos: list[np.ndarray], meta: np.ndarray) -> np.ndarray:
        return vm.torch_predict(self.model, videos, meta)


def _rate(fn, n: int) -> tuple[float, list[float]]:
    lat, t0 = [], time.perf_counter()
    for i in range(n):
        s = time.perf_counter()
        fn(i)
        lat.append(time.perf_counter() - s)
    return n / (time.perf_counter() - t0), lat


def main() -> None:
    torch.set_num_threads(1)
    tax = load_taxonomy()
    enc = load_bundle(default_bundle_path()).encode_text
    train = datasets.synthetic_benchmark(tax, enc, 300, seed=1)
    val = datasets.synthetic_benchmark(tax, enc, 150, seed=2)
    svc, _ = fit(tax, enc, train, val, set(), kind="nextvlad", cfg=vm.TrainConfig(epochs=1))
    reqs = _videos(N_VIDEOS, 384)
    svc.classify_batch(reqs[:2])  # warm-up

    rt, lat = _rate(lambda i: svc.classify_batch([reqs[i]]), N_VIDEOS)
    ort_visual = svc.visual
    svc.visual = _TorchVisual(svc.torch_model, ort_visual)  # same full pipeline, torch eager visual model
    eager_rt, _ = _rate(lambda i: svc.classify_batch([reqs[i]]), N_VIDEOS)
    svc.visual = ort_visual
    batches = [reqs[s : s + BATCH] for s in range(0, N_VIDEOS, BATCH)]
    t0 = time.perf_counter()
    for b in batches:
        svc.classify_batch(b)
    bf = N_VIDEOS / (time.perf_counter() - t0)
    p50, p99 = (float(np.percentile(lat, q) * 1000) for q in (50, 99))
    rows = [
        {"figure": "realtime videos/s (ORT NeXtVLAD + text, 1 video/call)", "value": rt, "unit": "videos/s",
         "baseline": eager_rt, "ratio": rt / eager_rt},
        {"figure": "backfill videos/s (batches of 64)", "value": bf, "unit": "videos/s", "baseline": rt, "ratio": bf / rt},
        {"figure": "realtime classify latency p50", "value": p50, "unit": "ms", "baseline": None, "ratio": None},
        {"figure": "realtime classify latency p99", "value": p99, "unit": "ms", "baseline": None, "ratio": None},
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"{'figure':<58}{'value':>10}  {'unit':<9}{'baseline':>10}{'ratio':>8}")
    for r in rows:
        b = "" if r["baseline"] is None else f"{r['baseline']:.1f}"
        q = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        print(f"{r['figure']:<58}{r['value']:>10.1f}  {r['unit']:<9}{b:>10}{q:>8}")
    print(f"baselines: realtime vs the same classify() with the torch eager NeXtVLAD; backfill vs realtime one-at-a-time. "
          f"{N_VIDEOS} videos x {SHOTS} shots, {len(tax)} categories, 1 torch thread")


if __name__ == "__main__":
    main()
