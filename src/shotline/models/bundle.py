"""Model bundle format: a directory holding ONNX encoders, tokenizer files and ``manifest.json``.

A bundle is everything the encoder/query services need to embed images and text, with no
torch and no network at run time. The manifest says how to feed and read the graphs; it is
validated on load so a broken bundle fails at start-up with a clear message, not mid-stream.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shotline.errors import BadInput

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Preprocess(_Strict):
    """Image preprocessing: centre crop of ``crop_size/resize_short_side`` of the short side,
    resized to ``crop_size`` (same pixels as resize-short-side-then-crop), then
    ``(pixel - mean) / std`` on the 0..255 scale."""

    resize_short_side: int = Field(gt=0)
    crop_size: int = Field(gt=0)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: Literal["RGB", "BGR"] = "RGB"
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    interpolation: Literal["bicubic", "bilinear"] = "bicubic"

    @field_validator("std")
    @classmethod
    def _std_positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s <= 0 for s in v):
            raise ValueError("std values must be > 0")
        return v

    @model_validator(mode="after")
    def _crop_fits(self) -> Preprocess:
        if self.crop_size > self.resize_short_side:
            raise ValueError("crop_size must be <= resize_short_side")
        return self


class TokenizerSpec(_Strict):
    kind: Literal["wordpiece-hf", "clip-bpe"]
    # "wordpiece-hf": a Hugging Face tokenizer.json; "clip-bpe": bpe_simple_vocab_16e6.txt.gz
    file: str
    max_length: int = Field(gt=2)
    # CLIP graphs expect fixed-length, zero-padded ids; BERT-style graphs take ragged+mask.
    pad_to_max_length: bool = False


class ImageEncoder(_Strict):
    onnx: str
    input: str = "pixels"
    # Optional half-precision graph for GPU providers (design hook; CPU always uses ``onnx``).
    onnx_fp16: str | None = None


class TextEncoder(_Strict):
    onnx: str
    output: str
    # "mean": masked mean over token states [B,T,D]; "none": the graph already pools to [B,D].
    pooling: Literal["mean", "none"]
    projection: str | None = None  # .npy [D_in, D_out] applied after pooling


class Head(_Strict):
    image_output: str  # ONNX output of the image encoder feeding this head
    dim: int = Field(gt=0)
    projection: str | None = None  # .npy [D_in, dim] applied to the ONNX output


class Heads(_Strict):
    joint: Head  # image and text in one space; text always lands here
    visual: Head | None = None  # image-only features (video→video, classifiers)


class Manifest(_Strict):
    format_version: int = FORMAT_VERSION
    model_id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    build_hash: str | None = None
    image_encoder: ImageEncoder
    text_encoder: TextEncoder
    tokenizer: TokenizerSpec
    preprocess: Preprocess
    heads: Heads
    text_dim: int = Field(gt=0)
    notes: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _joint_dims_agree(self) -> Manifest:
        if self.heads.joint.dim != self.text_dim:
            raise ValueError(f"joint head dim {self.heads.joint.dim} != text_dim {self.text_dim}")
        if self.format_version != FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {self.format_version}")
        return self

    def referenced_files(self) -> list[str]:
        files = [self.image_encoder.onnx, self.text_encoder.onnx, self.tokenizer.file]
        files += [p for p in (self.image_encoder.onnx_fp16, self.text_encoder.projection) if p]
        for head in (self.heads.joint, self.heads.visual):
            if head is not None and head.projection:
                files.append(head.projection)
        return files


def read_manifest(bundle_dir: str | Path) -> Manifest:
    """Parse and validate ``bundle_dir/manifest.json``; every referenced file must exist
    inside the bundle. Raises ``BadInput("bad_bundle", ...)`` with the reason."""
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST_NAME
    if not path.is_file():
        raise BadInput("bad_bundle", f"no {MANIFEST_NAME} in {bundle_dir}")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput("bad_bundle", f"{path} is not valid JSON: {exc}") from exc
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise BadInput("bad_bundle", f"{path} is invalid: {exc}") from exc
    root = bundle_dir.resolve()
    for rel in manifest.referenced_files():
        target = (bundle_dir / rel).resolve()
        if not target.is_relative_to(root):
            raise BadInput("bad_bundle", f"{path}: {rel!r} points outside the bundle")
        if not target.is_file():
            raise BadInput("bad_bundle", f"{path}: referenced file {rel!r} is missing")
    return manifest


def write_manifest(bundle_dir: str | Path, manifest: Manifest) -> Path:
    path = Path(bundle_dir) / MANIFEST_NAME
    path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n")
    return path
