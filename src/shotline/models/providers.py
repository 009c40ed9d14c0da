"""ONNX Runtime execution-provider choice and session options.

Auto order: TensorRT, CUDA (only those ``onnxruntime.get_available_providers()`` lists),
then CPU. ``onnxruntime-gpu`` lists CUDA/TensorRT even on machines without a GPU or
without TensorRT libraries, so each candidate is tried and the session reports what it
really got. Override with the ``providers`` argument or ``SHOTLINE_ORT_PROVIDERS``
(comma separated, e.g. ``CPUExecutionProvider``). An override that names only GPU providers is a
demand, not a wish: if none of them can run the model, loading fails with the reason (a missing
``libcurand.so.10``, say) instead of running on the CPU unnoticed; list ``CPUExecutionProvider``
too to allow that fallback.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import functools
import os
from pathlib import Path

import onnxruntime as ort
import structlog

log = structlog.get_logger(__name__)

ENV_PROVIDERS = "SHOTLINE_ORT_PROVIDERS"
ENV_THREADS = "SHOTLINE_ORT_THREADS"
ENV_FP16 = "SHOTLINE_ORT_FP16"  # "0" turns half precision off on GPU providers
_AUTO_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
CPU = "CPUExecutionProvider"


def explicit_providers(providers: list[str] | None = None) -> list[str] | None:
    """The providers asked for by argument or ``SHOTLINE_ORT_PROVIDERS`` (None: automatic)."""
    if providers is None and os.environ.get(ENV_PROVIDERS):
        providers = [p.strip() for p in os.environ[ENV_PROVIDERS].split(",") if p.strip()]
    return providers


def requested_providers(providers: list[str] | None = None) -> list[str]:
    """The preference list: argument, else env, else auto; CPU is always the last resort."""
    providers = explicit_providers(providers)
    if providers is None:
        available = ort.get_available_providers()
        providers = [p for p in _AUTO_ORDER if p in available and not why_unusable(p)]
    unknown = [p for p in providers if p not in ort.get_available_providers()]
    if unknown:
        raise ValueError(f"ONNX Runtime providers not available here: {unknown}; "
                         f"available: {ort.get_available_providers()}")
    return [*dict.fromkeys([*providers, CPU])]


_PROVIDER_LIBS = {"TensorrtExecutionProvider": "libonnxruntime_providers_tensorrt.so",
                  "CUDAExecutionProvider": "libonnxruntime_providers_cuda.so"}


@functools.cache
def _preload_pip_cuda_libs() -> None:
    # CUDA/cuDNN may come as pip wheels (nvidia-*, e.g. with torch) rather than system libs.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            ort.preload_dlls()
        except Exception:  # older ORT, or nothing to preload
            pass


@functools.cache
def why_unusable(name: str) -> str:
    """Why a GPU provider's library cannot load here ("" when it can, or for CPU).

    onnxruntime-gpu lists GPU providers even where their libraries (cuDNN, TensorRT) are
    missing; probing the provider library up front keeps auto mode quiet and fast."""
    if name not in _PROVIDER_LIBS:
        return ""
    _preload_pip_cuda_libs()
    lib = Path(ort.__file__).parent / "capi" / _PROVIDER_LIBS[name]
    try:
        ctypes.CDLL(str(lib))
    except OSError as exc:
        log.info("ort_provider_unusable", provider=name, error=str(exc)[:200])
        return str(exc)
    return ""


def session_options() -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # One op at a time across all cores: best for conv nets on few cores; the default
    # would also spin an inter-op pool that only competes with the intra-op one.
    opts.intra_op_num_threads = int(os.environ.get(ENV_THREADS, 0)) or len(os.sched_getaffinity(0))
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


def _provider_options(name: str, cache_dir: Path | None) -> dict[str, str]:
    if name == "TensorrtExecutionProvider":
        opts = {"trt_fp16_enable": "False" if os.environ.get(ENV_FP16) == "0" else "True"}
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            opts |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir)}
        return opts
    return {}


def create_session(onnx_path: Path, providers: list[str] | None = None,
                   trt_cache_dir: Path | None = None) -> ort.InferenceSession:
    """Try each preferred provider in turn (with CPU behind it); log the one in use."""
    wanted = requested_providers(providers)
    asked = explicit_providers(providers)
    demanded = asked is not None and CPU not in asked  # only GPU providers named: no silent CPU
    last_error: Exception | None = None
    for i, first in enumerate(wanted):
        chain = wanted[i:]
        try:
            sess = ort.InferenceSession(
                str(onnx_path), sess_options=session_options(),
                providers=[(p, _provider_options(p, trt_cache_dir)) for p in chain],
            )
        except Exception as exc:  # a GPU provider that cannot start: fall through to the next
            last_error = exc
            log.warning("ort_provider_failed", provider=first, model=onnx_path.name, error=str(exc)[:300])
            continue
        used = sess.get_providers()[0]
        if demanded and used not in asked:  # type: ignore[operator]
            reasons = "; ".join(f"{p}: {why_unusable(p) or 'did not start'}" for p in asked)  # type: ignore[union-attr]
            raise RuntimeError(f"{ENV_PROVIDERS} asks for {', '.join(asked)} but ONNX Runtime would run "  # type: ignore[arg-type]
                               f"{onnx_path.name} on {used} ({reasons}). Install the GPU libraries (the pip "
                               f"nvidia-* wheels or the system's), or add {CPU} to allow the fallback.")
        if used != first:
            log.warning("ort_provider_fallback", wanted=first, used=used, model=onnx_path.name)
        log.info("ort_session", model=onnx_path.name, provider=used, threads=session_options().intra_op_num_threads)
        return sess
    raise RuntimeError(f"no ONNX Runtime provider could load {onnx_path}") from last_error
