"""Tiny YUV thumbnails for the detector, straight from the decoded planes.

swscale's area filter costs ~4 ms per 1080p frame (half the decode time); averaging an evenly
spread 4x4 grid of samples per output pixel (2x2 for subsampled chroma) reads ~1% of the pixels,
still suppresses aliasing/noise well, and costs ~0.1 ms.
"""

from __future__ import annotations

import functools

import av
import numpy as np

PLANAR_8BIT = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"}
SAMPLES = 4  # samples per block side (luma)


def _plane(frame: av.VideoFrame, i: int) -> np.ndarray:
    p = frame.planes[i]
    return np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]


@functools.lru_cache(maxsize=16)
def _sample_grid(h: int, w: int, out_h: int, out_w: int, samples: int) -> tuple[np.ndarray, ...]:
    """Row/column indices of ``samples`` evenly spaced points inside each output block."""
    rows = ((np.arange(out_h * samples) + 0.5) * h / (out_h * samples)).astype(np.intp)
    cols = ((np.arange(out_w * samples) + 0.5) * w / (out_w * samples)).astype(np.intp)
    return np.ix_(rows, cols)


def _block_mean(plane: np.ndarray, out_h: int, out_w: int, samples: int) -> np.ndarray:
    rows, cols = _sample_grid(*plane.shape, out_h, out_w, samples)
    # Rows first, then columns of the few picked rows: 2.7x faster than one 2-d fancy index;
    # and sums of strided slices: 2x faster than numpy's sum over the small block axes.
    grid = plane[rows.ravel()][:, cols.ravel()].astype(np.uint16).reshape(out_h, samples, out_w * samples)
    row_sums = sum(grid[:, k] for k in range(1, samples)) + grid[:, 0]
    cells = row_sums.reshape(out_h, out_w, samples)
    sums = sum(cells[..., k] for k in range(1, samples)) + cells[..., 0]
    return ((sums + samples * samples // 2) // (samples * samples)).astype(np.uint8)


def thumbnail(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """3 x height x width uint8 array: Y, U, V."""
    fmt = frame.format.name
    if fmt not in PLANAR_8BIT or frame.width < width * SAMPLES or frame.height < height * SAMPLES:
        # exotic pixel formats (10-bit, packed, paletted) or tiny frames: let swscale do it
        return frame.reformat(
            width=width, height=height, format="yuv444p", interpolation="AREA"
        ).to_ndarray()
    y = _block_mean(_plane(frame, 0), height, width, SAMPLES)
    uv = []
    for i in (1, 2):
        plane = _plane(frame, i)
        uv.append(_block_mean(plane, height, width, SAMPLES // 2))
    return np.stack([y, *uv])
