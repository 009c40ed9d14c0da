"""video-uploaded → shots-segmented: fetch, detect shots, store keyframes, emit chunks.

Keyframes go to the blob store under a key derived from (video, upload, shot, k), so a
redelivered upload rewrites the same blobs and emits the same shots: harmless downstream.
A re-upload carries a new upload id; the indexer uses it to drop the previous version.
"""

from __future__ import annotations

import io
import time

import numpy as np
from kafka.consumer.fetcher import ConsumerRecord
from PIL import Image
from prometheus_client import Counter, Histogram

from shotline import topics
from shotline.blobstore import BlobStore
from shotline.errors import BadInput
from shotline.events import child_meta, parse, shot_id, validate_video_id
from shotline.settings import Settings
from shotline.v1 import common_pb2, events_pb2
from shotline.video.config import SegmenterConfig
from shotline.video.shots import SegmentResult, segment_video
from shotline.video.sources import SourceConfig, open_source
from shotline.worker import Output

SERVICE = "segmenter"

VIDEOS = Counter("shotline_segmenter_videos_total", "Videos segmented, by outcome", ["outcome"])
SHOTS = Counter("shotline_segmenter_shots_total", "Shots emitted")
FRAMES = Counter("shotline_segmenter_frames_decoded_total", "Frames decoded")
VIDEO_SECONDS = Counter("shotline_segmenter_video_seconds_total", "Seconds of video segmented")
WALL_SECONDS = Counter("shotline_segmenter_wall_seconds_total",
                       "Wall seconds spent segmenting (video seconds / wall seconds = speed)")
ERRORS = Counter("shotline_segmenter_errors_total", "Videos rejected, by reason", ["reason"])
DURATION = Histogram("shotline_segmenter_video_duration_seconds", "Wall time to segment one video",
                     buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600))


def keyframe_key(video_id: str, upload_id: str, index: int, k: int) -> str:
    return f"keyframes/{video_id}/{upload_id}/{index:05d}_{k:02d}.jpg"


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class SegmentHandler:
    def __init__(self, settings: Settings, blobs: BlobStore, config: SegmenterConfig,
                 sources: SourceConfig, chunk_shots: int = 64):
        self.settings = settings
        self.blobs = blobs
        self.config = config
        self.sources = sources
        self.chunk_shots = chunk_shots
        self.out_topic = settings.topic(topics.SHOTS_SEGMENTED)

    def handle(self, record: ConsumerRecord) -> list[Output]:
        ev = parse(events_pb2.VideoUploaded, record.value)
        video_id = validate_video_id(ev.meta.video_id)
        upload_id = ev.upload_id or ev.meta.event_id
        if not ev.uri:
            raise BadInput("bad_uri", "video-uploaded event has no uri")
        started = time.perf_counter()
        try:
            with open_source(ev.uri, self.sources) as path:
                result = segment_video(path, self.config)
        except BadInput as e:
            ERRORS.labels(e.reason).inc()
            VIDEOS.labels("rejected").inc()
            raise
        wall = time.perf_counter() - started
        shots = self._store_keyframes(video_id, upload_id, result)
        VIDEOS.labels("truncated" if result.truncated else "ok").inc()
        SHOTS.inc(len(shots))
        FRAMES.inc(result.frame_count)
        VIDEO_SECONDS.inc(result.duration_ms / 1000)
        WALL_SECONDS.inc(wall)
        DURATION.observe(wall)
        return self._events(ev, upload_id, result, shots)

    def _store_keyframes(self, video_id: str, upload_id: str, result: SegmentResult) -> list[common_pb2.Shot]:
        out = []
        for s, frames, frame_ms in zip(result.shots, result.keyframes, result.keyframe_ms, strict=True):
            refs = [self.blobs.put(keyframe_key(video_id, upload_id, s.index, k), encode_jpeg(img))
                    for k, img in enumerate(frames)]
            out.append(common_pb2.Shot(
                shot_id=shot_id(video_id, s.index), video_id=video_id, index=s.index,
                start_frame=s.start_frame, end_frame=s.end_frame, start_ms=s.start_ms, end_ms=s.end_ms,
                transition=s.transition, keyframe_refs=refs, keyframe_ms=list(frame_ms),
                transition_start_frame=s.transition_start_frame,
                transition_end_frame=s.transition_end_frame,
                transition_start_ms=s.transition_start_ms, transition_end_ms=s.transition_end_ms,
            ))
        return out

    def _events(self, ev: events_pb2.VideoUploaded, upload_id: str, result: SegmentResult,
                shots: list[common_pb2.Shot]) -> list[Output]:
        info = common_pb2.VideoInfo(fps=result.fps, frame_count=result.frame_count,
                                    duration_ms=result.duration_ms, width=result.width,
                                    height=result.height, codec=result.codec)
        text = common_pb2.VideoText(title=ev.title, description=ev.description, language=ev.language,
                                    metadata=dict(ev.metadata))
        chunks = [shots[i:i + self.chunk_shots] for i in range(0, len(shots), self.chunk_shots)] or [[]]
        return [
            Output.event(self.out_topic, ev.meta.video_id, events_pb2.ShotsSegmented(
                meta=child_meta(ev.meta, SERVICE), upload_id=upload_id, catalog_id=ev.catalog_id,
                shots=chunk, chunk_index=i, chunk_count=len(chunks), total_shots=len(shots),
                video=info, text=text, source_uri=ev.uri,
            ))
            for i, chunk in enumerate(chunks)
        ]
