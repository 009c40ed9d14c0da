"""Request validation: every rule gives INVALID_ARGUMENT with a message that says what to fix."""

from __future__ import annotations

from shotline.errors import BadInput
from shotline.events import validate_label_name
from shotline.index import SearchFilter
from shotline.v1 import query_pb2

MAX_QUERY_CHARS = 1000
MAX_TOP_K = 1000
DEFAULT_TOP_K = 10
MAX_FEED = 1000
MAX_CLIP_BYTES = 32 * 1024 * 1024
MAX_FILTER_IDS = 1000
MAX_ANNOTATOR_CHARS = 200  # as LabelVideoCategories' (categories.human, not imported here: scipy)
MAX_DESCRIPTION_CHARS = 2000  # a label's description is a zero-shot prompt: a sentence or two


def check_label_texts(annotator: str, description: str) -> None:
    if len(annotator) > MAX_ANNOTATOR_CHARS:
        raise BadInput("bad_annotator", f"annotator is longer than {MAX_ANNOTATOR_CHARS} characters")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise BadInput("description_too_long",
                       f"description has {len(description)} characters; the limit is {MAX_DESCRIPTION_CHARS}")


def check_query(query: str) -> str:
    q = query.strip()
    if not q:
        raise BadInput("empty_query", "query must not be empty")
    if len(q) > MAX_QUERY_CHARS:
        raise BadInput("query_too_long", f"query has {len(q)} characters; the limit is {MAX_QUERY_CHARS}")
    return q


def check_top_k(top_k: int) -> int:
    if top_k == 0:
        return DEFAULT_TOP_K
    if not 1 <= top_k <= MAX_TOP_K:
        raise BadInput("bad_top_k", f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    return top_k


def check_feed_size(n: int) -> int:
    if n == 0:
        return 20
    if not 1 <= n <= MAX_FEED:
        raise BadInput("bad_n", f"n must be between 1 and {MAX_FEED}, got {n}")
    return n


def check_label_name(label: str) -> str:
    return validate_label_name(label)


def to_filter(f: query_pb2.SearchFilters) -> SearchFilter | None:
    for name in ("video_ids", "catalog_ids", "exclude_video_ids"):
        if len(getattr(f, name)) > MAX_FILTER_IDS:
            raise BadInput("bad_filter", f"filters.{name} has more than {MAX_FILTER_IDS} ids")
    if f.min_start_ms < 0 or f.max_end_ms < 0:
        raise BadInput("bad_filter", "filters.min_start_ms and max_end_ms must be >= 0")
    if f.max_end_ms and f.max_end_ms <= f.min_start_ms:
        raise BadInput("bad_filter", "filters.max_end_ms must be greater than min_start_ms")
    if not (f.video_ids or f.catalog_ids or f.exclude_video_ids or f.min_start_ms or f.max_end_ms):
        return None
    return SearchFilter(
        video_ids=list(f.video_ids) or None, catalog_ids=list(f.catalog_ids) or None,
        exclude_video_ids=list(f.exclude_video_ids) or None,
        min_start_ms=f.min_start_ms or None, max_end_ms=f.max_end_ms or None,
    )


MAX_VIDEO_ID_CHARS = 512
MAX_BATCH_VIDEOS = 500  # BatchGetVideoCategories: a cold batch costs one Redis round trip per video


def check_video_id(video_id: str) -> str:
    if not video_id:
        raise BadInput("bad_request", "video_id is required")
    if len(video_id) > MAX_VIDEO_ID_CHARS:
        raise BadInput("bad_video_id", f"video_id has {len(video_id)} characters; the limit is {MAX_VIDEO_ID_CHARS}")
    return video_id


def check_video_ids(video_ids: list[str]) -> list[str]:
    if not video_ids:
        raise BadInput("bad_request", "video_ids must not be empty")
    if len(video_ids) > MAX_BATCH_VIDEOS:
        raise BadInput("too_many", f"{len(video_ids)} video ids; at most {MAX_BATCH_VIDEOS} per call")
    for i, vid in enumerate(video_ids):
        if not vid:
            raise BadInput("bad_request", f"video_ids[{i}] is empty")
        check_video_id(vid)
    return list(video_ids)
