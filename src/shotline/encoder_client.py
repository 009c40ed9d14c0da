"""Client of the encoder's online API (the only process that hosts models)."""

from __future__ import annotations

import grpc
import numpy as np
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from shotline import tls
from shotline.errors import BadInput, TransientError
from shotline.index import ShotIndex
from shotline.settings import Settings
from shotline.stores import shot_index
from shotline.v1 import encoder_pb2, encoder_pb2_grpc, events_pb2


def _unavailable(e: BaseException) -> bool:
    return isinstance(e, TransientError)


def vectors(v: events_pb2.ShotEmbedding) -> dict[str, np.ndarray]:
    return {h: np.asarray(x.values, dtype=np.float32) for h, x in v.vectors.items()}


class EncoderClient:
    def __init__(self, settings: Settings, timeout: float = 30.0):
        self.channel = tls.channel(settings.encoder_address, settings, options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024)])
        self.stub = encoder_pb2_grpc.EncoderServiceStub(self.channel)
        self.timeout = timeout
        token = settings.api_token.get_secret_value() if settings.api_token else None
        self.metadata = [("authorization", f"Bearer {token}")] if token else []

    def _call(self, method, request, timeout: float | None = None):  # type: ignore[no-untyped-def]
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            code = e.code()  # type: ignore[attr-defined]
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise BadInput("bad_request", e.details()) from e  # type: ignore[attr-defined]
            raise TransientError(f"encoder: {code.name}: {e.details()}") from e  # type: ignore[attr-defined]

    @retry(retry=retry_if_exception(_unavailable), stop=stop_after_delay(60),
           wait=wait_exponential(multiplier=0.5, max=5), reraise=True)
    def model_info(self) -> encoder_pb2.ModelInfo:
        return self._call(self.stub.GetModelInfo, encoder_pb2.GetModelInfoRequest(), timeout=5)

    def encode_text(self, texts: list[str], timeout: float | None = None) -> np.ndarray:
        res = self._call(self.stub.EncodeText, encoder_pb2.EncodeTextRequest(texts=texts), timeout)
        return np.asarray([v.values for v in res.vectors], dtype=np.float32)

    def encode_clip(self, clip: bytes = b"", uri: str = "", start_ms: int = 0, end_ms: int = 0,
                    timeout: float | None = None) -> list[events_pb2.ShotEmbedding]:
        req = encoder_pb2.EncodeClipRequest(clip=clip, uri=uri, start_ms=start_ms, end_ms=end_ms)
        return list(self._call(self.stub.EncodeClip, req, timeout).shots)

    def index(self, settings: Settings) -> tuple[ShotIndex, encoder_pb2.ModelInfo]:
        """The shot index of the model the encoder serves."""
        info = self.model_info()
        return shot_index(settings, info.model.model_id, dict(info.head_dims)), info

    def close(self) -> None:
        self.channel.close()
