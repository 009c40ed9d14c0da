"""Video ingestion: resolve a URI to a local file, then find shots and keyframes in one pass."""

from shotline.video.config import SegmenterConfig
from shotline.video.sources import SourceConfig, open_source, register_fetcher
from shotline.video.shots import SegmentResult, Shot, segment_video, shots_to_json

__all__ = [
    "SegmentResult",
    "SegmenterConfig",
    "Shot",
    "SourceConfig",
    "open_source",
    "register_fetcher",
    "segment_video",
    "shots_to_json",
]
