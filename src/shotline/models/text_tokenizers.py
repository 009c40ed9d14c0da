"""One interface over the tokenizer kinds a bundle may declare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from shotline.models.bundle import TokenizerSpec
from shotline.models.clip_tokenizer import ClipTokenizer


class TextTokenizer:
    """Turns strings into the int64 arrays a text graph takes: ``input_ids``,
    ``attention_mask`` and ``token_type_ids`` (graphs pick the ones they declare)."""

    def __init__(self, spec: TokenizerSpec, bundle_dir: Path):
        self.spec = spec
        path = bundle_dir / spec.file
        if spec.kind == "wordpiece-hf":
            self._hf: Tokenizer | None = Tokenizer.from_file(str(path))
            self._hf.enable_truncation(max_length=spec.max_length)
            if spec.pad_to_max_length:
                self._hf.enable_padding(length=spec.max_length)
            else:
                self._hf.enable_padding()  # pad to the longest in the batch
            self._clip: ClipTokenizer | None = None
        else:
            self._hf = None
            self._clip = ClipTokenizer(path, context_length=spec.max_length)

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        if self._clip is not None:
            ids = self._clip(texts)
            return {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)}
        assert self._hf is not None
        encs = self._hf.encode_batch(texts)
        return {
            "input_ids": np.asarray([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encs], dtype=np.int64),
        }
