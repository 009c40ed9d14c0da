from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Shot(_message.Message):
    __slots__ = ("shot_id", "video_id", "index", "start_frame", "end_frame", "start_ms", "end_ms", "transition", "keyframe_refs", "keyframe_ms", "transition_start_frame", "transition_end_frame", "transition_start_ms", "transition_end_ms")
    SHOT_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    END_FRAME_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_REFS_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_MS_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_START_FRAME_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_END_FRAME_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_START_MS_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_END_MS_FIELD_NUMBER: _ClassVar[int]
    shot_id: str
    video_id: str
    index: int
    start_frame: int
    end_frame: int
    start_ms: int
    end_ms: int
    transition: str
    keyframe_refs: _containers.RepeatedScalarFieldContainer[str]
    keyframe_ms: _containers.RepeatedScalarFieldContainer[int]
    transition_start_frame: int
    transition_end_frame: int
    transition_start_ms: int
    transition_end_ms: int
    def __init__(self, shot_id: _Optional[str] = ..., video_id: _Optional[str] = ..., index: _Optional[int] = ..., start_frame: _Optional[int] = ..., end_frame: _Optional[int] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., transition: _Optional[str] = ..., keyframe_refs: _Optional[_Iterable[str]] = ..., keyframe_ms: _Optional[_Iterable[int]] = ..., transition_start_frame: _Optional[int] = ..., transition_end_frame: _Optional[int] = ..., transition_start_ms: _Optional[int] = ..., transition_end_ms: _Optional[int] = ...) -> None: ...

class VideoInfo(_message.Message):
    __slots__ = ("fps", "frame_count", "duration_ms", "width", "height", "codec")
    FPS_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    fps: float
    frame_count: int
    duration_ms: int
    width: int
    height: int
    codec: str
    def __init__(self, fps: _Optional[float] = ..., frame_count: _Optional[int] = ..., duration_ms: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., codec: _Optional[str] = ...) -> None: ...

class TextWord(_message.Message):
    __slots__ = ("word", "start_ms", "end_ms", "confidence", "source")
    WORD_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    word: str
    start_ms: int
    end_ms: int
    confidence: float
    source: str
    def __init__(self, word: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., confidence: _Optional[float] = ..., source: _Optional[str] = ...) -> None: ...

class VideoText(_message.Message):
    __slots__ = ("title", "description", "language", "metadata", "transcript", "on_screen_text")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    ON_SCREEN_TEXT_FIELD_NUMBER: _ClassVar[int]
    title: str
    description: str
    language: str
    metadata: _containers.ScalarMap[str, str]
    transcript: str
    on_screen_text: str
    def __init__(self, title: _Optional[str] = ..., description: _Optional[str] = ..., language: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., transcript: _Optional[str] = ..., on_screen_text: _Optional[str] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("model_id", "version")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    version: str
    def __init__(self, model_id: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class CategoryScore(_message.Message):
    __slots__ = ("category_id", "name", "score", "threshold", "source")
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    category_id: str
    name: str
    score: float
    threshold: float
    source: str
    def __init__(self, category_id: _Optional[str] = ..., name: _Optional[str] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., source: _Optional[str] = ...) -> None: ...
