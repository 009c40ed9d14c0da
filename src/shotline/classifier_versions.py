"""Deployed classifier versions loaded from the read model, cached by (label, version).

A version's weights never change once written, so the cache needs no invalidation; it is bounded
(oldest out first) because labels come and go. The scorer and the trainer share it.
"""

from __future__ import annotations

from shotline.errors import BadInput
from shotline.learning.classifier import LinearModel, ModelVersion, model_from_bytes
from shotline.registry import Registry


class VersionCache:
    def __init__(self, registry: Registry, size: int = 256):
        self.registry = registry
        self.size = size
        self._models: dict[tuple[str, int], tuple[LinearModel, ModelVersion]] = {}

    def get(self, label: str, version: int) -> tuple[LinearModel, ModelVersion]:
        key = (label, version)
        if key not in self._models:
            blob = self.registry.model_blob(label, version)
            if blob is None:
                raise BadInput("unknown_version", f"{label} has no version {version}")
            if len(self._models) >= self.size:
                self._models.pop(next(iter(self._models)))
            self._models[key] = model_from_bytes(blob)
        return self._models[key]
