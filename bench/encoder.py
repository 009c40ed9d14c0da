"""Image-encoder throughput: ONNX Runtime (the default bundle's graph) vs torch eager, CPU.

Same model, same weights, same preprocessed batch, same process; torch runs the exact
module that was exported (EfficientNet-Lite0 + joint head). Prints a table and writes
``bench/results/encoder.json``. Run: ``python -m bench.encoder`` (PYTHONPATH=src:.).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from bench.timing import per_second
from shotline.models.build_default import build_default_bundle, image_module, load_effnet
from shotline.models.providers import session_options

BATCHES = (1, 16, 64)
TARGET_RATIO = 1.5
RESULTS = Path(__file__).parent / "results" / "encoder.json"


def main() -> list[dict]:
    bundle = build_default_bundle()
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    graph = onnx.load(str(bundle / "image.onnx")).graph
    concepts = next(numpy_helper.to_array(t) for t in graph.initializer if tuple(t.dims) == (1000, 384))
    module = image_module(load_effnet(), concepts.copy())
    session = ort.InferenceSession(str(bundle / "image.onnx"), sess_options=session_options(),
                                   providers=["CPUExecutionProvider"])
    rows: list[dict] = []
    for batch in BATCHES:
        pixels = np.random.default_rng(batch).standard_normal((batch, 3, 224, 224)).astype(np.float32)
        tensor = torch.from_numpy(pixels)

        def run_torch() -> None:
            with torch.inference_mode():
                module(tensor)

        def run_ort() -> None:
            session.run(None, {"pixels": pixels})

        torch_ips = per_second(run_torch, batch)
        ort_ips = per_second(run_ort, batch)
        rows.append({"figure": f"image encoder images/s, ORT CPU, batch {batch}", "value": round(ort_ips, 1),
                     "unit": "images/s", "baseline": round(torch_ips, 1), "ratio": round(ort_ips / torch_ips, 2)})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"EfficientNet-Lite0 + joint head, 224x224, CPU, {threads} threads "
          f"(torch {torch.__version__}, onnxruntime {ort.__version__}); target ratio >= {TARGET_RATIO}")
    print(f"{'batch':>5} {'torch eager img/s':>18} {'ORT img/s':>10} {'ratio':>6}")
    for batch, row in zip(BATCHES, rows):
        flag = "" if row["ratio"] >= TARGET_RATIO else "  below target"
        print(f"{batch:>5} {row['baseline']:>18.1f} {row['value']:>10.1f} {row['ratio']:>6.2f}{flag}")
    return rows


if __name__ == "__main__":
    main()
