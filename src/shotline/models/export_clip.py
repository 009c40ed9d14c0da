"""Export OpenCLIP models into the bundle format (image + text ONNX, CLIP BPE tokenizer).

With network access, ``export_openclip("ViT-B-32", out, pretrained="laion2b_s34b_b79k")``
fetches weights through open_clip; offline, pass an already built ``open_clip`` model
(the tests use a tiny randomly initialised CLIP of the same architecture).
Requires torch + open-clip-torch at export time only; the bundle runs on ONNX Runtime.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from shotline.models.bundle import (
    Head, Heads, ImageEncoder, Manifest, Preprocess, TextEncoder, TokenizerSpec, read_manifest,
    write_manifest,
)

OPSET = 17
BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"


def _wrappers(model: Any):
    from torch import nn

    class ImageEncoderGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return self.model.encode_image(pixels)

    class TextEncoderGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            return self.model.encode_text(input_ids)

    return ImageEncoderGraph().eval(), TextEncoderGraph().eval()


def _preprocess(model: Any) -> Preprocess:
    cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    size = cfg.get("size", model.visual.image_size)
    size = size[0] if isinstance(size, (tuple, list)) else size
    mean = tuple(float(m) * 255 for m in cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
    std = tuple(float(s) * 255 for s in cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))
    interpolation = cfg.get("interpolation", "bicubic")
    return Preprocess(resize_short_side=size, crop_size=size, mean=mean, std=std,
                      interpolation="bilinear" if interpolation == "bilinear" else "bicubic")


def export_openclip(
    model: Any,
    out_dir: str | Path,
    *,
    pretrained: str | None = None,
    model_id: str | None = None,
    version: str = "1",
) -> Path:
    """Write an OpenCLIP model as a bundle; returns ``out_dir``.

    ``model``: an open_clip model name (created with ``pretrained``) or a model object."""
    import open_clip
    import torch

    name = model if isinstance(model, str) else type(model).__name__
    if isinstance(model, str):
        model = open_clip.create_model(model, pretrained=pretrained, device="cpu")
    model = model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image_graph, text_graph = _wrappers(model)
    pre = _preprocess(model)
    context_length = int(model.context_length)
    with torch.no_grad():
        embed_dim = int(model.encode_text(torch.zeros(1, context_length, dtype=torch.long)).shape[-1])
    with warnings.catch_warnings():  # tracer chatter about static shapes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            image_graph, (torch.randn(2, 3, pre.crop_size, pre.crop_size),), str(out / "image.onnx"),
            input_names=["pixels"], output_names=["image_embeds"],
            dynamic_axes={"pixels": {0: "batch"}, "image_embeds": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    ids = torch.from_numpy(np.tile(np.arange(1, context_length + 1), (2, 1)))
    with warnings.catch_warnings():  # tracer chatter about static shapes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            text_graph, (ids,), str(out / "text.onnx"),
            input_names=["input_ids"], output_names=["text_embeds"],
            dynamic_axes={"input_ids": {0: "batch"}, "text_embeds": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    shutil.copyfile(Path(open_clip.__file__).parent / BPE_FILE, out / BPE_FILE)
    manifest = Manifest(
        model_id=model_id or f"openclip-{name}" + (f"-{pretrained}" if pretrained else ""),
        version=version,
        image_encoder=ImageEncoder(onnx="image.onnx", input="pixels"),
        text_encoder=TextEncoder(onnx="text.onnx", output="text_embeds", pooling="none"),
        tokenizer=TokenizerSpec(kind="clip-bpe", file=BPE_FILE, max_length=context_length,
                                pad_to_max_length=True),
        preprocess=pre,
        heads=Heads(joint=Head(image_output="image_embeds", dim=embed_dim)),
        text_dim=embed_dim,
        notes={"source": f"open_clip {name}", "pretrained": str(pretrained)},
    )
    write_manifest(out, manifest)
    read_manifest(out)
    return out


def tiny_clip_config(image_size: int = 32, context_length: int = 77) -> dict[str, Any]:
    """A very small ViT CLIP config (same architecture family as ViT-B-32) for offline tests."""
    return {
        "embed_dim": 32,
        "vision_cfg": {"image_size": image_size, "layers": 2, "width": 64, "head_width": 32,
                       "patch_size": 8},
        "text_cfg": {"context_length": context_length, "vocab_size": 49408, "width": 64,
                     "heads": 2, "layers": 2},
    }


def tiny_random_clip(seed: int = 0):
    """Randomly initialised tiny OpenCLIP model (no download)."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    return open_clip.CLIP(**tiny_clip_config()).eval()


if __name__ == "__main__":  # python -m shotline.models.export_clip NAME PRETRAINED OUT_DIR
    import sys

    if len(sys.argv) != 4:
        sys.exit("usage: python -m shotline.models.export_clip MODEL_NAME PRETRAINED OUT_DIR")
    print(export_openclip(sys.argv[1], sys.argv[3], pretrained=sys.argv[2]))
