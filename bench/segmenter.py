"""Segmenter benchmark: frames/s and boundary F1 vs PySceneDetect's default ContentDetector.

Same inputs, same run, interleaved: the ground-truth montage (cuts, dissolves, a fade) at
720p and 1080p. Ours includes keyframe extraction; PySceneDetect only detects. Also measured:
plain PyAV decoding of every frame (no detection), the ceiling for any full-decode detector.

    python -m bench.segmenter [--fixtures DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import av
from rich.console import Console
from rich.table import Table
from scenedetect import ContentDetector, detect

from scripts.fetch_fixtures import default_dest, fetch_all
from shotline.video import segment_video
from shotline.video.evaluation import score_boundaries

RESULTS = Path(__file__).parent / "results" / "segmenter.json"


def run_ours(path: Path) -> tuple[float, list[int], int]:
    t = time.perf_counter()
    result = segment_video(path)
    return time.perf_counter() - t, [s.start_frame for s in result.shots[1:]], result.frame_count


def run_pyscenedetect(path: Path) -> tuple[float, list[int]]:
    t = time.perf_counter()
    scenes = detect(str(path), ContentDetector())
    return time.perf_counter() - t, [start.frame_num for start, _end in scenes[1:]]


def run_decode_only(path: Path) -> float:
    t = time.perf_counter()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in c.decode(stream):
            pass
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fixtures", type=Path, default=default_dest())
    parser.add_argument("--repeat", type=int, default=3, help="median of N timed runs each")
    args = parser.parse_args()
    fixtures = fetch_all(args.fixtures)
    truth = json.loads((fixtures / "montage.json").read_text())
    spans = [(t["start"], t["end"]) for t in truth["transitions"]]
    rows: list[dict] = []
    for label in ("720p", "1080p"):
        path = fixtures / f"montage_{label}.mp4"
        ours_t, pysd_t, raw_t = [], [], []
        for _ in range(args.repeat):  # interleaved so machine load hits both alike
            t, ours, n = run_ours(path)
            ours_t.append(t)
            t, pysd = run_pyscenedetect(path)
            pysd_t.append(t)
            raw_t.append(run_decode_only(path))
        ours_fps = n / statistics.median(ours_t)
        pysd_fps = n / statistics.median(pysd_t)
        raw_fps = n / statistics.median(raw_t)
        f1_ours = score_boundaries(ours, truth["cuts"], spans).f1
        f1_pysd = score_boundaries(pysd, truth["cuts"], spans).f1
        rows += [
            _row(f"frames_per_s_{label}", ours_fps, "frames/s", pysd_fps),
            _row(f"f1_{label}", f1_ours, "F1", f1_pysd),
            _row(f"decode_only_frames_per_s_{label}", raw_fps, "frames/s", pysd_fps),
        ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1))
    table = Table(title="segmenter vs PySceneDetect detect(ContentDetector())")
    for col in ("figure", "value", "unit", "baseline", "ratio"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["figure"], f"{r['value']:.3f}", r["unit"], f"{r['baseline']:.3f}",
                      f"{r['ratio']:.2f}")  # fmt: skip
    Console().print(table)


def _row(figure: str, value: float, unit: str, baseline: float) -> dict:
    ratio = value / baseline if baseline else float("inf")
    return {"figure": figure, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio}


if __name__ == "__main__":
    main()
