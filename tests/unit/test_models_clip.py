"""OpenCLIP export: ONNX Runtime matches torch; the numpy BPE tokenizer matches open_clip's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import onnxruntime as ort
import open_clip
import torch

from shotline.models import load_bundle
from shotline.models.clip_tokenizer import ClipTokenizer
from shotline.models.export_clip import BPE_FILE, export_openclip, tiny_random_clip

TEXTS = [
    "a photo of a cat",
    "A DOG running on the beach!!",
    "Ünïcödé café — 東京タワー 🚀 naïve résumé",
    "&amp;lt;b&amp;gt; html entities and   odd\twhitespace\n",
    "it's what they'd've done; 3.14159 and 1,000,000",
    "dog " * 120,  # longer than the 77-token context: truncated, still ends in EOT
    "x",
]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    model = tiny_random_clip(seed=0)
    out = export_openclip(model, tmp_path_factory.mktemp("tinyclip"), model_id="tiny-clip-test")
    return model, out


def _cpu(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_tokenizer_matches_open_clip(tiny_clip) -> None:
    _, bundle = tiny_clip
    ours = ClipTokenizer(bundle / BPE_FILE)(TEXTS)
    theirs = open_clip.tokenize(TEXTS).numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert ours[5, -1] == ClipTokenizer(bundle / BPE_FILE).eot_id  # truncated row


def test_text_encoder_matches_torch(tiny_clip) -> None:
    model, bundle = tiny_clip
    ids = open_clip.tokenize(TEXTS).numpy()
    with torch.no_grad():
        expected = model.encode_text(torch.from_numpy(ids)).numpy()
    (got,) = _cpu(bundle / "text.onnx").run(None, {"input_ids": ids})
    assert np.abs(got - expected).max() < 1e-4


def test_image_encoder_matches_torch(tiny_clip) -> None:
    model, bundle = tiny_clip
    pixels = np.random.default_rng(1).standard_normal((5, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = model.encode_image(torch.from_numpy(pixels)).numpy()
    (got,) = _cpu(bundle / "image.onnx").run(None, {"pixels": pixels})
    assert np.abs(got - expected).max() < 1e-4


def test_bundle_runs_end_to_end(tiny_clip) -> None:
    model, bundle = tiny_clip
    vlm = load_bundle(bundle, providers=["CPUExecutionProvider"])
    assert vlm.heads == ("joint",) and vlm.dims == {"joint": 32}
    text = vlm.encode_text(TEXTS)
    with torch.no_grad():
        expected = model.encode_text(open_clip.tokenize(TEXTS)).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(text, expected, atol=1e-4)
    image = vlm.encode_images([np.full((40, 90, 3), 200, np.uint8)])["joint"]
    assert image.shape == (1, 32) and abs(np.linalg.norm(image) - 1) < 1e-5
