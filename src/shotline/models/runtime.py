"""Run a bundle with ONNX Runtime: images → per-head embeddings, text → joint embeddings."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from shotline.errors import BadInput
from shotline.models.bundle import Head, Manifest, TextEncoder, TokenizerSpec, read_manifest
from shotline.models.preprocess import check_image, to_tensor
from shotline.models.providers import create_session
from shotline.models.text_tokenizers import TextTokenizer

IMAGE_BATCH = 32  # bounds peak memory for long keyframe lists (a GPU may want more: image_batch)
TEXT_BATCH = 64
_GPU = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


class TextEncoderSession:
    """Tokenizer + text graph + pooling; also used on its own while building bundles."""

    def __init__(self, bundle_dir: Path, spec: TextEncoder, tokenizer: TokenizerSpec,
                 providers: list[str] | None = None, trt_cache: Path | None = None):
        self.spec = spec
        self._session = create_session(bundle_dir / spec.onnx, providers, trt_cache)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = TextTokenizer(tokenizer, bundle_dir)
        self._projection = np.load(bundle_dir / spec.projection).astype(np.float32) if spec.projection else None

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unchecked strings → float32 [N, D], L2-normalised."""
        # Batch similar lengths together: each batch is padded to its longest text.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        chunks = [self._encode_batch([texts[i] for i in order[s : s + TEXT_BATCH]])
                  for s in range(0, len(texts), TEXT_BATCH)]
        out = np.empty((len(texts), chunks[0].shape[1]), np.float32)
        out[order] = np.concatenate(chunks)
        return l2_normalize(out)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        tokens = self._tokenizer(texts)
        feeds = {name: arr for name, arr in tokens.items() if name in self._inputs}
        (states,) = self._session.run([self.spec.output], feeds)
        states = np.asarray(states, dtype=np.float32)
        if self.spec.pooling == "mean":
            mask = tokens["attention_mask"][..., None].astype(np.float32)
            states = (states * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
        if self._projection is not None:
            states = states @ self._projection
        return states


class VisionLanguageModel:
    """A loaded bundle. Thread-safe for concurrent ``encode_*`` calls (ORT sessions are)."""

    def __init__(self, bundle_dir: Path, manifest: Manifest, providers: list[str] | None = None):
        self.bundle_dir = bundle_dir
        self.manifest = manifest
        self.image_batch = IMAGE_BATCH  # images per ONNX Runtime call
        trt_cache = bundle_dir / ".trt_cache"
        self._image = create_session(bundle_dir / manifest.image_encoder.onnx, providers, trt_cache)
        if manifest.image_encoder.onnx_fp16 and self._image.get_providers()[0] in _GPU:
            # Half-precision variant only where a GPU runs it; CPU fp16 is slower, not faster.
            self._image = create_session(bundle_dir / manifest.image_encoder.onnx_fp16, providers, trt_cache)
        self._text = TextEncoderSession(bundle_dir, manifest.text_encoder, manifest.tokenizer,
                                        providers, trt_cache)
        self._heads: dict[str, Head] = {"joint": manifest.heads.joint}
        if manifest.heads.visual is not None:
            self._heads["visual"] = manifest.heads.visual
        self._projections = {
            name: np.load(bundle_dir / head.projection).astype(np.float32)
            for name, head in self._heads.items() if head.projection
        }

    # -- identity -------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(self._heads)

    @property
    def dims(self) -> dict[str, int]:
        return {name: head.dim for name, head in self._heads.items()}

    @property
    def provider(self) -> str:
        """The provider the image encoder runs on (e.g. ``CPUExecutionProvider``)."""
        return self._image.get_providers()[0]

    # -- images -----------------------------------------------------------------------------
    def encode_images(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """RGB uint8 HxWx3 arrays of any size → ``{head: float32 [N, dim]}``, rows L2-normalised."""
        checked = [check_image(im, i) for i, im in enumerate(images)]
        out: dict[str, list[np.ndarray]] = {name: [] for name in self._heads}
        wanted = [head.image_output for head in self._heads.values()]
        for start in range(0, len(checked), self.image_batch):
            pixels = to_tensor(checked[start : start + self.image_batch], self.manifest.preprocess)
            results = self._image.run(wanted, {self.manifest.image_encoder.input: pixels})
            for name, result in zip(self._heads, results):
                out[name].append(np.asarray(result, dtype=np.float32))
        embeddings: dict[str, np.ndarray] = {}
        for name, head in self._heads.items():
            raw = np.concatenate(out[name]) if out[name] else np.zeros((0, head.dim), np.float32)
            if name in self._projections and len(raw):
                raw = raw @ self._projections[name]
            embeddings[name] = l2_normalize(raw.reshape(len(checked), head.dim))
        return embeddings

    # -- text ---------------------------------------------------------------------------------
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Strings → float32 [N, joint dim], L2-normalised. Over-long text is truncated
        to the tokenizer's max length; empty/blank text is ``BadInput("empty_text")``."""
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise BadInput("bad_text", f"text {i}: expected str, got {type(text).__name__}")
            if not text.strip():
                raise BadInput("empty_text", f"text {i} is empty")
        if not texts:
            return np.zeros((0, self.manifest.text_dim), np.float32)
        return self._text.encode(list(texts))


def load_bundle(path: str | Path, providers: list[str] | None = None) -> VisionLanguageModel:
    """Validate ``path/manifest.json`` and open ONNX Runtime sessions for the bundle.

    ``providers``: ORT provider preference (else env ``SHOTLINE_ORT_PROVIDERS``, else
    TensorRT/CUDA when usable, else CPU)."""
    bundle_dir = Path(path)
    return VisionLanguageModel(bundle_dir, read_manifest(bundle_dir), providers)


class ShotEmbeddings(NamedTuple):
    shot_ids: list[Hashable]  # in order of first appearance
    embeddings: np.ndarray  # float32 [len(shot_ids), dim], L2-normalised


def mean_pool_shots(image_embeddings: np.ndarray, shot_of_each_image: Sequence[Hashable]) -> ShotEmbeddings:
    """Per-shot mean of its keyframe embeddings, re-normalised (the mean of unit vectors
    is shorter than 1, and shorter the more the keyframes disagree)."""
    emb = np.asarray(image_embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) != len(shot_of_each_image):
        raise BadInput("bad_shots", f"{emb.shape} embeddings for {len(shot_of_each_image)} shot labels")
    shot_ids = list(dict.fromkeys(shot_of_each_image))
    index = {shot: i for i, shot in enumerate(shot_ids)}
    rows = np.fromiter((index[s] for s in shot_of_each_image), dtype=np.int64, count=len(emb))
    sums = np.zeros((len(shot_ids), emb.shape[1]), np.float32)
    np.add.at(sums, rows, emb)
    return ShotEmbeddings(shot_ids, l2_normalize(sums))
