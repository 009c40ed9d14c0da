from shotline.v1 import common_pb2 as _common_pb2
from shotline.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EncodeTextRequest(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class EncodeTextResponse(_message.Message):
    __slots__ = ("model", "vectors")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    vectors: _containers.RepeatedCompositeFieldContainer[_events_pb2.Vector]
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., vectors: _Optional[_Iterable[_Union[_events_pb2.Vector, _Mapping]]] = ...) -> None: ...

class EncodeImagesRequest(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, images: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EncodeImagesResponse(_message.Message):
    __slots__ = ("model", "embeddings")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    embeddings: _containers.RepeatedCompositeFieldContainer[_events_pb2.ShotEmbedding]
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., embeddings: _Optional[_Iterable[_Union[_events_pb2.ShotEmbedding, _Mapping]]] = ...) -> None: ...

class EncodeClipRequest(_message.Message):
    __slots__ = ("clip", "uri", "start_ms", "end_ms")
    CLIP_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    clip: bytes
    uri: str
    start_ms: int
    end_ms: int
    def __init__(self, clip: _Optional[bytes] = ..., uri: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...

class EncodeClipResponse(_message.Message):
    __slots__ = ("model", "shots")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    shots: _containers.RepeatedCompositeFieldContainer[_events_pb2.ShotEmbedding]
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., shots: _Optional[_Iterable[_Union[_events_pb2.ShotEmbedding, _Mapping]]] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("model", "head_dims", "provider")
    class HeadDimsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    HEAD_DIMS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    head_dims: _containers.ScalarMap[str, int]
    provider: str
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., head_dims: _Optional[_Mapping[str, int]] = ..., provider: _Optional[str] = ...) -> None: ...
