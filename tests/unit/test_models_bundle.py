"""Manifest validation: broken bundles fail on load with a clear BadInput."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shotline.errors import BadInput
from shotline.models.bundle import read_manifest
from shotline.models.runtime import mean_pool_shots


def _manifest() -> dict:
    return {
        "model_id": "m", "version": "1",
        "image_encoder": {"onnx": "image.onnx"},
        "text_encoder": {"onnx": "text.onnx", "output": "out", "pooling": "mean"},
        "tokenizer": {"kind": "wordpiece-hf", "file": "tokenizer.json", "max_length": 16},
        "preprocess": {"resize_short_side": 256, "crop_size": 224, "mean": [127, 127, 127],
                       "std": [128, 128, 128]},
        "heads": {"joint": {"image_output": "joint", "dim": 8},
                  "visual": {"image_output": "visual", "dim": 4}},
        "text_dim": 8,
    }


def _write(tmp_path: Path, manifest: dict, files=("image.onnx", "text.onnx", "tokenizer.json")) -> Path:
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_valid_manifest_loads(tmp_path: Path) -> None:
    manifest = read_manifest(_write(tmp_path, _manifest()))
    assert manifest.heads.visual is not None and manifest.heads.visual.dim == 4
    assert manifest.preprocess.channel_order == "RGB" and manifest.preprocess.layout == "NCHW"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda m: m.update(text_dim=9), "joint head dim 8 != text_dim 9"),
        (lambda m: m["tokenizer"].update(kind="sentencepiece"), "tokenizer.kind"),
        (lambda m: m["preprocess"].update(crop_size=300), "crop_size must be <= resize_short_side"),
        (lambda m: m["preprocess"].update(std=[1, 0, 1]), "std values must be > 0"),
        (lambda m: m.update(surprise=1), "surprise"),
        (lambda m: m.pop("heads"), "heads"),
        (lambda m: m["image_encoder"].update(onnx="../outside.onnx"), "points outside the bundle"),
        (lambda m: m["heads"]["joint"].update(projection="proj.npy"), "'proj.npy' is missing"),
    ],
)
def test_invalid_manifest_is_bad_input(tmp_path: Path, mutate, expected: str) -> None:
    manifest = _manifest()
    mutate(manifest)
    (tmp_path.parent / "outside.onnx").write_bytes(b"x")
    with pytest.raises(BadInput) as err:
        read_manifest(_write(tmp_path, manifest))
    assert err.value.reason == "bad_bundle"
    assert expected in str(err.value)


def test_missing_or_garbled_manifest(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no manifest.json"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BadInput, match="not valid JSON"):
        read_manifest(tmp_path)


def test_mean_pool_shots_groups_and_renormalises() -> None:
    emb = np.array([[1, 0], [0, 1], [1, 0], [-1, 0]], np.float32)
    pooled = mean_pool_shots(emb, ["b", "b", "a", "a2"])
    assert pooled.shot_ids == ["b", "a", "a2"]
    np.testing.assert_allclose(pooled.embeddings, [[2**-0.5, 2**-0.5], [1, 0], [-1, 0]], atol=1e-6)
    with pytest.raises(BadInput) as err:
        mean_pool_shots(emb, ["a"])
    assert err.value.reason == "bad_shots"
