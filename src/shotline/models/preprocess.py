"""Image validation and preprocessing into encoder input tensors."""

from __future__ import annotations

import numpy as np
from PIL import Image

from shotline.errors import BadInput
from shotline.models.bundle import Preprocess

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def check_image(image: object, index: int = 0) -> np.ndarray:
    """An RGB uint8 HxWx3 array, or ``BadInput("bad_image")`` saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise BadInput("bad_image", f"image {index}: expected numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise BadInput("bad_image", f"image {index}: expected dtype uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise BadInput("bad_image", f"image {index}: expected HxWx3 RGB, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise BadInput("bad_image", f"image {index}: empty image, shape {image.shape}")
    return image


def preprocess_one(image: np.ndarray, spec: Preprocess) -> np.ndarray:
    """Centre crop (the square a resize-short-side + centre-crop would keep) resized to
    ``crop_size`` in one PIL call; never builds a huge intermediate for extreme aspect
    ratios, and upsamples tiny images instead of rejecting them. Returns float32 HWC."""
    h, w = image.shape[:2]
    side = min(h, w) * spec.crop_size / spec.resize_short_side
    left, top = (w - side) / 2, (h - side) / 2
    pil = Image.fromarray(image)
    out = pil.resize((spec.crop_size, spec.crop_size), _RESAMPLE[spec.interpolation],
                     box=(left, top, left + side, top + side))
    return np.asarray(out, dtype=np.float32)


def to_tensor(images: list[np.ndarray], spec: Preprocess) -> np.ndarray:
    batch = np.stack([preprocess_one(im, spec) for im in images])  # N,H,W,C RGB
    batch -= np.asarray(spec.mean, dtype=np.float32)
    batch /= np.asarray(spec.std, dtype=np.float32)
    if spec.channel_order == "BGR":
        batch = batch[..., ::-1]
    if spec.layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32)
