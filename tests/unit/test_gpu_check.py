"""scripts/gpu_check.sh, as an SRE runs it: proven end to end on the CPU (``--rehearse``) before a
GPU's scarce minutes are spent on it, and a clear exit 2 where there is no GPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUT": str(out), "BENCH_SECONDS": "0.2"}
    return subprocess.run([str(ROOT / "scripts" / "gpu_check.sh"), *args], capture_output=True, text=True,
                          env=env, timeout=600, cwd="/")


def test_rehearsal_runs_every_step_and_writes_the_sweep(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--rehearse", "--batches", "1,4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads((tmp_path / "gpu_check.json").read_text())
    assert got["checks"] == {"bundle_runs_on_device": True, "cuda_matches_cpu": True}
    assert set(got["min_cosine_cuda_vs_cpu"]) == {"joint", "visual", "text"}
    sweep = [f["figure"] for f in got["figures"] if f["figure"].startswith("encode_images CPUExecutionProvider")]
    assert sweep == ["encode_images CPUExecutionProvider, batch 1", "encode_images CPUExecutionProvider, batch 4"]
    assert all(f["value"] > 0 for f in got["figures"])


def test_without_a_gpu_it_says_why_and_exits_2(tmp_path: Path) -> None:
    proc = _run(tmp_path)
    if shutil.which("nvidia-smi") is None:  # this CI machine: no GPU
        assert proc.returncode == 2
        assert "no GPU to check" in proc.stderr and "CUDA provider" in proc.stderr
        assert json.loads((tmp_path / "gpu_check.json").read_text())["checks"]["cuda_provider_loads"] is False
    else:  # a GPU machine: the check ran and said pass or fail
        assert proc.returncode in (0, 1) and json.loads((tmp_path / "gpu_check.json").read_text())["gpu"]
