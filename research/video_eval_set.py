"""Build a labelled embedding set from the real test videos for `make eval-al ARGS=--npz …`.

Each keyframe (4 per second, sampled by the segmenter) of the four real single-source test
videos is one sample, embedded with the default bundle's `joint` head; a task per video asks
"is this from <video>?", with a text prompt describing it (so the zero-shot baselines are
real text→image similarity). Small: ~150 samples — budgets beyond that are capped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from shotline.models.build_default import build_default_bundle
from shotline.models.runtime import load_bundle
from shotline.video.config import SegmenterConfig
from shotline.video.shots import segment_video

VIDEOS = {
    "bikes.mp4": "people riding bicycles",
    "cockatoo.mp4": "a white cockatoo",
    "bigbuckbunny.mp4": "an animated rabbit in a meadow",
    "cityCC0.mpg": "a city street with buildings",
}


def main(out: Path) -> Path:
    fixtures = Path.home() / ".cache" / "shotline" / "fixtures"
    model = load_bundle(build_default_bundle())
    cfg = SegmenterConfig(keyframes_per_second=4.0, max_keyframes_per_shot=64)
    X, owner = [], []
    for t, name in enumerate(VIDEOS):
        result = segment_video(fixtures / name, cfg)
        frames = [f for shot in result.keyframes for f in shot]
        X.append(model.encode_images(frames)["joint"])
        owner += [t] * len(frames)
    Xa = np.concatenate(X)
    Y = np.eye(len(VIDEOS), dtype=np.int8)[owner]
    text = model.encode_text(list(VIDEOS.values()))
    np.savez(out, X=Xa, Y=Y, names=np.asarray([Path(n).stem for n in VIDEOS]), text=text)
    print(f"{out}: {len(Xa)} samples, {len(VIDEOS)} tasks, positives per task {Y.sum(0).tolist()}")
    return out


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "video_eval_set.npz"))
