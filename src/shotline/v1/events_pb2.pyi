import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shotline.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LabelValue(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LABEL_VALUE_UNSPECIFIED: _ClassVar[LabelValue]
    LABEL_VALUE_POSITIVE: _ClassVar[LabelValue]
    LABEL_VALUE_NEGATIVE: _ClassVar[LabelValue]
    LABEL_VALUE_CLEARED: _ClassVar[LabelValue]
LABEL_VALUE_UNSPECIFIED: LabelValue
LABEL_VALUE_POSITIVE: LabelValue
LABEL_VALUE_NEGATIVE: LabelValue
LABEL_VALUE_CLEARED: LabelValue

class EventMeta(_message.Message):
    __slots__ = ("event_id", "schema_version", "occurred_at", "video_id", "producer", "trace_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    schema_version: int
    occurred_at: _timestamp_pb2.Timestamp
    video_id: str
    producer: str
    trace_id: str
    def __init__(self, event_id: _Optional[str] = ..., schema_version: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., video_id: _Optional[str] = ..., producer: _Optional[str] = ..., trace_id: _Optional[str] = ...) -> None: ...

class VideoUploaded(_message.Message):
    __slots__ = ("meta", "uri", "catalog_id", "title", "description", "language", "metadata", "upload_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    uri: str
    catalog_id: str
    title: str
    description: str
    language: str
    metadata: _containers.ScalarMap[str, str]
    upload_id: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., uri: _Optional[str] = ..., catalog_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., language: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., upload_id: _Optional[str] = ...) -> None: ...

class ShotsSegmented(_message.Message):
    __slots__ = ("meta", "upload_id", "catalog_id", "shots", "chunk_index", "chunk_count", "total_shots", "video", "text", "source_uri")
    META_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ID_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SHOTS_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URI_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    upload_id: str
    catalog_id: str
    shots: _containers.RepeatedCompositeFieldContainer[_common_pb2.Shot]
    chunk_index: int
    chunk_count: int
    total_shots: int
    video: _common_pb2.VideoInfo
    text: _common_pb2.VideoText
    source_uri: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., upload_id: _Optional[str] = ..., catalog_id: _Optional[str] = ..., shots: _Optional[_Iterable[_Union[_common_pb2.Shot, _Mapping]]] = ..., chunk_index: _Optional[int] = ..., chunk_count: _Optional[int] = ..., total_shots: _Optional[int] = ..., video: _Optional[_Union[_common_pb2.VideoInfo, _Mapping]] = ..., text: _Optional[_Union[_common_pb2.VideoText, _Mapping]] = ..., source_uri: _Optional[str] = ...) -> None: ...

class ShotsEmbedded(_message.Message):
    __slots__ = ("meta", "upload_id", "catalog_id", "model", "shots", "chunk_index", "chunk_count", "total_shots", "text", "video", "skipped", "dims")
    class DimsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SHOTS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    DIMS_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    upload_id: str
    catalog_id: str
    model: _common_pb2.ModelRef
    shots: _containers.RepeatedCompositeFieldContainer[ShotEmbedding]
    chunk_index: int
    chunk_count: int
    total_shots: int
    text: _common_pb2.VideoText
    video: _common_pb2.VideoInfo
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedShot]
    dims: _containers.ScalarMap[str, int]
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., upload_id: _Optional[str] = ..., catalog_id: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., shots: _Optional[_Iterable[_Union[ShotEmbedding, _Mapping]]] = ..., chunk_index: _Optional[int] = ..., chunk_count: _Optional[int] = ..., total_shots: _Optional[int] = ..., text: _Optional[_Union[_common_pb2.VideoText, _Mapping]] = ..., video: _Optional[_Union[_common_pb2.VideoInfo, _Mapping]] = ..., skipped: _Optional[_Iterable[_Union[SkippedShot, _Mapping]]] = ..., dims: _Optional[_Mapping[str, int]] = ...) -> None: ...

class SkippedShot(_message.Message):
    __slots__ = ("shot", "reason", "message")
    SHOT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    shot: _common_pb2.Shot
    reason: str
    message: str
    def __init__(self, shot: _Optional[_Union[_common_pb2.Shot, _Mapping]] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ShotEmbedding(_message.Message):
    __slots__ = ("shot", "vectors")
    class VectorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Vector
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Vector, _Mapping]] = ...) -> None: ...
    SHOT_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    shot: _common_pb2.Shot
    vectors: _containers.MessageMap[str, Vector]
    def __init__(self, shot: _Optional[_Union[_common_pb2.Shot, _Mapping]] = ..., vectors: _Optional[_Mapping[str, Vector]] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class ShotsIndexed(_message.Message):
    __slots__ = ("meta", "upload_id", "catalog_id", "model", "collection", "shot_ids", "indexed_shots", "total_shots", "video_complete", "text", "video", "skipped_shot_ids", "replaced_shot_ids")
    META_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHOT_IDS_FIELD_NUMBER: _ClassVar[int]
    INDEXED_SHOTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SHOTS_FIELD_NUMBER: _ClassVar[int]
    VIDEO_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_SHOT_IDS_FIELD_NUMBER: _ClassVar[int]
    REPLACED_SHOT_IDS_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    upload_id: str
    catalog_id: str
    model: _common_pb2.ModelRef
    collection: str
    shot_ids: _containers.RepeatedScalarFieldContainer[str]
    indexed_shots: int
    total_shots: int
    video_complete: bool
    text: _common_pb2.VideoText
    video: _common_pb2.VideoInfo
    skipped_shot_ids: _containers.RepeatedScalarFieldContainer[str]
    replaced_shot_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., upload_id: _Optional[str] = ..., catalog_id: _Optional[str] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., collection: _Optional[str] = ..., shot_ids: _Optional[_Iterable[str]] = ..., indexed_shots: _Optional[int] = ..., total_shots: _Optional[int] = ..., video_complete: _Optional[bool] = ..., text: _Optional[_Union[_common_pb2.VideoText, _Mapping]] = ..., video: _Optional[_Union[_common_pb2.VideoInfo, _Mapping]] = ..., skipped_shot_ids: _Optional[_Iterable[str]] = ..., replaced_shot_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class VideoTranscribed(_message.Message):
    __slots__ = ("meta", "upload_id", "total_shots", "transcript", "on_screen_text", "model")
    META_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SHOTS_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    ON_SCREEN_TEXT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    upload_id: str
    total_shots: int
    transcript: str
    on_screen_text: str
    model: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., upload_id: _Optional[str] = ..., total_shots: _Optional[int] = ..., transcript: _Optional[str] = ..., on_screen_text: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class LabelSubmitted(_message.Message):
    __slots__ = ("meta", "label", "labels", "annotator", "description")
    META_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    label: str
    labels: _containers.RepeatedCompositeFieldContainer[ShotLabel]
    annotator: str
    description: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., label: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[ShotLabel, _Mapping]]] = ..., annotator: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ShotLabel(_message.Message):
    __slots__ = ("shot_id", "value")
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    shot_id: str
    value: LabelValue
    def __init__(self, shot_id: _Optional[str] = ..., value: _Optional[_Union[LabelValue, str]] = ...) -> None: ...

class CategoryLabelsSubmitted(_message.Message):
    __slots__ = ("meta", "labels", "annotator")
    META_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    labels: _containers.RepeatedCompositeFieldContainer[VideoCategoryLabel]
    annotator: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., labels: _Optional[_Iterable[_Union[VideoCategoryLabel, _Mapping]]] = ..., annotator: _Optional[str] = ...) -> None: ...

class VideoCategoryLabel(_message.Message):
    __slots__ = ("category_id", "value")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    category_id: str
    value: LabelValue
    def __init__(self, category_id: _Optional[str] = ..., value: _Optional[_Union[LabelValue, str]] = ...) -> None: ...

class ModelDeployed(_message.Message):
    __slots__ = ("meta", "label", "version", "kind", "ap", "reason")
    META_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    label: str
    version: int
    kind: str
    ap: float
    reason: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., label: _Optional[str] = ..., version: _Optional[int] = ..., kind: _Optional[str] = ..., ap: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class VideoClassified(_message.Message):
    __slots__ = ("meta", "categories", "taxonomy_version", "model_versions", "latency_seconds")
    class ModelVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    categories: _containers.RepeatedCompositeFieldContainer[_common_pb2.CategoryScore]
    taxonomy_version: str
    model_versions: _containers.ScalarMap[str, str]
    latency_seconds: float
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., categories: _Optional[_Iterable[_Union[_common_pb2.CategoryScore, _Mapping]]] = ..., taxonomy_version: _Optional[str] = ..., model_versions: _Optional[_Mapping[str, str]] = ..., latency_seconds: _Optional[float] = ...) -> None: ...

class ClassifierDrift(_message.Message):
    __slots__ = ("meta", "label", "version", "psi", "centroid_shift")
    META_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    CENTROID_SHIFT_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    label: str
    version: int
    psi: float
    centroid_shift: float
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., label: _Optional[str] = ..., version: _Optional[int] = ..., psi: _Optional[float] = ..., centroid_shift: _Optional[float] = ...) -> None: ...

class ProcessingError(_message.Message):
    __slots__ = ("meta", "service", "reason", "message", "source_topic", "source_partition", "source_offset")
    META_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PARTITION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    service: str
    reason: str
    message: str
    source_topic: str
    source_partition: int
    source_offset: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., service: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., source_topic: _Optional[str] = ..., source_partition: _Optional[int] = ..., source_offset: _Optional[int] = ...) -> None: ...
