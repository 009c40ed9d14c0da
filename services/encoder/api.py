"""The encoder's online gRPC API: text, images and short clips → embeddings.

Only the encoder loads models; the query service calls this for text and clip queries.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import grpc
import numpy as np

from services.encoder.embedding import ShotEncoder, decode_image
from shotline.errors import BadInput
from shotline.events import shot_id
from shotline.grpcserver import guard_all
from shotline.models.runtime import mean_pool_shots
from shotline.v1 import common_pb2, encoder_pb2, encoder_pb2_grpc, events_pb2
from shotline.video.config import SegmenterConfig
from shotline.video.shots import segment_video
from shotline.video.sources import SourceConfig, open_source

MAX_TEXTS = 256
MAX_IMAGES = 256
MAX_CLIP_BYTES = 32 * 1024 * 1024
MAX_CLIP_SECONDS = 120.0


def _vec(v: np.ndarray) -> events_pb2.Vector:
    return events_pb2.Vector(values=v.astype(np.float32).tolist())


@guard_all("encoder")
class EncoderServicer(encoder_pb2_grpc.EncoderServiceServicer):
    def __init__(self, encoder: ShotEncoder, sources: SourceConfig):
        self.encoder = encoder
        self.model = encoder.model
        self.sources = sources
        self.ref = common_pb2.ModelRef(model_id=self.model.model_id, version=self.model.version)
        self.clip_config = SegmenterConfig(max_duration_s=MAX_CLIP_SECONDS, keyframes_per_shot=3)

    def EncodeText(self, request: encoder_pb2.EncodeTextRequest, context: grpc.ServicerContext):  # noqa: N802
        if not request.texts:
            raise BadInput("empty_request", "texts must not be empty")
        if len(request.texts) > MAX_TEXTS:
            raise BadInput("too_many", f"at most {MAX_TEXTS} texts per call")
        vectors = self.model.encode_text(list(request.texts))
        return encoder_pb2.EncodeTextResponse(model=self.ref, vectors=[_vec(v) for v in vectors])

    def EncodeImages(self, request: encoder_pb2.EncodeImagesRequest, context: grpc.ServicerContext):  # noqa: N802
        if not request.images:
            raise BadInput("empty_request", "images must not be empty")
        if len(request.images) > MAX_IMAGES:
            raise BadInput("too_many", f"at most {MAX_IMAGES} images per call")
        images = [decode_image(data, f"#{i}") for i, data in enumerate(request.images)]
        per_head = self.model.encode_images(images)
        return encoder_pb2.EncodeImagesResponse(model=self.ref, embeddings=[
            events_pb2.ShotEmbedding(vectors={h: _vec(per_head[h][i]) for h in per_head})
            for i in range(len(images))
        ])

    def EncodeClip(self, request: encoder_pb2.EncodeClipRequest, context: grpc.ServicerContext):  # noqa: N802
        if bool(request.clip) == bool(request.uri):
            raise BadInput("bad_request", "give exactly one of clip bytes or uri")
        if len(request.clip) > MAX_CLIP_BYTES:
            raise BadInput("clip_too_large", f"clip is {len(request.clip)} bytes; limit {MAX_CLIP_BYTES}")
        if request.end_ms and request.end_ms <= request.start_ms:
            raise BadInput("bad_range", "end_ms must be greater than start_ms")
        if request.clip:
            with tempfile.NamedTemporaryFile(suffix=".bin") as f:
                f.write(request.clip)
                f.flush()
                result = segment_video(Path(f.name), self.clip_config)
        else:
            cfg = SegmenterConfig(keyframes_per_shot=3)
            with open_source(request.uri, self.sources) as path:
                result = segment_video(path, cfg)
        images, owner, shots = [], [], []
        for s, frames, frame_ms in zip(result.shots, result.keyframes, result.keyframe_ms, strict=True):
            keep = [(img, ms) for img, ms in zip(frames, frame_ms, strict=True)
                    if ms >= request.start_ms and (not request.end_ms or ms < request.end_ms)]
            if not keep:
                continue
            shots.append(common_pb2.Shot(shot_id=shot_id("clip", s.index), video_id="clip", index=s.index,
                                         start_frame=s.start_frame, end_frame=s.end_frame,
                                         start_ms=s.start_ms, end_ms=s.end_ms, transition=s.transition,
                                         keyframe_ms=[ms for _, ms in keep]))
            images.extend(img for img, _ in keep)
            owner.extend([s.index] * len(keep))
        if not images:
            raise BadInput("empty_range", "no frames of the clip fall inside the requested range")
        per_head = self.model.encode_images(images)
        pooled = {h: mean_pool_shots(e, owner) for h, e in per_head.items()}
        return encoder_pb2.EncodeClipResponse(model=self.ref, shots=[
            events_pb2.ShotEmbedding(shot=shot, vectors={
                h: _vec(p.embeddings[p.shot_ids.index(shot.index)]) for h, p in pooled.items()})
            for shot in shots
        ])

    def GetModelInfo(self, request: encoder_pb2.GetModelInfoRequest, context: grpc.ServicerContext):  # noqa: N802
        return encoder_pb2.ModelInfo(model=self.ref, head_dims=self.model.dims, provider=self.model.provider)
