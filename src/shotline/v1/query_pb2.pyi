from shotline.v1 import common_pb2 as _common_pb2
from shotline.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]
    SEARCH_MODE_VECTOR: _ClassVar[SearchMode]
    SEARCH_MODE_KEYWORD: _ClassVar[SearchMode]

class FeedKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEED_KIND_UNSPECIFIED: _ClassVar[FeedKind]
    FEED_KIND_TOP_POSITIVE: _ClassVar[FeedKind]
    FEED_KIND_TOP_NEGATIVE: _ClassVar[FeedKind]
    FEED_KIND_BORDERLINE: _ClassVar[FeedKind]
    FEED_KIND_RANDOM: _ClassVar[FeedKind]

class RetrainState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RETRAIN_STATE_UNSPECIFIED: _ClassVar[RetrainState]
    RETRAIN_STATE_QUEUED: _ClassVar[RetrainState]
    RETRAIN_STATE_TRAINING: _ClassVar[RetrainState]
    RETRAIN_STATE_UP_TO_DATE: _ClassVar[RetrainState]
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_HYBRID: SearchMode
SEARCH_MODE_VECTOR: SearchMode
SEARCH_MODE_KEYWORD: SearchMode
FEED_KIND_UNSPECIFIED: FeedKind
FEED_KIND_TOP_POSITIVE: FeedKind
FEED_KIND_TOP_NEGATIVE: FeedKind
FEED_KIND_BORDERLINE: FeedKind
FEED_KIND_RANDOM: FeedKind
RETRAIN_STATE_UNSPECIFIED: RetrainState
RETRAIN_STATE_QUEUED: RetrainState
RETRAIN_STATE_TRAINING: RetrainState
RETRAIN_STATE_UP_TO_DATE: RetrainState

class SearchFilters(_message.Message):
    __slots__ = ("video_ids", "catalog_ids", "exclude_video_ids", "min_start_ms", "max_end_ms")
    VIDEO_IDS_FIELD_NUMBER: _ClassVar[int]
    CATALOG_IDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_VIDEO_IDS_FIELD_NUMBER: _ClassVar[int]
    MIN_START_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_END_MS_FIELD_NUMBER: _ClassVar[int]
    video_ids: _containers.RepeatedScalarFieldContainer[str]
    catalog_ids: _containers.RepeatedScalarFieldContainer[str]
    exclude_video_ids: _containers.RepeatedScalarFieldContainer[str]
    min_start_ms: int
    max_end_ms: int
    def __init__(self, video_ids: _Optional[_Iterable[str]] = ..., catalog_ids: _Optional[_Iterable[str]] = ..., exclude_video_ids: _Optional[_Iterable[str]] = ..., min_start_ms: _Optional[int] = ..., max_end_ms: _Optional[int] = ...) -> None: ...

class SearchTextRequest(_message.Message):
    __slots__ = ("query", "top_k", "filters", "group_by_video", "mode")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_VIDEO_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    query: str
    top_k: int
    filters: SearchFilters
    group_by_video: bool
    mode: SearchMode
    def __init__(self, query: _Optional[str] = ..., top_k: _Optional[int] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ..., group_by_video: _Optional[bool] = ..., mode: _Optional[_Union[SearchMode, str]] = ...) -> None: ...

class SearchSimilarRequest(_message.Message):
    __slots__ = ("shot_id", "clip", "video", "top_k", "filters", "group_by_video")
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIP_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_VIDEO_FIELD_NUMBER: _ClassVar[int]
    shot_id: str
    clip: bytes
    video: VideoRange
    top_k: int
    filters: SearchFilters
    group_by_video: bool
    def __init__(self, shot_id: _Optional[str] = ..., clip: _Optional[bytes] = ..., video: _Optional[_Union[VideoRange, _Mapping]] = ..., top_k: _Optional[int] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ..., group_by_video: _Optional[bool] = ...) -> None: ...

class VideoRange(_message.Message):
    __slots__ = ("uri", "start_ms", "end_ms")
    URI_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    uri: str
    start_ms: int
    end_ms: int
    def __init__(self, uri: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...

class ShotHit(_message.Message):
    __slots__ = ("shot", "score", "signals", "matches", "transcript", "on_screen_text")
    SHOT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    ON_SCREEN_TEXT_FIELD_NUMBER: _ClassVar[int]
    shot: _common_pb2.Shot
    score: float
    signals: _containers.RepeatedScalarFieldContainer[str]
    matches: _containers.RepeatedCompositeFieldContainer[_common_pb2.TextWord]
    transcript: str
    on_screen_text: str
    def __init__(self, shot: _Optional[_Union[_common_pb2.Shot, _Mapping]] = ..., score: _Optional[float] = ..., signals: _Optional[_Iterable[str]] = ..., matches: _Optional[_Iterable[_Union[_common_pb2.TextWord, _Mapping]]] = ..., transcript: _Optional[str] = ..., on_screen_text: _Optional[str] = ...) -> None: ...

class VideoHit(_message.Message):
    __slots__ = ("video_id", "score", "shots")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    score: float
    shots: _containers.RepeatedCompositeFieldContainer[ShotHit]
    def __init__(self, video_id: _Optional[str] = ..., score: _Optional[float] = ..., shots: _Optional[_Iterable[_Union[ShotHit, _Mapping]]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "videos", "model", "head", "mode", "note")
    HITS_FIELD_NUMBER: _ClassVar[int]
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[ShotHit]
    videos: _containers.RepeatedCompositeFieldContainer[VideoHit]
    model: _common_pb2.ModelRef
    head: str
    mode: SearchMode
    note: str
    def __init__(self, hits: _Optional[_Iterable[_Union[ShotHit, _Mapping]]] = ..., videos: _Optional[_Iterable[_Union[VideoHit, _Mapping]]] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., head: _Optional[str] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., note: _Optional[str] = ...) -> None: ...

class GetVideoCategoriesRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class VideoCategories(_message.Message):
    __slots__ = ("video_id", "categories", "taxonomy_version", "model_versions", "classified_at_ms", "classifiers", "text_sources")
    class ModelVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIERS_FIELD_NUMBER: _ClassVar[int]
    TEXT_SOURCES_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    categories: _containers.RepeatedCompositeFieldContainer[_common_pb2.CategoryScore]
    taxonomy_version: str
    model_versions: _containers.ScalarMap[str, str]
    classified_at_ms: int
    classifiers: _containers.RepeatedCompositeFieldContainer[ClassifierScore]
    text_sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, video_id: _Optional[str] = ..., categories: _Optional[_Iterable[_Union[_common_pb2.CategoryScore, _Mapping]]] = ..., taxonomy_version: _Optional[str] = ..., model_versions: _Optional[_Mapping[str, str]] = ..., classified_at_ms: _Optional[int] = ..., classifiers: _Optional[_Iterable[_Union[ClassifierScore, _Mapping]]] = ..., text_sources: _Optional[_Iterable[str]] = ...) -> None: ...

class ClassifierScore(_message.Message):
    __slots__ = ("label", "version", "score", "probability", "positive")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    label: str
    version: int
    score: float
    probability: float
    positive: bool
    def __init__(self, label: _Optional[str] = ..., version: _Optional[int] = ..., score: _Optional[float] = ..., probability: _Optional[float] = ..., positive: _Optional[bool] = ...) -> None: ...

class BatchGetVideoCategoriesRequest(_message.Message):
    __slots__ = ("video_ids",)
    VIDEO_IDS_FIELD_NUMBER: _ClassVar[int]
    video_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, video_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetVideoCategoriesResponse(_message.Message):
    __slots__ = ("videos", "not_found")
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[VideoCategories]
    not_found: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, videos: _Optional[_Iterable[_Union[VideoCategories, _Mapping]]] = ..., not_found: _Optional[_Iterable[str]] = ...) -> None: ...

class CategoryLabel(_message.Message):
    __slots__ = ("category_id", "value")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    category_id: str
    value: _events_pb2.LabelValue
    def __init__(self, category_id: _Optional[str] = ..., value: _Optional[_Union[_events_pb2.LabelValue, str]] = ...) -> None: ...

class LabelVideoCategoriesRequest(_message.Message):
    __slots__ = ("video_id", "labels", "annotator")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    labels: _containers.RepeatedCompositeFieldContainer[CategoryLabel]
    annotator: str
    def __init__(self, video_id: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[CategoryLabel, _Mapping]]] = ..., annotator: _Optional[str] = ...) -> None: ...

class LabelVideoCategoriesResponse(_message.Message):
    __slots__ = ("event_id", "accepted")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    accepted: int
    def __init__(self, event_id: _Optional[str] = ..., accepted: _Optional[int] = ...) -> None: ...

class ScoreShotsRequest(_message.Message):
    __slots__ = ("label", "shot_ids")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SHOT_IDS_FIELD_NUMBER: _ClassVar[int]
    label: str
    shot_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, label: _Optional[str] = ..., shot_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ScoreShotsResponse(_message.Message):
    __slots__ = ("label", "version", "scores", "probabilities", "threshold")
    class ScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    label: str
    version: int
    scores: _containers.ScalarMap[str, float]
    probabilities: _containers.ScalarMap[str, float]
    threshold: float
    def __init__(self, label: _Optional[str] = ..., version: _Optional[int] = ..., scores: _Optional[_Mapping[str, float]] = ..., probabilities: _Optional[_Mapping[str, float]] = ..., threshold: _Optional[float] = ...) -> None: ...

class GetFeedRequest(_message.Message):
    __slots__ = ("label", "kind", "n")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    label: str
    kind: FeedKind
    n: int
    def __init__(self, label: _Optional[str] = ..., kind: _Optional[_Union[FeedKind, str]] = ..., n: _Optional[int] = ...) -> None: ...

class FeedResponse(_message.Message):
    __slots__ = ("label", "version", "kind", "shots")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    label: str
    version: int
    kind: FeedKind
    shots: _containers.RepeatedCompositeFieldContainer[ShotHit]
    def __init__(self, label: _Optional[str] = ..., version: _Optional[int] = ..., kind: _Optional[_Union[FeedKind, str]] = ..., shots: _Optional[_Iterable[_Union[ShotHit, _Mapping]]] = ...) -> None: ...

class SubmitLabelsRequest(_message.Message):
    __slots__ = ("label", "labels", "annotator", "description")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    label: str
    labels: _containers.RepeatedCompositeFieldContainer[_events_pb2.ShotLabel]
    annotator: str
    description: str
    def __init__(self, label: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[_events_pb2.ShotLabel, _Mapping]]] = ..., annotator: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class SubmitLabelsResponse(_message.Message):
    __slots__ = ("event_id", "accepted")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    accepted: int
    def __init__(self, event_id: _Optional[str] = ..., accepted: _Optional[int] = ...) -> None: ...

class ListAnnotationsRequest(_message.Message):
    __slots__ = ("label",)
    LABEL_FIELD_NUMBER: _ClassVar[int]
    label: str
    def __init__(self, label: _Optional[str] = ...) -> None: ...

class Annotation(_message.Message):
    __slots__ = ("shot_id", "value", "annotator", "labelled_at_ms", "detached", "detached_upload_id", "replaced_by_upload_id", "detached_at_ms")
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    LABELLED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DETACHED_FIELD_NUMBER: _ClassVar[int]
    DETACHED_UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    REPLACED_BY_UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    DETACHED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    shot_id: str
    value: _events_pb2.LabelValue
    annotator: str
    labelled_at_ms: int
    detached: bool
    detached_upload_id: str
    replaced_by_upload_id: str
    detached_at_ms: int
    def __init__(self, shot_id: _Optional[str] = ..., value: _Optional[_Union[_events_pb2.LabelValue, str]] = ..., annotator: _Optional[str] = ..., labelled_at_ms: _Optional[int] = ..., detached: _Optional[bool] = ..., detached_upload_id: _Optional[str] = ..., replaced_by_upload_id: _Optional[str] = ..., detached_at_ms: _Optional[int] = ...) -> None: ...

class ListAnnotationsResponse(_message.Message):
    __slots__ = ("label", "annotations")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    label: str
    annotations: _containers.RepeatedCompositeFieldContainer[Annotation]
    def __init__(self, label: _Optional[str] = ..., annotations: _Optional[_Iterable[_Union[Annotation, _Mapping]]] = ...) -> None: ...

class ListClassifiersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListClassifiersResponse(_message.Message):
    __slots__ = ("classifiers",)
    CLASSIFIERS_FIELD_NUMBER: _ClassVar[int]
    classifiers: _containers.RepeatedCompositeFieldContainer[Classifier]
    def __init__(self, classifiers: _Optional[_Iterable[_Union[Classifier, _Mapping]]] = ...) -> None: ...

class ClassifierVersion(_message.Message):
    __slots__ = ("version", "kind", "ap", "ap_low", "ap_high", "positives", "negatives", "embedding_model", "head", "trained_at_ms", "train_seconds", "ap_trained", "ap_zero_shot", "ap_combined", "chosen_because", "calibrated", "threshold", "threshold_precision", "threshold_recall")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AP_FIELD_NUMBER: _ClassVar[int]
    AP_LOW_FIELD_NUMBER: _ClassVar[int]
    AP_HIGH_FIELD_NUMBER: _ClassVar[int]
    POSITIVES_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    TRAINED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AP_TRAINED_FIELD_NUMBER: _ClassVar[int]
    AP_ZERO_SHOT_FIELD_NUMBER: _ClassVar[int]
    AP_COMBINED_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_BECAUSE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_PRECISION_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_RECALL_FIELD_NUMBER: _ClassVar[int]
    version: int
    kind: str
    ap: float
    ap_low: float
    ap_high: float
    positives: int
    negatives: int
    embedding_model: str
    head: str
    trained_at_ms: int
    train_seconds: float
    ap_trained: float
    ap_zero_shot: float
    ap_combined: float
    chosen_because: str
    calibrated: bool
    threshold: float
    threshold_precision: float
    threshold_recall: float
    def __init__(self, version: _Optional[int] = ..., kind: _Optional[str] = ..., ap: _Optional[float] = ..., ap_low: _Optional[float] = ..., ap_high: _Optional[float] = ..., positives: _Optional[int] = ..., negatives: _Optional[int] = ..., embedding_model: _Optional[str] = ..., head: _Optional[str] = ..., trained_at_ms: _Optional[int] = ..., train_seconds: _Optional[float] = ..., ap_trained: _Optional[float] = ..., ap_zero_shot: _Optional[float] = ..., ap_combined: _Optional[float] = ..., chosen_because: _Optional[str] = ..., calibrated: _Optional[bool] = ..., threshold: _Optional[float] = ..., threshold_precision: _Optional[float] = ..., threshold_recall: _Optional[float] = ...) -> None: ...

class Classifier(_message.Message):
    __slots__ = ("label", "description", "deployed_version", "pinned", "versions", "positives", "negatives", "retrain_state", "labels_changed_at_ms", "training_started_at_ms")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_VERSION_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    POSITIVES_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    RETRAIN_STATE_FIELD_NUMBER: _ClassVar[int]
    LABELS_CHANGED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    label: str
    description: str
    deployed_version: int
    pinned: bool
    versions: _containers.RepeatedCompositeFieldContainer[ClassifierVersion]
    positives: int
    negatives: int
    retrain_state: RetrainState
    labels_changed_at_ms: int
    training_started_at_ms: int
    def __init__(self, label: _Optional[str] = ..., description: _Optional[str] = ..., deployed_version: _Optional[int] = ..., pinned: _Optional[bool] = ..., versions: _Optional[_Iterable[_Union[ClassifierVersion, _Mapping]]] = ..., positives: _Optional[int] = ..., negatives: _Optional[int] = ..., retrain_state: _Optional[_Union[RetrainState, str]] = ..., labels_changed_at_ms: _Optional[int] = ..., training_started_at_ms: _Optional[int] = ...) -> None: ...

class GetClassifierRequest(_message.Message):
    __slots__ = ("label",)
    LABEL_FIELD_NUMBER: _ClassVar[int]
    label: str
    def __init__(self, label: _Optional[str] = ...) -> None: ...

class DeployClassifierRequest(_message.Message):
    __slots__ = ("label", "version")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    label: str
    version: int
    def __init__(self, label: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class UploadVideoMetadata(_message.Message):
    __slots__ = ("video_id", "title", "description", "catalog_id", "filename", "language", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    title: str
    description: str
    catalog_id: str
    filename: str
    language: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, video_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., catalog_id: _Optional[str] = ..., filename: _Optional[str] = ..., language: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class UploadVideoRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: UploadVideoMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[UploadVideoMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadVideoResponse(_message.Message):
    __slots__ = ("video_id", "upload_id", "uri", "bytes", "event_id")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    upload_id: str
    uri: str
    bytes: int
    event_id: str
    def __init__(self, video_id: _Optional[str] = ..., upload_id: _Optional[str] = ..., uri: _Optional[str] = ..., bytes: _Optional[int] = ..., event_id: _Optional[str] = ...) -> None: ...
