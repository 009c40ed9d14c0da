"""GPU check: the encoder's CUDA path for real, in one run (``scripts/gpu_check.sh``).

Run it whenever a GPU machine is lent; it needs ``make setup`` (the venv and the default bundle).

1. CUDA is there: ONNX Runtime lists ``CUDAExecutionProvider`` and its library loads (else the
   loader's reason: a missing ``libcurand.so.10``, say); ``nvidia-smi`` names the GPU.
2. The default bundle loads with ``SHOTLINE_ORT_PROVIDERS=CUDAExecutionProvider`` (a demand: no
   silent CPU fallback) and reports CUDA as its provider, as the encoder's ``GetModelInfo`` does.
3. CUDA and CPU agree: the same 64 frames of real footage (the fixtures; seeded noise images when
   none are fetched) through both; every row's cosine per head ≥ ``MIN_COSINE`` (the GPU graph
   may run in fp16).
4. Batch sweep: images/s of ``encode_images`` (preprocessing included, as the encoder runs it) at
   batch 1 … 256 on CUDA, and on the CPU at batch 32 in the same run as the baseline; prompts/s of
   the text encoder on both.
5. CTranslate2 (the transcriber's Whisper) sees the GPU.

Writes ``bench/results/gpu_check.json`` (or ``--out``); exits 0 only when 1–3 hold, 2 when there is
no GPU to check. Run: ``python -m bench.gpu_check`` (PYTHONPATH=src:.).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import per_second
from shotline.models import load_bundle
from shotline.models.providers import why_unusable

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
MIN_COSINE = 0.995
BATCHES = (1, 8, 32, 64, 128, 256)
RESULTS = Path(__file__).parent / "results" / "gpu_check.json"


def frames(n: int = 64) -> list[np.ndarray]:
    """``n`` frames of the fixture footage, spread over the videos (seeded noise without them)."""
    import av

    from shotline.settings import Settings

    videos = sorted((Settings().cache_dir / "fixtures").glob("*.mp4"))
    out: list[np.ndarray] = []
    for k, v in enumerate(videos, 1):
        with av.open(str(v)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i % 25 == 0:
                    out.append(f.to_ndarray(format="rgb24"))
                if len(out) >= n * k // len(videos):
                    break
    rng = np.random.default_rng(0)
    while len(out) < n:
        out.append(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8))
    return out[:n]


def cosines(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Per head, the lowest row-wise cosine between two sets of L2-normalised embeddings."""
    return {h: float(np.min(np.sum(a[h] * b[h], axis=1))) for h in a}


def _gpu_name() -> str:
    if not shutil.which("nvidia-smi"):
        return ""
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip() if out.returncode == 0 else ""


def check(out: Path, device: str = CUDA, batches: tuple[int, ...] = BATCHES) -> int:
    """``device`` other than CUDA (``--rehearse``) runs every step with that provider in CUDA's
    place, so the script is proven on a CPU machine before a GPU's scarce minutes are spent."""
    import onnxruntime as ort

    from shotline.models.build_default import build_default_bundle

    result: dict[str, Any] = {"gpu": _gpu_name(), "ort": ort.__version__, "device_provider": device,
                              "ort_providers": ort.get_available_providers(), "checks": {}, "figures": []}
    checks = result["checks"]
    if device == CUDA:
        checks["cuda_provider_loads"] = CUDA in result["ort_providers"] and not why_unusable(CUDA)
        if not result["gpu"] or not checks["cuda_provider_loads"]:
            why = why_unusable(CUDA) if CUDA in result["ort_providers"] else "onnxruntime-gpu lists no CUDA provider"
            print(f"no GPU to check: nvidia-smi {'names ' + result['gpu'] if result['gpu'] else 'finds no GPU'}; "
                  f"CUDA provider: {why or 'loads'}", file=sys.stderr)
            _write(out, result)
            return 2
    bundle = build_default_bundle()
    gpu = load_bundle(bundle, [device])  # CUDA alone is a demand: raises instead of running on the CPU
    cpu = load_bundle(bundle, [CPU])
    checks["bundle_runs_on_device"] = gpu.provider == device
    images = frames()
    worst = cosines(gpu.encode_images(images), cpu.encode_images(images))
    prompts = ["a red car on a wet street", "two people talking in a kitchen", "a goal in a football match"]
    worst["text"] = float(np.min(np.sum(gpu.encode_text(prompts) * cpu.encode_text(prompts), axis=1)))
    result["min_cosine_cuda_vs_cpu"] = worst
    checks["cuda_matches_cpu"] = min(worst.values()) >= MIN_COSINE
    print(f"GPU {result['gpu'] or '(none)'}; provider {gpu.provider}; min cosine vs CPU {worst}", flush=True)

    cpu.image_batch = 32
    base = per_second(lambda: cpu.encode_images(images[:32]), 32)
    result["figures"].append({"figure": "encode_images CPU, batch 32", "value": base, "unit": "images/s"})
    for b in batches:
        gpu.image_batch = b
        batch = (images * (b // len(images) + 1))[:b]
        r = per_second(lambda: gpu.encode_images(batch), b)  # noqa: B023
        result["figures"].append({"figure": f"encode_images {device}, batch {b}", "value": r, "unit": "images/s",
                                  "baseline": base, "ratio": r / base})
        print(f"  batch {b:4d}: {r:8,.0f} images/s ({r / base:.1f}x the CPU at 32)", flush=True)
    for name, m in ((device, gpu), (CPU, cpu)):
        r = per_second(lambda: m.encode_text(prompts * 11), 33)  # noqa: B023
        result["figures"].append({"figure": f"encode_text {name}, 33 prompts", "value": r, "unit": "prompts/s"})
    try:
        import ctranslate2

        result["ctranslate2_cuda_devices"] = ctranslate2.get_cuda_device_count()
    except Exception as exc:  # noqa: BLE001 - reported, not fatal: the transcriber falls back to CPU
        result["ctranslate2_cuda_devices"] = f"error: {exc}"
    _write(out, result)
    ok = all(checks.values())
    print(f"checks: {checks} -> {'PASS' if ok else 'FAIL'}; wrote {out}", flush=True)
    return 0 if ok else 1


def _write(out: Path, result: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--rehearse", action="store_true", help="every step on the CPU provider in CUDA's place")
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)))
    args = ap.parse_args()
    sys.exit(check(args.out, CPU if args.rehearse else CUDA, tuple(int(b) for b in args.batches.split(","))))


if __name__ == "__main__":
    main()
