"""Model bundles (ONNX image/text encoders + manifest) and their ONNX Runtime runner."""

from shotline.models.bundle import Manifest, read_manifest, write_manifest
from shotline.models.runtime import (
    ShotEmbeddings,
    VisionLanguageModel,
    l2_normalize,
    load_bundle,
    mean_pool_shots,
)

__all__ = [
    "Manifest", "ShotEmbeddings", "VisionLanguageModel", "l2_normalize", "load_bundle",
    "mean_pool_shots", "read_manifest", "write_manifest",
]
