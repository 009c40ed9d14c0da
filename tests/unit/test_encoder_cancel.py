"""The encoder's online API stops before inference once its caller is gone (deadline passed or
cancelled): the answer would reach nobody, and inference is what starves the ingest worker."""

from __future__ import annotations

import io
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
from PIL import Image

from services.encoder.api import EncoderServicer
from shotline.v1 import encoder_pb2


class Aborted(Exception):
    pass


class Context:
    def __init__(self, active: bool) -> None:
        self.active, self.code = active, None

    def is_active(self) -> bool:
        return self.active

    def time_remaining(self) -> float:
        return 5.0

    def abort(self, code: grpc.StatusCode, message: str) -> None:
        self.code = code
        raise Aborted(message)


def servicer(calls: list[int]) -> EncoderServicer:
    def encode_images(images):  # type: ignore[no-untyped-def]
        calls.append(len(images))
        return {"joint": np.ones((len(images), 4), dtype=np.float32)}

    model = SimpleNamespace(model_id="m", version="1", encode_images=encode_images)
    return EncoderServicer(SimpleNamespace(model=model), None)  # type: ignore[arg-type]


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def test_images_are_not_encoded_for_a_caller_that_is_gone() -> None:
    calls: list[int] = []
    ctx = Context(active=False)
    with pytest.raises(Aborted):
        servicer(calls).EncodeImages(encoder_pb2.EncodeImagesRequest(images=[png(), png()]), ctx)
    assert ctx.code == grpc.StatusCode.CANCELLED and calls == []


def test_a_waiting_caller_gets_its_embeddings() -> None:
    calls: list[int] = []
    res = servicer(calls).EncodeImages(encoder_pb2.EncodeImagesRequest(images=[png(), png()]), Context(active=True))
    assert calls == [2] and len(res.embeddings) == 2
