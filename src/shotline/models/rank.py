"""Rank image/video files against text prompts with a loaded bundle (``shotline rank``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from shotline.errors import BadInput
from shotline.models.runtime import VisionLanguageModel, l2_normalize

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
VIDEO_FRAMES_AT = (0.25, 0.5, 0.75)  # fractions of the duration; the segmenter's keyframes replace this later


def read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise BadInput("bad_media", f"{path}: not a readable image ({exc})") from exc


def read_video_frames(path: Path, at: Sequence[float] = VIDEO_FRAMES_AT) -> list[np.ndarray]:
    """RGB frames near the given fractions of the video's duration (first frame at or
    after each seek point; falls back to the first frames when the duration is unknown)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadInput("bad_media", f"{path}: no video stream")
            stream = container.streams.video[0]
            duration = (float(stream.duration * stream.time_base) if stream.duration
                        else (container.duration or 0) / av.time_base)
            frames: list[np.ndarray] = []
            for fraction in (at if duration > 0 else (0.0,)):
                target = fraction * duration
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
                for frame in container.decode(stream):
                    if frame.time is None or frame.time >= target - 1e-3:
                        frames.append(frame.to_ndarray(format="rgb24"))
                        break
    except av.FFmpegError as exc:
        raise BadInput("bad_media", f"{path}: cannot decode video ({exc})") from exc
    if not frames:
        raise BadInput("bad_media", f"{path}: no decodable frames")
    return frames


def embed_file(model: VisionLanguageModel, path: Path) -> np.ndarray:
    """Joint embedding of an image, or of a video as the mean of a few frames."""
    if not path.is_file():
        raise BadInput("missing_file", f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return model.encode_images([read_image(path)])["joint"][0]
    frames = model.encode_images(read_video_frames(path))["joint"]
    return l2_normalize(frames.mean(0))


def rank(model: VisionLanguageModel, prompts: Sequence[str], images: Sequence[str | Path]) -> dict:
    """Cosine scores of every file against every prompt:
    ``{"prompts": [...], "images": [...], "scores": [[score per image] per prompt]}``."""
    if not prompts:
        raise BadInput("empty_text", "no prompts given")
    text = model.encode_text(list(prompts))
    paths = [Path(p) for p in images]
    files = np.stack([embed_file(model, p) for p in paths]) if paths else np.zeros((0, text.shape[1]), np.float32)
    scores = text @ files.T
    return {"prompts": list(prompts), "images": [str(p) for p in paths],
            "scores": [[round(float(s), 4) for s in row] for row in scores]}
